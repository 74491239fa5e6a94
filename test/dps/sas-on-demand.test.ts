/**
 * SAS tokens on demand, as an operator runs it: `dpki serve --dps-port` in its own process, set
 * up with the CLI. A device that proves itself to the device endpoint (a DPS registration token,
 * its dpki certificate over mTLS, or the hub token it holds) gets a hub device token that the
 * hub's device-auth accepts, for a lifetime the scope's policy bounds; refusals are logged and
 * give no token.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { createSasToken, encodeUriComponentStrict, parseSasToken } from "../../src/core/sas/sas.js";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { api, startNode, type ServeNode } from "../helpers/nodes.js";
import { deviceCall, deviceCsr, dpsToken, type RawRequest } from "./helpers.js";

const SCOPE = "0ne00SAS01";
const HOST = "hub-1.hubs.example.net";
const API = "?api-version=2021-06-01";

let env: Record<string, string>;
let node: ServeNode;
let rootPem: string;
let hubToken: string;
let adminToken: string;
const keys: Record<string, string> = {};
const held: Record<string, { key: KeyObject; cert: string; serial: string }> = {};

const cli = (...args: string[]) => {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

function device(req: RawRequest) {
  return deviceCall({ ...node.dps!, ca: rootPem }, req);
}

/** POST …/sasToken with the given credential and body. */
function ask(registrationId: string, credential: { authorization?: string; cert?: string; key?: KeyObject }, body?: unknown) {
  return device({
    method: "POST",
    path: `/${SCOPE}/registrations/${registrationId}/sasToken${API}`,
    body: body === undefined ? "" : JSON.stringify(body),
    headers: credential.authorization ? { authorization: credential.authorization } : {},
    ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}),
  });
}

/** What the hub hears when the device connects with `token`. */
async function hubAuth(deviceId: string, token: string) {
  const res = await api(node, "POST", `/v1/hubs/hub-1/device-auth`, hubToken, { deviceId, sasToken: token });
  expect(res.status, res.text).toBe(200);
  return res.json as { allow: boolean; reason: string; message: string; credential?: { keyName: string | null } };
}

/** The log's entries of one action, newest first. */
async function log(action: string): Promise<Array<{ details: Record<string, unknown>; actor: string; subject: string }>> {
  const res = await api(node, "GET", `/v1/audit?action=${action}&limit=1000`, adminToken);
  expect(res.status, res.text).toBe(200);
  return res.json.items;
}

beforeAll(async () => {
  const dir = tempDir();
  env = { DPKI_HOME: join(dir, "ca"), DPKI_PASSPHRASE: "sas on demand" };
  await initDataDir(env.DPKI_HOME!, { passphrase: env.DPKI_PASSPHRASE! });
  const configFile = join(env.DPKI_HOME!, "config.json");
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), refusalLogPerSource: 1000 }));
  cli("scope", "add", SCOPE);
  cli("hub", "add", "hub-1", "--host-name", HOST, "--scope", SCOPE);
  adminToken = cli("token", "create", "--role", "admin", "--name", "ops").secret;
  node = await startNode(env, { dps: true });
  // The rest of the set-up through the API: one CLI process each would slow a loaded machine.
  const made = await api(node, "POST", "/v1/tokens", adminToken, { role: "hub", name: "hub-1", hub: "hub-1", scope: SCOPE });
  expect(made.status, made.text).toBe(201);
  hubToken = made.json.secret;
  for (const id of ["meter-1", "meter-2", "meter-3"]) {
    const created = await api(node, "POST", `/v1/scopes/${SCOPE}/enrollments`, adminToken, {
      registrationId: id,
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    expect(created.status, created.text).toBe(201);
    keys[id] = created.json.keys.primaryKey;
  }
  rootPem = await (await fetch(`${node.api}/v1/ca/root.pem`)).text();
  // Each device registers with its key and a CSR, and keeps its dpki certificate for mTLS.
  for (const id of ["meter-1", "meter-2", "meter-3"]) {
    const { key, csr } = await deviceCsr(id);
    const res = await device({
      path: `/${SCOPE}/registrations/${id}/register${API}`,
      body: JSON.stringify({ registrationId: id, csr }),
      headers: { authorization: dpsToken(SCOPE, id, keys[id]!) },
    });
    expect(res.status, res.text).toBe(200);
    const chain = (res.json.registrationState.issuedCertificateChain as string[]).map((b64) => pemEncode("CERTIFICATE", Buffer.from(b64, "base64")));
    held[id] = { key, cert: chain.join(""), serial: new X509Certificate(chain[0]!).serialNumber.toLowerCase() };
  }
});

