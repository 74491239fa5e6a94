import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenRole } from "../../src/store/token-store.js";
import { makeCsr, startTestServer, stateCounts, type TestServer } from "./harness.js";

/**
 * Who may call what on the core management API (CA, certificates, CRL, audit, tokens,
 * profiles, health), written out independently of the code's route table.
 */
type Caller = TokenRole | "anonymous";
const ROLES: TokenRole[] = ["admin", "operator", "factory", "hub", "auditor"];
const EVERY_ROLE = ROLES;
const PUBLIC = "public" as const;

const MATRIX: Record<string, readonly TokenRole[] | typeof PUBLIC> = {
  "GET /healthz": PUBLIC,
  "GET /readyz": PUBLIC,
  "GET /metrics": PUBLIC,
  "GET /v1/ca": EVERY_ROLE,
  "GET /v1/ca/chain": PUBLIC,
  "GET /v1/ca/issuer.der": PUBLIC,
  "GET /v1/ca/root.der": PUBLIC,
  "GET /v1/ca/root.pem": PUBLIC,
  "POST /v1/certificates": ["admin", "operator", "factory"],
  "POST /v1/certificates/batch": ["admin", "operator", "factory"],
  "GET /v1/certificates": ["admin", "operator", "auditor"],
  "GET /v1/certificates/:id": ["admin", "operator", "auditor"],
  "POST /v1/certificates/:id/revoke": ["admin", "operator"],
  "GET /v1/crl": PUBLIC,
  "GET /v1/crl.pem": PUBLIC,
  "GET /v1/audit": ["admin", "auditor"],
  "GET /v1/audit/verify": ["admin", "auditor"],
  "GET /v1/audit/findings": ["admin", "auditor"],
  "POST /v1/tokens": ["admin"],
  "GET /v1/tokens": ["admin"],
  "POST /v1/tokens/:id/revoke": ["admin"],
  "GET /v1/profiles": EVERY_ROLE,
  "GET /openapi.yaml": PUBLIC,
};

let t: TestServer;
const csrs: string[] = [];

beforeAll(async () => {
  t = await startTestServer();
  for (let i = 0; i < 24; i++) csrs.push(await makeCsr(`role-dev-${i}`));
});
afterAll(() => t?.close());

let next = 0;
/** A valid request for the route, fresh state where it needs some (a certificate to revoke, a token to revoke). */
async function requestFor(route: string): Promise<{ method: string; path: string; body?: unknown }> {
  const [method, pattern] = route.split(" ") as [string, string];
  let path = pattern;
  if (pattern.includes("/v1/certificates/:id")) {
    const issued = await t.services.issuance.issue({ csr: csrs[next++ % csrs.length]!, profile: "device", actor: "test" });
    path = pattern.replace(":id", issued.certificate.serial);
  }
  if (pattern.includes("/v1/tokens/:id")) {
    const created = await t.services.tokens.create({ role: "auditor" }, "test");
    path = pattern.replace(":id", created.token.id);
  }
  const csr = () => csrs[next++ % csrs.length]!;
  const bodies: Record<string, () => unknown> = {
    "POST /v1/certificates": () => ({ csr: csr(), profile: "device" }),
    "POST /v1/certificates/batch": () => ({ items: [{ csr: csr(), profile: "device" }] }),
    "POST /v1/certificates/:id/revoke": () => ({ reason: "superseded" }),
    "POST /v1/tokens": () => ({ role: "auditor" }),
  };
  return { method, path, body: bodies[route]?.() };
}

