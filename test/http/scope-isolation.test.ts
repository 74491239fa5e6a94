/**
 * A token created with --scope sees and touches only its scope. Every route of openapi.yaml is
 * called with tokens of scope A aimed at scope B's objects: no answer is a 2xx that shows B,
 * none is a 5xx, and B's state is the same afterwards.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceCall, deviceCsr, dpsToken, startListener } from "../dps/helpers.js";
import { makeCsr, startTestServer, type TestServer } from "./harness.js";

const A = "0ne00AAAAA";
const B = "0ne00BBBBB";
let t: TestServer;
let bSerial: string;
let aSerial: string;
const scoped: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestServer();
  const admin = t.tokens.admin;
  for (const s of [A, B]) {
    await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: s } });
    await t.request("POST", `/v1/scopes/${s}/hubs`, { token: admin, body: { name: `hub-${s}`, hostName: `${s}.hubs.example.net` } });
  }
  const e = await t.request("POST", `/v1/scopes/${B}/enrollments`, {
    token: admin,
    body: { registrationId: "dev-b", attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: [`hub-${B}`] } },
  });
  await t.request("POST", `/v1/scopes/${B}/groups`, { token: admin, body: { groupId: "group-b", attestation: { type: "symmetricKey" } } });
  await t.request("POST", `/v1/scopes/${B}/hubs/hub-${B}/policies`, { token: admin, body: { name: "policy-b", rights: ["RegistryRead"] } });
  // A device of scope B registers through the device endpoint and gets a certificate.
  const l = await startListener(t.services);
  const { csr } = await deviceCsr("dev-b");
  const reg = await deviceCall(
    { host: l.host, port: l.port, ca: t.rootPem },
    {
      path: `/${B}/registrations/dev-b/register?api-version=2021-06-01`,
      body: JSON.stringify({ registrationId: "dev-b", csr }),
      headers: { authorization: dpsToken(B, "dev-b", e.json.keys.primaryKey) },
    },
  );
  expect(reg.status, reg.text).toBe(200);
  bSerial = new X509Certificate(Buffer.from(reg.json.registrationState.issuedCertificateChain[0], "base64")).serialNumber.toLowerCase();
  for (const role of ["admin", "operator", "factory", "auditor"] as const) {
    const made = await t.request("POST", "/v1/tokens", {
      token: admin,
      body: { role, name: `${role}-of-a`, scope: A, ...(role === "factory" ? { profiles: ["device"] } : {}) },
    });
    expect(made.status, made.text).toBe(201);
    scoped[role] = made.json.secret;
  }
  const hubToken = await t.request("POST", "/v1/tokens", {
    token: admin,
    body: { role: "hub", name: "hub-of-a", scope: A, hub: `hub-${A}` },
  });
  scoped.hub = hubToken.json.secret;
  // Scope A's factory issues a certificate of its own: it belongs to A.
  const own = await t.request("POST", "/v1/certificates", {
    token: scoped.factory,
    body: { csr: await makeCsr("line-a-1"), profile: "device" },
  });
  expect(own.status, own.text).toBe(201);
  aSerial = own.json.certificate.serial;
});
afterAll(() => t?.close());

describe("scoped tokens", () => {
  it("cannot revoke, renew or read a certificate of another scope (the reported defect)", async () => {
    const revoke = await t.request("POST", `/v1/certificates/${bSerial}/revoke`, {
      token: scoped.operator,
      body: { reason: "keyCompromise" },
    });
    expect(revoke.status).toBe(404);
    expect((await t.request("GET", `/v1/certificates/${bSerial}`, { token: scoped.auditor })).status).toBe(404);
    expect((await t.request("GET", `/v1/certificates/${bSerial}`, { token: t.tokens.auditor })).json.status).toBe("good");
    const list = await t.request("GET", "/v1/certificates?limit=1000", { token: scoped.auditor });
    expect(list.json.items.map((c: { serial: string }) => c.serial)).toEqual([aSerial]);
  });

  it("see their scope's log entries and no other's", async () => {
    const mine = await t.request("GET", "/v1/audit?limit=1000", { token: scoped.auditor });
    expect(mine.status).toBe(200);
    expect(mine.json.items.length).toBeGreaterThan(0);
    expect(mine.text).not.toContain(B);
    expect(mine.text).not.toContain(bSerial);
    expect(mine.json.items.some((e: { serial: string | null }) => e.serial === aSerial)).toBe(true);
    const all = await t.request("GET", `/v1/audit?action=dps.register&limit=1000`, { token: t.tokens.auditor });
    expect(all.text).toContain(B);
    expect((await t.request("GET", "/v1/audit?action=dps.register", { token: scoped.auditor })).json.items).toEqual([]);
    expect((await t.request("GET", "/v1/audit/verify", { token: scoped.auditor })).status).toBe(403);
  });

  it("walk every route of openapi.yaml without a 2xx showing scope B, a 5xx, or a change to B", async () => {
    const spec = parse(readFileSync(resolve(import.meta.dirname, "..", "..", "openapi.yaml"), "utf8"));
    const params: Record<string, string> = {
      scope: B,
      id: bSerial,
      name: `hub-${B}`,
      hub: `hub-${B}`,
      registrationId: "dev-b",
      groupId: "group-b",
      policy: "policy-b",
      deviceId: "dev-b",
      caId: (await t.services.ca.activeIssuer()).ca.id,
    };
    const bodies: Record<string, unknown> = {
      "POST /v1/tokens": { role: "admin", name: "sneaky", scope: B },
      "POST /v1/certificates/{id}/revoke": { reason: "keyCompromise" },
      "POST /v1/certificates/{id}/renew": { csr: await makeCsr("dev-b") },
      "POST /v1/scopes/{scope}/sas-tokens": { hub: `hub-${B}`, policy: "policy-b" },
      "POST /v1/hubs/{hub}/device-auth": { deviceId: "dev-b", sasToken: "x" },
    };
    const before = JSON.stringify(await stateOfB());
    const calls: string[] = [];
    for (const [path, item] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
        const roles: string[] = op.security?.find((s: Record<string, string[]>) => s.bearerToken)?.bearerToken ?? [];
        const concrete = path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(params[p] ?? "x"));
        const key = `${method.toUpperCase()} ${path}`;
        for (const role of roles.length ? roles : ["admin"]) {
          const reply = await t.request(method.toUpperCase(), concrete, {
            token: scoped[role],
            body: method === "get" || method === "delete" ? undefined : (bodies[key] ?? {}),
          });
          calls.push(`${key} as ${role}: ${reply.status}`);
          expect(reply.status, `${key} as ${role}: ${reply.text}`).toBeLessThan(500);
          if (reply.status < 300) {
            expect(reply.text, `${key} as ${role} showed scope B`).not.toContain(B);
            expect(reply.text, `${key} as ${role} showed B's certificate`).not.toContain(bSerial);
          }
        }
      }
    }
    expect(calls.length).toBeGreaterThan(60);
    expect(JSON.stringify(await stateOfB())).toBe(before);
  });
});

/** What scope B holds, as an unscoped admin sees it. */
async function stateOfB() {
  const admin = t.tokens.admin;
  const get = async (path: string) => {
    const r = await t.request("GET", path, { token: admin });
    return { status: r.status, body: r.json };
  };
  return {
    cert: (await get(`/v1/certificates/${bSerial}`)).body.status,
    scope: (await get(`/v1/scopes/${B}`)).status,
    hub: await get(`/v1/scopes/${B}/hubs/hub-${B}`),
    enrollment: (await get(`/v1/scopes/${B}/enrollments/dev-b`)).body.etag,
    group: (await get(`/v1/scopes/${B}/groups/group-b`)).body.etag,
    registration: (await get(`/v1/scopes/${B}/registrations/dev-b`)).body.status,
    tokens: (await get("/v1/tokens")).body.map((x: { name: string; revokedAt: string | null }) => `${x.name}:${x.revokedAt}`),
    ca: (await get("/v1/ca")).body.map((c: { id: string; state?: string; status?: string }) => `${c.id}:${c.state ?? c.status}`),
  };
}
