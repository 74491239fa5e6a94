import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCsr, startTestServer, stateCounts, type Reply, type TestServer } from "./harness.js";

let t: TestServer;
let csr: string;
let serial: string;

beforeAll(async () => {
  t = await startTestServer();
  csr = await makeCsr("bad-input-dev");
  serial = (await t.services.issuance.issue({ csr: await makeCsr("existing"), profile: "device", actor: "test" })).certificate.serial;
});
afterAll(() => t?.close());

function expectProblem(reply: Reply, status: number, code: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(reply.json).toMatchObject({ type: `urn:dpki:problem:${code}`, status, code });
  expect(typeof reply.json.title).toBe("string");
  expect(typeof reply.json.detail).toBe("string");
  expect(reply.json.instance).toBe(reply.headers["x-request-id"]);
}

/** Runs a refused request and checks that nothing was stored or logged. */
async function refused(method: string, path: string, options: Parameters<TestServer["request"]>[2], status: number, code: string) {
  const before = await stateCounts(t.services);
  const reply = await t.request(method, path, { token: t.tokens.admin, ...options });
  expectProblem(reply, status, code);
  expect(await stateCounts(t.services)).toEqual(before);
  return reply;
}

describe("bad input is answered with problem+json and changes nothing", () => {
  it("a malformed percent-escape in a path parameter", async () => {
    const r = await refused("GET", "/v1/certificates/%E0%A4%A", {}, 400, "bad_request");
    expect(r.json.detail).toMatch(/percent-encoding/);
  });

  it("invalid JSON", async () => {
    const r = await refused("POST", "/v1/certificates", { body: '{"csr": "x", "profile": ' }, 400, "bad_request");
    expect(r.json.detail).toBe("Cannot parse request body: invalid JSON");
    await refused("POST", "/v1/tokens", { body: "[1,2" }, 400, "bad_request");
    await refused("POST", "/v1/certificates", { body: '"just a string"' }, 400, "bad_request");
  });

  it("unknown fields and wrong types", async () => {
    const r = await refused("POST", "/v1/certificates", { body: { csr, profile: "device", colour: "red" } }, 400, "bad_request");
    expect(r.json.context.errors[0].path).toBe("/body/colour");
    await refused("POST", "/v1/certificates", { body: { csr, profile: 7 } }, 400, "bad_request");
    await refused("POST", "/v1/certificates", { body: { profile: "device" } }, 400, "bad_request");
    await refused("POST", "/v1/certificates", { body: { csr, profile: "device", validity: "forever" } }, 400, "bad_request");
    await refused("POST", "/v1/certificates/batch", { body: { items: [] } }, 400, "bad_request");
    await refused("POST", "/v1/certificates/batch", { body: { items: [{ csr, profile: "device", x: 1 }] } }, 400, "bad_request");
    await refused("POST", "/v1/tokens", { body: { role: "root" } }, 400, "bad_request");
    await refused("POST", "/v1/tokens", { body: { role: "admin", isAdmin: true } }, 400, "bad_request");
    await refused("POST", `/v1/certificates/${serial}/revoke`, { body: { reason: "bored" } }, 400, "bad_request");
    await refused("GET", "/v1/certificates?limit=abc", {}, 400, "bad_request");
    await refused("GET", "/v1/certificates?limit=5000", {}, 400, "bad_request");
    await refused("GET", "/v1/certificates?status=bogus", {}, 400, "bad_request");
    await refused("GET", "/v1/certificates?owner=me", {}, 400, "bad_request");
    await refused("GET", "/v1/audit?after=%27%20OR%201%3D1", {}, 400, "bad_request");
  });

  it("oversize bodies", async () => {
    const big = { csr: "A".repeat(70 * 1024), profile: "device" };
    const r = await refused("POST", "/v1/certificates", { body: big }, 413, "payload_too_large");
    expect(r.json.detail).not.toContain("AAAA");
    await refused("POST", "/v1/tokens", { body: { role: "admin", name: "x".repeat(20_000) } }, 413, "payload_too_large");
    const batch = { items: Array.from({ length: 90 }, () => ({ csr: "B".repeat(50_000), profile: "device" })) };
    await refused("POST", "/v1/certificates/batch", { body: batch }, 413, "payload_too_large");
  });

  it("bad CSRs, naming the problem", async () => {
    let r = await refused("POST", "/v1/certificates", { body: { csr: "hello", profile: "device" } }, 400, "bad_encoding");
    expect(r.json.detail).toMatch(/^Cannot parse CSR/);
    r = await refused(
      "POST",
      "/v1/certificates",
      { body: { csr: "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", profile: "device" } },
      400,
      "bad_encoding",
    );
    // One flipped bit in the signature: proof of possession fails.
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s+/g, ""), "base64");
    der[der.length - 5] ^= 0x01;
    await refused("POST", "/v1/certificates", { body: { csr: der.toString("base64"), profile: "device" } }, 400, "bad_signature");
    // Valid CSR, but it asks for what the profile does not allow.
    const withIp = await makeCsr("dev-ip", [{ type: "ip", value: "10.0.0.1" }]);
    await refused("POST", "/v1/certificates", { body: { csr: withIp, profile: "device" } }, 422, "profile_violation");
    await refused("POST", "/v1/certificates", { body: { csr, profile: "nope" } }, 404, "not_found");
    await refused("POST", "/v1/certificates", { body: { csr, profile: "device", validity: "5000d" } }, 422, "profile_violation");
  });

  it("wrong or missing content type", async () => {
    await refused(
      "POST",
      "/v1/certificates",
      { body: `csr=${csr}&profile=device`, headers: { "content-type": "application/x-www-form-urlencoded" } },
      415,
      "unsupported_media_type",
    );
    await refused(
      "POST",
      "/v1/certificates",
      { body: JSON.stringify({ csr, profile: "device" }), headers: { "content-type": "text/plain" } },
      415,
      "unsupported_media_type",
    );
    await refused(
      "POST",
      "/v1/tokens",
      { body: Buffer.from('{"role":"admin"}'), headers: { "content-type": "application/octet-stream" } },
      415,
      "unsupported_media_type",
    );
  });

  it("a body that does not decompress as its Content-Encoding says, also on the anonymous OCSP POST", async () => {
    const json = Buffer.from(JSON.stringify({ csr, profile: "device" }));
    const truncatedGzip = gzipSync(json).subarray(0, 20);
    for (const [encoding, body] of [
      ["gzip", Buffer.from("this is not gzip")],
      ["gzip", truncatedGzip],
      ["deflate", Buffer.from("this is not deflate")],
      ["br", Buffer.from("this is not brotli at all")],
    ] as const) {
      const headers = { "content-type": "application/json", "content-encoding": encoding };
      const r = await refused("POST", "/v1/certificates", { body, headers }, 400, "bad_request");
      expect(r.json.detail).toMatch(/^Cannot decompress request body/);
      await refused("POST", "/v1/tokens", { body, headers }, 400, "bad_request");
      const ocsp = await refused(
        "POST",
        "/ocsp",
        { token: undefined, body, headers: { "content-type": "application/ocsp-request", "content-encoding": encoding } },
        400,
        "bad_request",
      );
      expect(ocsp.json.detail).toMatch(/Content-Encoding/);
    }
    // The same bodies compressed properly are read.
    const ok = await t.request("POST", "/v1/certificates", {
      token: t.tokens.admin,
      body: brotliCompressSync(Buffer.from(JSON.stringify({ csr: await makeCsr("brotli-dev"), profile: "device" }))),
      headers: { "content-type": "application/json", "content-encoding": "br" },
    });
    expect(ok.status, ok.text).toBe(201);
  });

  it("free-form JSON nested too deep or too large, naming the limit", async () => {
    const { admin } = t.tokens;
    expect((await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: "0ne00DEEP" } })).status).toBe(201);
    expect(
      (await t.request("POST", "/v1/scopes/0ne00DEEP/hubs", { token: admin, body: { name: "h", hostName: "h.example.net" } })).status,
    ).toBe(201);
    const nested = (depth: number): Record<string, unknown> => {
      let v: Record<string, unknown> = {};
      for (let i = 1; i < depth; i++) v = { a: v };
      return v;
    };
    const enrollment = (registrationId: string, initialTwin: unknown) => ({
      registrationId,
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["h"] },
      initialTwin,
    });
    const path = "/v1/scopes/0ne00DEEP/enrollments";
    let r = await refused("POST", path, { body: enrollment("deep-33", nested(33)) }, 400, "invalid_argument");
    expect(r.json.detail).toBe("Cannot accept initialTwin: it is nested deeper than 32 levels (the limit)");
    // Deeper than any field may be: refused for the whole body before anything walks it.
    const deep = `{"registrationId":"deep","attestation":{"type":"symmetricKey"},"allocation":{"policy":"static","hubs":["h"]},"initialTwin":${'{"a":'.repeat(5000)}{}${"}".repeat(5000)}}`;
    r = await refused("POST", path, { body: deep }, 400, "bad_request");
    expect(r.json.detail).toMatch(/nested deeper than 40 levels/);
    const wide = { tags: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, "v".repeat(20)])) };
    r = await refused("POST", path, { body: enrollment("wide", wide) }, 400, "invalid_argument");
    expect(r.json.detail).toMatch(/^Cannot accept initialTwin: \d+ bytes of JSON, more than the limit of 32768 bytes/);
    const ok = await t.request("POST", path, { token: admin, body: enrollment("deep-32", nested(32)) });
    expect(ok.status, ok.text).toBe(201);
  });

  it("path tricks in ids", async () => {
    for (const path of [
      "/v1/certificates/..",
      "/v1/certificates/%2e%2e",
      "/v1/certificates/..%2f..%2fetc%2fpasswd",
      "/v1/certificates/%2e%2e%2f%2e%2e%2ftokens",
      "/v1/certificates/abc%00",
      `/v1/certificates/${serial}%20OR%201=1`,
      "/v1/tokens/..%2ft-admin/revoke",
      "/v1/tokens/%2e%2e/revoke",
    ]) {
      const method = path.endsWith("/revoke") ? "POST" : "GET";
      await refused(method, path, {}, 400, "bad_request");
    }
    // Unnormalised dot segments match no route (express does not resolve them): 404, never another resource.
    for (const path of ["/v1/certificates/../tokens", "/v1/ca/../tokens", "/v1/crl/../../v1/tokens"]) {
      const r = await refused("GET", path, {}, 404, "not_found");
      expect(r.text).not.toContain("t-admin");
    }
    await refused("POST", `/v1/certificates/${serial}/revoke/../../..`, {}, 404, "not_found");
    await refused("DELETE", `/v1/certificates/${serial}`, {}, 405, "method_not_allowed");
    // A well-formed id that does not exist.
    await refused("GET", "/v1/certificates/0badc0ffee", {}, 404, "not_found");
    await refused("POST", "/v1/tokens/no-such-token/revoke", {}, 404, "not_found");
  });

  it("echoes a client's X-Request-Id and makes one otherwise", async () => {
    const given = await t.request("GET", "/healthz", { headers: { "x-request-id": "factory-7.run:42" } });
    expect(given.headers["x-request-id"]).toBe("factory-7.run:42");
    const odd = await t.request("GET", "/healthz", { headers: { "x-request-id": "<script>" } });
    expect(odd.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
