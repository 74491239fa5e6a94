/** The device endpoint's protocol surface: bad input, DPS-style errors, polling, TLS quirks, flood control. */
import { Agent, request } from "node:https";
import { describe, expect, it } from "vitest";
import type { Services } from "../../src/app.js";
import { stateCounts } from "../helpers/services.js";
import { ACTOR, deviceCall, dpsFixture, dpsToken, startListener, type RawRequest, type RawResponse } from "./helpers.js";
import { testCa, testLeaf } from "./test-pki.js";

async function counts(services: Services, idScope: string) {
  const page = await services.dps.admin.listRegistrations(idScope, { limit: 1000 });
  return { ...(await stateCounts(services)), registrations: page.items.length };
}

function expectDpsError(res: RawResponse, status: number, errorCode: number, message?: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
  expect(res.headers["x-ms-error-code"]).toBe(String(errorCode));
  expect(Object.keys(res.json).sort()).toEqual(["errorCode", "message", "timestampUtc", "trackingId"]);
  expect(res.json.errorCode).toBe(errorCode);
  expect(res.json.trackingId).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Date(res.json.timestampUtc).getTime()).not.toBeNaN();
  if (message) expect(res.json.message).toContain(message);
}

describe("device endpoint", async () => {
  const fx = await dpsFixture("0ne00DEV1");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  await admin.createHub(idScope, { name: "hub", hostName: "hub.example.net" }, ACTOR);
  const dev = await admin.createEnrollment(idScope, "individual", "dev-1", { attestation: { type: "symmetricKey" } }, ACTOR);
  const { port, host } = await startListener(services, { maxBodyBytes: 4096 });
  const target = { host, port, ca: fx.rootPem };
  const path = (id = "dev-1") => `/${idScope}/registrations/${id}/register?api-version=2019-03-31`;
  const token = (id = "dev-1", key = dev.keys!.primaryKey, expiry?: number) => dpsToken(idScope, id, key, expiry);
  const call = (req: RawRequest) => deviceCall(target, req);

  it("answers a valid register with 200 and the DPS result shape, for any api-version", async () => {
    for (const v of ["2019-03-31", "2021-10-01", "2025-07-01-preview", "nonsense"]) {
      const res = await call({
        path: `/${idScope}/registrations/dev-1/register?api-version=${v}`,
        body: '{"registrationId":"dev-1"}',
        headers: { authorization: token() },
      });
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(res.json).toMatchObject({ operationId: expect.stringMatching(/^5\.[0-9a-f]{16}\./), status: "assigned" });
      expect(res.json.registrationState).toMatchObject({
        registrationId: "dev-1",
        assignedHub: "hub.example.net",
        deviceId: "dev-1",
        status: "assigned",
        etag: expect.any(String),
        createdDateTimeUtc: expect.stringMatching(/\.\d{7}Z$/),
      });
    }
  });

  it("accepts an url-encoded sr (other SDKs) and a case-changed registration path", async () => {
    const encoded = `SharedAccessSignature sr=${encodeURIComponent(`${idScope}/registrations/dev-1`)}&sig=`;
    const { createSasToken } = await import("../../src/core/sas/sas.js");
    const t = createSasToken({
      resourceUri: encodeURIComponent(`${idScope}/registrations/dev-1`),
      key: dev.keys!.primaryKey,
      keyName: "registration",
      expiry: Math.ceil(Date.now() / 1000) + 60,
    });
    expect(t.startsWith(encoded)).toBe(true);
    expect((await call({ path: path(), body: "{}", headers: { authorization: t } })).status).toBe(200);
    expect(
      (await call({ path: `/${idScope.toLowerCase()}/registrations/dev-1/register`, body: "{}", headers: { authorization: token() } }))
        .status,
    ).toBe(200);
  });

  const bad: Array<[string, RawRequest | (() => RawRequest), number, number, string]> = [
    [
      "malformed JSON",
      () => ({ path: path(), body: '{"registrationId": "dev-1",', headers: { authorization: token() } }),
      400,
      400004,
      "malformed JSON",
    ],
    ["a JSON array body", () => ({ path: path(), body: "[1,2]", headers: { authorization: token() } }), 400, 400004, "JSON object"],
    [
      "a body id differing from the path",
      () => ({ path: path(), body: '{"registrationId":"dev-2"}', headers: { authorization: token() } }),
      400,
      400004,
      "does not match",
    ],
    [
      "a csr that is not base64 DER",
      () => ({ path: path(), body: '{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}', headers: { authorization: token() } }),
      400,
      400004,
      "csr",
    ],
    [
      "a csr that is base64 garbage",
      () => ({ path: path(), body: '{"csr":"AAAA"}', headers: { authorization: token() } }),
      400,
      400004,
      "Cannot parse CSR",
    ],
    ["TPM attestation", () => ({ path: path(), body: '{"tpm":{"endorsementKey":"AA=="}}' }), 400, 400004, "TPM"],
    [
      "an oversize body (declared)",
      () => ({ path: path(), body: JSON.stringify({ payload: "x".repeat(5000) }), headers: { authorization: token() } }),
      413,
      413001,
      "exceeds",
    ],
    [
      "a payload nested deeper than 32 levels",
      () => ({ path: path(), body: `{"payload":${"[".repeat(33)}${"]".repeat(33)}}`, headers: { authorization: token() } }),
      400,
      400004,
      "Cannot accept payload: it is nested deeper than 32 levels (the limit)",
    ],
    [
      "text/plain",
      () => ({ path: path(), body: "{}", headers: { authorization: token(), "content-type": "text/plain" } }),
      415,
      415001,
      "application/json",
    ],
    [
      "no content type",
      () => ({ path: path(), body: "{}", headers: { authorization: token(), "content-type": "" } }),
      415,
      415001,
      "application/json",
    ],
    [
      "illegal characters in the registration id",
      () => ({ path: path("dev%201"), body: "{}", headers: { authorization: token() } }),
      400,
      400004,
      "invalid",
    ],
    [
      "a registration id ending in a dot",
      () => ({ path: path("dev-1."), body: "{}", headers: { authorization: token() } }),
      400,
      400004,
      "invalid",
    ],
    ["slashes smuggled into the id", () => ({ path: path("..%2F..%2Fetc"), body: "{}" }), 400, 400004, "invalid"],
    [
      "a 129-character registration id",
      () => ({ path: path("a".repeat(129)), body: "{}", headers: { authorization: token() } }),
      400,
      400004,
      "129 characters",
    ],
    [
      "a token without sig",
      () => ({ path: path(), body: "{}", headers: { authorization: token().replace(/&sig=[^&]+/, "") } }),
      401,
      401002,
      'missing field "sig"',
    ],
    [
      "a token without se",
      () => ({ path: path(), body: "{}", headers: { authorization: token().replace(/&se=\d+/, "") } }),
      401,
      401002,
      'missing field "se"',
    ],
    [
      "a token without sr",
      () => ({ path: path(), body: "{}", headers: { authorization: token().replace(/sr=[^&]+&/, "") } }),
      401,
      401002,
      'missing field "sr"',
    ],
    [
      "a token without skn",
      () => ({ path: path(), body: "{}", headers: { authorization: token().replace(/&skn=registration/, "") } }),
      401,
      401002,
      "key name",
    ],
    [
      "a token that is not a SAS token",
      () => ({ path: path(), body: "{}", headers: { authorization: "Bearer abc" } }),
      401,
      401002,
      "Cannot parse SAS token",
    ],
    [
      "a token for another registration",
      () => ({ path: path(), body: "{}", headers: { authorization: token("dev-2") } }),
      401,
      401002,
      "resource",
    ],
    [
      "an expired token",
      () => ({
        path: path(),
        body: "{}",
        headers: { authorization: token("dev-1", dev.keys!.primaryKey, Math.floor(Date.now() / 1000) - 3600) },
      }),
      401,
      401002,
      "expired",
    ],
    ["no credential at all", () => ({ path: path(), body: "{}" }), 401, 401002, "No credential"],
    [
      "an unknown ID scope",
      () => ({ path: "/0neNOPE/registrations/dev-1/register", body: "{}", headers: { authorization: token() } }),
      404,
      404001,
      "Unknown ID scope",
    ],
    ["an unknown path", () => ({ path: "/whatever", body: "{}" }), 404, 404001, "Not found"],
    ["GET on register", () => ({ method: "GET", path: path(), headers: { authorization: token() } }), 405, 405001, "PUT"],
  ];

  for (const [what, req, status, code, message] of bad) {
    it(`refuses ${what} with a DPS error and changes nothing`, async () => {
      const before = await counts(services, idScope);
      const res = await call(typeof req === "function" ? req() : req);
      expectDpsError(res, status, code, message);
      expect(await counts(services, idScope)).toEqual(before);
    });
  }

  it("refuses a streamed (chunked) body over the limit", async () => {
    const res = await new Promise<RawResponse>((resolve, reject) => {
      const r = request(
        {
          host,
          port,
          method: "PUT",
          path: path(),
          ca: fx.rootPem,
          agent: false,
          headers: { "content-type": "application/json", authorization: token() },
        },
        (resp) => {
          const chunks: Buffer[] = [];
          resp.on("data", (c: Buffer) => chunks.push(c));
          resp.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: resp.statusCode!, headers: resp.headers, text, json: JSON.parse(text) });
          });
        },
      );
      r.on("error", reject);
      for (let i = 0; i < 10; i++) r.write("x".repeat(1000));
      r.end();
    });
    expectDpsError(res, 413, 413001);
  });

  it("polls: GET tolerates a {} body, hides other devices' operations, 404s unknown ones", async () => {
    const put = await call({ path: path(), body: "{}", headers: { authorization: token() } });
    const op = put.json.operationId as string;
    const get = await call({
      method: "GET",
      path: `/${idScope}/registrations/dev-1/operations/${op}?api-version=2019-03-31`,
      body: "{}",
      headers: { authorization: token() },
    });
    expect(get.status).toBe(200);
    expect(get.json).toMatchObject({ operationId: op, status: "assigned", registrationState: { registrationId: "dev-1" } });
    const unknown = await call({
      method: "GET",
      path: `/${idScope}/registrations/dev-1/operations/5.0.nope`,
      body: "{}",
      headers: { authorization: token() },
    });
    expectDpsError(unknown, 404, 404001);
    const other = await admin.createEnrollment(idScope, "individual", "dev-other", { attestation: { type: "symmetricKey" } }, ACTOR);
    const stolen = await call({
      method: "GET",
      path: `/${idScope}/registrations/dev-other/operations/${op}`,
      body: "{}",
      headers: { authorization: token("dev-other", other.keys!.primaryKey) },
    });
    expectDpsError(stolen, 404, 404001);
    const unauth = await call({ method: "GET", path: `/${idScope}/registrations/dev-1/operations/${op}`, body: "{}" });
    expectDpsError(unauth, 401, 401002);
  });

  it("answers from the store after the in-memory operation is gone (restart)", async () => {
    const put = await call({ path: path(), body: "{}", headers: { authorization: token() } });
    const { listener: fresh, port: p2 } = await startListener(services);
    expect(fresh).toBeDefined();
    const get = await deviceCall(
      { host, port: p2, ca: fx.rootPem },
      {
        method: "GET",
        path: `/${idScope}/registrations/dev-1/operations/${put.json.operationId}`,
        body: "{}",
        headers: { authorization: token() },
      },
    );
    expect(get.status).toBe(200);
    expect(get.json.registrationState.etag).toBe(put.json.registrationState.etag);
  });

  it("validates X.509 chains on every connection (sessions are never resumed)", async () => {
    const root = await testCa("Resume Root");
    const inter = await testCa("Resume Issuing", root);
    await admin.createEnrollment(idScope, "group", "resume", { attestation: { type: "x509", caCertificates: [root.pem] } }, ACTOR);
    const leaf = await testLeaf("dev-resume", inter);
    const agent = new Agent({ keepAlive: false, maxCachedSessions: 10 });
    for (let i = 0; i < 3; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const r = request(
          {
            host,
            port,
            method: "PUT",
            path: path("dev-resume"),
            ca: fx.rootPem,
            cert: leaf.pem + inter.pem,
            key: leaf.keyPem,
            agent,
            headers: { "content-type": "application/json" },
          },
          (res) => {
            expect((res.socket as import("node:tls").TLSSocket).isSessionReused()).toBe(false);
            res.resume();
            res.on("end", () => resolve(res.statusCode!));
          },
        );
        r.on("error", reject);
        r.end("{}");
      });
      expect(status).toBe(200);
    }
    // The same connection without a client certificate proves nothing.
    const noCert = await call({ path: path("dev-resume"), body: "{}" });
    expectDpsError(noCert, 401, 401002, "No credential");
  });
});