afterAll(async () => {
  await node?.stop();
});

describe("POST /{idScope}/registrations/{id}/sasToken", () => {
  it("issues a hub token for the device's hub to a device proving itself with its DPS token; the hub accepts it; the issue is logged", async () => {
    const before = Date.now();
    const res = await ask("meter-1", { authorization: dpsToken(SCOPE, "meter-1", keys["meter-1"]!) });
    expect(res.status, res.text).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.json).toEqual({
      sasToken: expect.stringMatching(/^SharedAccessSignature sr=/),
      expiresAt: expect.any(String),
      ttlSeconds: 3600,
      assignedHub: HOST,
      deviceId: "meter-1",
      keyName: null,
    });
    const fields = parseSasToken(res.json.sasToken);
    expect(decodeURIComponent(fields.sr)).toBe(`${HOST}/devices/meter-1`);
    expect(fields.skn).toBeUndefined();
    const expiresAt = new Date(res.json.expiresAt).getTime();
    expect(expiresAt).toBe(Number(fields.se) * 1000);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000);

    const verdict = await hubAuth("meter-1", res.json.sasToken);
    expect(verdict).toMatchObject({ allow: true, reason: "ok" });

    const [entry] = await log("sas.issue");
    expect(entry).toMatchObject({ actor: `dps:${SCOPE}/meter-1`, subject: `${SCOPE}/meter-1` });
    expect(entry!.details).toMatchObject({
      idScope: SCOPE,
      registrationId: "meter-1",
      deviceId: "meter-1",
      hub: HOST,
      keyName: null,
      credential: "dpsSas",
      ttlSeconds: 3600,
      expiresAt: res.json.expiresAt,
    });
    // The log never holds the token or its signature.
    expect(JSON.stringify(entry)).not.toContain(fields.sig);
  });

  it("issues one to a device presenting its dpki certificate over mTLS, and to one presenting the hub token it holds", async () => {
    const viaCert = await ask("meter-1", { cert: held["meter-1"]!.cert, key: held["meter-1"]!.key });
    expect(viaCert.status, viaCert.text).toBe(200);
    expect((await hubAuth("meter-1", viaCert.json.sasToken)).allow).toBe(true);
    const viaToken = await ask("meter-1", { authorization: viaCert.json.sasToken }, { ttlSeconds: 900 });
    expect(viaToken.status, viaToken.text).toBe(200);
    expect(viaToken.json.ttlSeconds).toBe(900);
    expect((await hubAuth("meter-1", viaToken.json.sasToken)).allow).toBe(true);
    expect((await log("sas.issue")).slice(0, 2).map((e) => e.details.credential)).toEqual(["hubSas", "x509"]);
  });

  it("clamps a lifetime over the policy's maximum to it (and logs what was asked); refuses one under a minute", async () => {
    const set = cli("sas", "policy", "--scope", SCOPE, "--max-ttl", "10m", "--default-ttl", "5m");
    expect(set).toMatchObject({ idScope: SCOPE, maxTtlSeconds: 600, defaultTtlSeconds: 300, deviceKeys: true, signingPolicy: null });
    expect((await log("sas.policy.set"))[0]!.details).toMatchObject({ maxTtlSeconds: 600, defaultTtlSeconds: 300 });
    const auth = { authorization: dpsToken(SCOPE, "meter-1", keys["meter-1"]!) };
    const long = await ask("meter-1", auth, { ttlSeconds: 7200 });
    expect(long.status, long.text).toBe(200);
    expect(long.json.ttlSeconds).toBe(600);
    expect(new Date(long.json.expiresAt).getTime()).toBeLessThanOrEqual(Date.now() + 600_000);
    expect((await log("sas.issue"))[0]!.details).toMatchObject({ ttlSeconds: 600, requestedTtlSeconds: 7200 });
    expect((await ask("meter-1", auth)).json.ttlSeconds).toBe(300);

    for (const body of [{ ttlSeconds: 5 }, { ttlSeconds: 90.5 }, { ttlSeconds: "1h" }]) {
      const res = await ask("meter-1", auth, body);
      expect(res.status, res.text).toBe(400);
      expect(res.json.errorCode).toBe(400004);
      expect(res.json.message).toContain("ttlSeconds");
    }
  });

  it("refuses a wrong or expired token and an unknown device: 401, no token, a refusal entry each", async () => {
    const refused = (await log("sas.issue.refuse")).length;
    const issued = (await log("sas.issue")).length;
    const wrongKey = Buffer.alloc(32, 7).toString("base64");
    const expiredHub = createSasToken({
      resourceUri: encodeUriComponentStrict(`${HOST}/devices/meter-1`),
      key: keys["meter-1"]!,
      expiry: Math.floor(Date.now() / 1000) - 3600,
    });
    for (const [id, authorization, message] of [
      ["meter-1", dpsToken(SCOPE, "meter-1", wrongKey), "signature"],
      ["meter-1", dpsToken(SCOPE, "meter-1", keys["meter-1"]!, Math.floor(Date.now() / 1000) - 3600), "expired"],
      ["meter-1", expiredHub, "expired"],
      ["meter-1", createSasToken({ resourceUri: encodeUriComponentStrict(`${HOST}/devices/meter-1`), key: wrongKey, expiry: 9_999_999_999 }), "signature"],
      ["meter-9", dpsToken(SCOPE, "meter-9", wrongKey), ""],
    ] as const) {
      const res = await ask(id, { authorization });
      expect(res.status, res.text).toBe(401);
      expect(res.json.errorCode).toBe(401002);
      expect(res.json.sasToken).toBeUndefined();
      if (message) expect(res.json.message.toLowerCase()).toContain(message);
    }
    const noCredential = await ask("meter-1", {});
    expect(noCredential.status).toBe(401);
    const refusals = await log("sas.issue.refuse");
    expect(refusals.length).toBe(refused + 6);
    expect(refusals[0]!.details).toMatchObject({ idScope: SCOPE, registrationId: "meter-1", code: "unauthorized" });
    expect((await log("sas.issue")).length).toBe(issued);
  });

  it("gives none to a device whose enrollment is disabled (403) or whose certificate is revoked (401)", async () => {
    const refused = (await log("sas.issue.refuse")).length;
    cli("enrollment", "disable", "meter-2", "--scope", SCOPE);
    const disabled = await ask("meter-2", { authorization: dpsToken(SCOPE, "meter-2", keys["meter-2"]!) });
    expect(disabled.status, disabled.text).toBe(403);
    expect(disabled.json.errorCode).toBe(403001);
    expect(disabled.json.message).toContain("disabled");
    const viaCert = await ask("meter-2", { cert: held["meter-2"]!.cert, key: held["meter-2"]!.key });
    expect(viaCert.status).toBe(403);

    // meter-3's key is still good, but its certificate no longer is.
    cli("cert", "revoke", held["meter-3"]!.serial, "--reason", "keyCompromise");
    const revoked = await ask("meter-3", { cert: held["meter-3"]!.cert, key: held["meter-3"]!.key });
    expect(revoked.status, revoked.text).toBe(401);
    expect(revoked.json.message).toContain("revoked");
    expect((await ask("meter-3", { authorization: dpsToken(SCOPE, "meter-3", keys["meter-3"]!) })).status).toBe(200);

    const refusals = await log("sas.issue.refuse");
    expect(refusals.length).toBe(refused + 3);
    expect(refusals.map((e) => e.details.registrationId).slice(0, 3)).toEqual(["meter-3", "meter-2", "meter-2"]);
  });

  it("with device keys denied: tokens signed by the hub policy the scope names; the hub refuses the device's own", async () => {
    // Denying device keys needs a signing policy, which must exist with DeviceConnect on the hub.
    const refusedSet = dpki(["sas", "policy", "--scope", SCOPE, "--device-keys", "deny"], { env });
    expect(refusedSet.status).toBe(64);
    expect(refusedSet.stderr).toContain("signing policy");
    cli("sas", "policy", "--scope", SCOPE, "--device-keys", "deny", "--signing-policy", "devices");
    const auth = { authorization: dpsToken(SCOPE, "meter-1", keys["meter-1"]!) };
    const missing = await ask("meter-1", auth);
    expect(missing.status, missing.text).toBe(409);
    expect(missing.json.message).toContain("no shared access policy devices");
    cli("hub", "policy", "add", "hub-1", "devices", "--rights", "DeviceConnect", "--scope", SCOPE);

    const res = await ask("meter-1", auth);
    expect(res.status, res.text).toBe(200);
    expect(res.json.keyName).toBe("devices");
    expect(parseSasToken(res.json.sasToken).skn).toBe("devices");
    expect(await hubAuth("meter-1", res.json.sasToken)).toMatchObject({ allow: true, credential: { keyName: "devices" } });
    // It still vouches for the device at the endpoint: a device without its key renews with it.
    expect((await ask("meter-1", { authorization: res.json.sasToken })).status).toBe(200);

    const ownKey = createSasToken({ resourceUri: encodeUriComponentStrict(`${HOST}/devices/meter-1`), key: keys["meter-1"]!, expiry: 9_999_999_999 });
    const refused = await hubAuth("meter-1", ownKey);
    expect(refused).toMatchObject({ allow: false, reason: "key_name" });
    expect(refused.message).toContain("sasToken");
  });

  it("shows and sets the policy over the API too (admins set, auditors read, bad input refused)", async () => {
    const auditor = cli("token", "create", "--role", "auditor", "--name", "audit").secret;
    const shown = await api(node, "GET", `/v1/scopes/${SCOPE}/sas-policy`, auditor);
    expect(shown.status, shown.text).toBe(200);
    expect(shown.json).toMatchObject({ idScope: SCOPE, maxTtlSeconds: 600, deviceKeys: false, signingPolicy: "devices", updatedBy: expect.any(String) });
    expect((await api(node, "PATCH", `/v1/scopes/${SCOPE}/sas-policy`, auditor, { maxTtlSeconds: 900 })).status).toBe(403);
    for (const body of [{ maxTtlSeconds: 10 }, { defaultTtlSeconds: 7200 }, { deviceKeys: "no" }, { ttl: 5 }, { signingPolicy: null }]) {
      const res = await api(node, "PATCH", `/v1/scopes/${SCOPE}/sas-policy`, adminToken, body);
      expect(res.status, `${JSON.stringify(body)} ${res.text}`).toBe(400);
    }
    const set = await api(node, "PATCH", `/v1/scopes/${SCOPE}/sas-policy`, adminToken, { maxTtlSeconds: 1800, deviceKeys: true, signingPolicy: null });
    expect(set.status, set.text).toBe(200);
    expect(set.json).toMatchObject({ maxTtlSeconds: 1800, defaultTtlSeconds: 300, deviceKeys: true, signingPolicy: null });
    expect((await api(node, "GET", `/v1/scopes/0ne00NONE1/sas-policy`, adminToken)).status).toBe(404);
  });
});