describe("roles", () => {
  it("the matrix names only routes the server has", () => {
    // Other resources (DPS scopes, OCSP, CA lifecycle) test their own roles; every route's roles
    // are also pinned to openapi.yaml by the contract test.
    const routes = new Set(t.server.http.routes.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    expect(Object.keys(MATRIX).filter((r) => !routes.has(r))).toEqual([]);
  });

  it("every role is allowed exactly where the matrix says, and refused with 403 elsewhere", async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const [route, access] of Object.entries(MATRIX)) {
      for (const caller of [...ROLES, "anonymous"] as Caller[]) {
        const { method, path, body } = await requestFor(route);
        const before = await stateCounts(t.services);
        const token = caller === "anonymous" ? undefined : t.tokens[caller];
        const reply = await t.request(method, path, { token, body });
        const allowed = access === PUBLIC || (caller !== "anonymous" && access.includes(caller));
        expected.push(`${route} as ${caller}: ${allowed ? "allowed" : caller === "anonymous" ? "401" : "403"}`);
        outcomes.push(`${route} as ${caller}: ${reply.status < 300 ? "allowed" : String(reply.status)}`);
        if (reply.status >= 300) {
          expect(reply.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect(await stateCounts(t.services)).toEqual(before);
          if (reply.status === 401) expect(reply.headers["www-authenticate"]).toMatch(/^Bearer realm="dpki"/);
        }
      }
    }
    expect(outcomes).toEqual(expected);
  });

  it("refuses missing, malformed, unknown, tampered, expired and revoked tokens with 401", async () => {
    const created = await t.services.tokens.create({ role: "operator", name: "short-lived", expiresInMs: 60_000 }, "test");
    const good = created.secret;
    const [, id, secret] = /^dpki_([0-9a-f]{16})_(.+)$/.exec(good)!;
    const tampered = `dpki_${id}_${secret!.slice(0, -1)}${secret!.endsWith("A") ? "B" : "A"}`;
    const unknown = `dpki_${"0".repeat(16)}_${secret}`;
    expect((await t.request("GET", "/v1/certificates", { token: good })).status).toBe(200);
    for (const token of ["", "x", "dpki_", tampered, unknown, good.toUpperCase()]) {
      const reply = await t.request("GET", "/v1/certificates", { headers: { authorization: `Bearer ${token}` } });
      expect(reply.status, token).toBe(401);
      expect(reply.json.code).toBe("unauthorized");
    }
    expect((await t.request("GET", "/v1/certificates", { headers: { authorization: `Basic ${good}` } })).status).toBe(401);

    t.clock.offsetMs = 61_000;
    try {
      const expired = await t.request("GET", "/v1/certificates", { token: good });
      expect(expired.status).toBe(401);
      expect(expired.json.detail).toBe("Invalid token: expired");
    } finally {
      t.clock.offsetMs = 0;
    }

    // Revocation through the API takes effect on the very next request: no cached validity.
    expect((await t.request("GET", "/v1/certificates", { token: good })).status).toBe(200);
    const revoke = await t.request("POST", `/v1/tokens/${id}/revoke`, { token: t.tokens.admin });
    expect(revoke.status).toBe(200);
    expect(revoke.json.status).toBe("revoked");
    const after = await t.request("GET", "/v1/certificates", { token: good });
    expect(after.status).toBe(401);
    expect(after.json.detail).toBe("Invalid token: revoked");
  });

  it("applies a factory token's profiles and quota per batch item: the allowed are issued, the others refused in their result", async () => {
    const { secret } = await t.services.tokens.create({ role: "factory", name: "line-b", profiles: ["device"], quotaPerDay: 2 }, "test");
    const mixed = await t.request("POST", "/v1/certificates/batch", {
      token: secret,
      body: {
        items: [
          { csr: csrs[1], profile: "device" },
          { csr: csrs[2], profile: "gateway" },
          { csr: csrs[3], profile: "device" },
          { csr: csrs[4], profile: "device" },
        ],
      },
    });
    expect(mixed.status).toBe(200);
    const results = mixed.json.results as Array<{ ok: boolean; error?: { code: string; message: string } }>;
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
    expect(results[1]!.error).toMatchObject({ code: "forbidden", message: expect.stringContaining("not under gateway") });
    expect(results[3]!.error).toEqual({
      code: "quota_exceeded",
      message: "Daily quota of this token used up: 2 of 2 certificates issued today (UTC)",
    });
    expect(Number(mixed.headers["retry-after"])).toBeGreaterThan(0);
    // Nothing left today: every item is refused in its result, the request itself still answers 200.
    const after = await t.request("POST", "/v1/certificates/batch", {
      token: secret,
      body: { items: [{ csr: csrs[5], profile: "device" }] },
    });
    expect(after.status).toBe(200);
    expect(after.json.results[0]).toMatchObject({ ok: false, error: { code: "quota_exceeded" } });
  });

  it("keeps a factory token to its profiles and its daily quota", async () => {
    const { secret } = await t.services.tokens.create({ role: "factory", name: "line-q", profiles: ["device"], quotaPerDay: 3 }, "test");
    const before = await stateCounts(t.services);
    const outside = await t.request("POST", "/v1/certificates", { token: secret, body: { csr: csrs[0], profile: "gateway" } });
    expect(outside.status).toBe(403);
    expect(outside.json.context.allowedProfiles).toEqual(["device"]);
    expect(await stateCounts(t.services)).toEqual(before);

    // A refused CSR gives its quota back; then 3 issuances fill the day.
    const bad = await t.request("POST", "/v1/certificates", { token: secret, body: { csr: "AAAA", profile: "device" } });
    expect(bad.status).toBe(400);
    const one = await t.request("POST", "/v1/certificates", { token: secret, body: { csr: csrs[3], profile: "device" } });
    expect(one.status).toBe(201);
    expect(one.json.certificate.requester).toBe("token:line-q");
    const two = await t.request("POST", "/v1/certificates/batch", {
      token: secret,
      body: {
        items: [
          { csr: csrs[4], profile: "device" },
          { csr: csrs[5], profile: "device" },
        ],
      },
    });
    expect(two.status).toBe(200);
    expect(two.json.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true]);
    const middle = await stateCounts(t.services);
    const over = await t.request("POST", "/v1/certificates", { token: secret, body: { csr: csrs[6], profile: "device" } });
    expect(over.status).toBe(429);
    expect(over.json.code).toBe("quota_exceeded");
    expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
    expect(await stateCounts(t.services)).toEqual(middle);

    // The next UTC day starts afresh.
    t.clock.offsetMs = 86_400_000;
    try {
      expect((await t.request("POST", "/v1/certificates", { token: secret, body: { csr: csrs[7], profile: "device" } })).status).toBe(201);
    } finally {
      t.clock.offsetMs = 0;
    }
  });

  it("records the token as the actor of what it does", async () => {
    const issued = await t.request("POST", "/v1/certificates", { token: t.tokens.operator, body: { csr: csrs[8], profile: "device" } });
    const serial = issued.json.certificate.serial as string;
    await t.request("POST", `/v1/certificates/${serial}/revoke`, { token: t.tokens.admin, body: { reason: "keyCompromise" } });
    const created = await t.request("POST", "/v1/tokens", { token: t.tokens.admin, body: { role: "auditor", name: "aud-x" } });
    expect(created.status).toBe(201);
    expect(created.headers["cache-control"]).toBe("no-store");
    const log = await t.request("GET", `/v1/audit?order=oldest&serial=${serial}`, { token: t.tokens.auditor });
    expect(log.json.items.map((e: { action: string; actor: string }) => `${e.action} ${e.actor}`)).toEqual([
      "cert.issue token:t-operator",
      "cert.revoke token:t-admin",
    ]);
    const tokenLog = await t.request("GET", "/v1/audit?order=oldest&action=token.create&actor=token:t-admin", { token: t.tokens.admin });
    expect(tokenLog.status, tokenLog.text).toBe(200);
    expect(tokenLog.json.items.map((e: { subject: string }) => e.subject)).toContain("token:aud-x");
  });
});