describe("device endpoint flood control", async () => {
  const fx = await dpsFixture("0ne00FLOOD");
  const { services, idScope } = fx;
  await services.dps.admin.createHub(idScope, { name: "hub", hostName: "hub.example.net" }, ACTOR);
  const dev = await services.dps.admin.createEnrollment(idScope, "individual", "calm-1", { attestation: { type: "symmetricKey" } }, ACTOR);
  const limit = { perSecond: 1, burst: 10 };
  const { port } = await startListener(services, { host: "0.0.0.0", names: ["127.0.0.1"], rateLimit: limit });
  const target = { host: "127.0.0.1", port, ca: fx.rootPem };

  it("rate limits a flooding source without hurting others", async () => {
    const started = performance.now();
    const flood = await Promise.all(
      Array.from({ length: 60 }, () =>
        deviceCall(target, { path: `/${idScope}/registrations/noisy/register`, body: "{}", localAddress: "127.0.0.2" }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const limited = flood.filter((r) => r.status === 429);
    // The burst, and what the bucket refilled while the 60 handshakes came in: on a loaded machine
    // that takes seconds, so the bound follows the time the flood took rather than assume it.
    expect(flood.length - limited.length).toBeLessThanOrEqual(limit.burst + Math.ceil(seconds * limit.perSecond));
    expect(limited.length).toBeGreaterThanOrEqual(30);
    expectDpsError(limited[0]!, 429, 429001);
    expect(Number(limited[0]!.headers["retry-after"])).toBeGreaterThanOrEqual(1);

    const calm = await deviceCall(target, {
      path: `/${idScope}/registrations/calm-1/register`,
      body: "{}",
      localAddress: "127.0.0.3",
      headers: { authorization: dpsToken(idScope, "calm-1", dev.keys!.primaryKey) },
    });
    expect(calm.status).toBe(200);
    expect(calm.json.status).toBe("assigned");
  });
});
