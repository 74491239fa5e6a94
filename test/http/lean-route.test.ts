import { createServer, request, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpApp, type HttpApp } from "../../src/http/http-app.js";
import { leanListener } from "../../src/http/lean-routes.js";
import { jsonLogger } from "../../src/http/logger.js";
import { HttpMetrics } from "../../src/http/metrics.js";
import { loadApiSpec } from "../../src/http/openapi.js";
import { pemEncode } from "../../ca/pem.js";
import { opensslAsync } from "../helpers/openssl-async.js";
import { makeCsr, startTestServer, stateCounts, type TestServer } from "./harness.js";

/**
 * The lean routes (issuance single and batch, OCSP POST, device-auth) on the lean path
 * (node:http, no express). Two plain-HTTP listeners on the test server's services: one that
 * serves only the lean path and answers 418 for whatever it would hand to express (so every
 * answer below is proven to come from the lean path), and one that is express alone, as every
 * request was served before. The same requests to both must get the same answers.
 */
const LEFT_TO_EXPRESS = 418;

interface Plain {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

interface Listener {
  http: HttpApp;
  logs: string[];
  server: Server;
  send(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string>; chunked?: boolean },
  ): Promise<Plain>;
}

let t: TestServer;
/** Only the lean path: the first group of tests. */
let lean: Listener;
/** The same, fresh, and express alone: compared request for request. */
let leanB: Listener;
let express: Listener;
const csrs: string[] = [];
const csr = () => csrs.shift()!;

async function listen(make: (http: HttpApp) => RequestListener): Promise<Listener> {
  const logs: string[] = [];
  const http = createHttpApp(t.services, { logger: jsonLogger((l) => logs.push(l)), metrics: new HttpMetrics({ defaultMetrics: false }) });
  const server = createServer(make(http));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const send: Listener["send"] = (method, path, options = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...options.headers };
      const payload =
        options.body === undefined
          ? undefined
          : Buffer.isBuffer(options.body)
            ? options.body
            : Buffer.from(typeof options.body === "string" ? options.body : JSON.stringify(options.body));
      if (payload && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
      if (payload && !options.chunked) headers["content-length"] = String(payload.length);
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
      });
      req.on("error", reject);
      if (payload && options.chunked) {
        req.write(payload.subarray(0, 7));
        req.end(payload.subarray(7));
      } else req.end(payload);
    });
  return { http, logs, server, send };
}

beforeAll(async () => {
  t = await startTestServer();
  for (let i = 0; i < 12; i++) csrs.push(await makeCsr(`lean-dev-${i}`));
  const spec = loadApiSpec();
  const leanOnly = (http: HttpApp) =>
    leanListener(
      http.routes,
      {
        tokens: t.services.tokens,
        stepUp: t.services.stepUp,
        spec,
        logger: http.logger,
        metrics: http.metrics,
        isDraining: () => false,
        auditContext: t.services.auditContext,
        refusals: t.services.refusals,
      },
      (_req, res) => {
        res.statusCode = LEFT_TO_EXPRESS;
        res.end();
      },
    );
  lean = await listen(leanOnly);
  leanB = await listen(leanOnly);
  express = await listen((http) => http.app);
});
afterAll(async () => {
  for (const l of [lean, leanB, express]) if (l) await new Promise((resolve) => l.server.close(resolve));
  await t?.close();
});

function expectProblem(reply: Plain, status: number, code: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
  expect(reply.json).toMatchObject({ type: `urn:dpki:problem:${code}`, status, code, instance: reply.headers["x-request-id"] });
  expect(reply.headers["x-content-type-options"]).toBe("nosniff");
  expect(reply.headers["cache-control"]).toBe("no-store");
}

describe("POST /v1/certificates on the lean path", () => {
  it("issues: 201, Location, the issued certificate with its PEM and chain", async () => {
    const r = await lean.send("POST", "/v1/certificates", { token: t.tokens.operator, body: { csr: csr(), profile: "device" } });
    expect(r.status, r.text).toBe(201);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers.location).toBe(`/v1/certificates/${r.json.certificate.serial}`);
    expect(r.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers["cache-control"]).toBe("no-store");
    expect(Object.keys(r.json).sort()).toEqual(["certificate", "chainPem", "pem"]);
    expect(r.json.certificate).toMatchObject({
      status: "good",
      profile: "device",
      requester: "token:t-operator",
      commonName: expect.stringMatching(/^lean-dev-/),
    });
    expect(r.json.pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // A chunked body is read the same way.
    const chunked = await lean.send("POST", "/v1/certificates", {
      token: t.tokens.admin,
      body: { csr: csr(), profile: "device" },
      chunked: true,
    });
    expect(chunked.status, chunked.text).toBe(201);
  });

  it("refuses a missing token with 401 and WWW-Authenticate, a bad one before reading the route", async () => {
    const before = await stateCounts(t.services);
    const none = await lean.send("POST", "/v1/certificates", { body: { csr: csrs[0], profile: "device" } });
    expectProblem(none, 401, "unauthorized");
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="dpki"');
    const bad = await lean.send("POST", "/v1/certificates", {
      headers: { authorization: "Bearer nope" },
      body: { csr: csrs[0], profile: "device" },
    });
    expectProblem(bad, 401, "unauthorized");
    expect(bad.headers["www-authenticate"]).toBe('Bearer realm="dpki", error="invalid_token"');
    expect(await stateCounts(t.services)).toEqual(before);
  });

  it("refuses a role that may not issue, and a factory token outside its profiles, with 403", async () => {
    const auditor = await lean.send("POST", "/v1/certificates", { token: t.tokens.auditor, body: { csr: csrs[0], profile: "device" } });
    expectProblem(auditor, 403, "forbidden");
    expect(auditor.json.detail).toBe("A auditor token may not call this endpoint (allowed: admin, operator, factory)");
    const outside = await lean.send("POST", "/v1/certificates", { token: t.tokens.factory, body: { csr: csrs[0], profile: "server" } });
    expectProblem(outside, 403, "forbidden");
    expect(outside.json.context).toEqual({ allowedProfiles: ["device"] });
  });

  it("refuses bodies that are not JSON objects, too large, or not what openapi.yaml describes, naming the field", async () => {
    const before = await stateCounts(t.services);
    const token = t.tokens.admin;
    const invalid = await lean.send("POST", "/v1/certificates", { token, body: '{"csr": "x", "profile": ' });
    expectProblem(invalid, 400, "bad_request");
    expect(invalid.json.detail).toBe("Cannot parse request body: invalid JSON");
    expectProblem(await lean.send("POST", "/v1/certificates", { token, body: '"just a string"' }), 400, "bad_request");

    const large = await lean.send("POST", "/v1/certificates", { token, body: { csr: "A".repeat(70 * 1024), profile: "device" } });
    expectProblem(large, 413, "payload_too_large");
    expect(large.json.context).toEqual({ limit: 65536 });
    const largeChunked = await lean.send("POST", "/v1/certificates", {
      token,
      body: { csr: "A".repeat(70 * 1024), profile: "device" },
      chunked: true,
    });
    expectProblem(largeChunked, 413, "payload_too_large");

    const fields: Array<[unknown, string, string]> = [
      [{ profile: "device" }, "/body/csr", "must have required property 'csr'"],
      [{ csr: "x", profile: "device", colour: "red" }, "/body/colour", "must NOT have additional properties"],
      [{ csr: "x", profile: 7 }, "/body/profile", "must be string"],
      [{ csr: "x", profile: "device", validity: "forever" }, "/body/validity", 'must match pattern "^[0-9]{1,9}[smhdy]$"'],
      [[{ csr: "x", profile: "device" }], "/body", "must be object"],
    ];
    for (const [body, path, message] of fields) {
      const r = await lean.send("POST", "/v1/certificates", { token, body });
      expectProblem(r, 400, "bad_request");
      expect(r.json.context).toEqual({ errors: [{ path, message }] });
      expect(r.json.detail).toBe(`Invalid request: ${path.slice(1).replace(/\//g, ".")} ${message}`);
    }
    expect(await stateCounts(t.services)).toEqual(before);
  });

  it("leaves other content types, encodings and query strings to express, which answers as before", async () => {
    const body = { csr: csrs[0], profile: "device" };
    const token = t.tokens.admin;
    for (const send of [
      () => lean.send("POST", "/v1/certificates", { token, body, headers: { "content-type": "text/plain" } }),
      () => lean.send("POST", "/v1/certificates?x=1", { token, body }),
      () => lean.send("PUT", "/v1/certificates", { token, body }),
      () => lean.send("POST", "/v1/certificates/", { token, body }),
    ]) {
      expect((await send()).status).toBe(LEFT_TO_EXPRESS);
    }
    // Through the whole server (lean path in front of express).
    const before = await stateCounts(t.services);
    const text = await t.request("POST", "/v1/certificates", {
      token,
      body: JSON.stringify(body),
      headers: { "content-type": "text/plain" },
    });
    expectProblem(text, 415, "unsupported_media_type");
    const query = await t.request("POST", "/v1/certificates?x=1", { token, body });
    expectProblem(query, 400, "bad_request");
    const put = await t.request("PUT", "/v1/certificates", { token, body });
    expectProblem(put, 405, "method_not_allowed");
    expect(put.headers.allow).toBe("POST, GET, HEAD");
    expect(await stateCounts(t.services)).toEqual(before);
  });

  it("answers a used-up daily quota with 429 and Retry-After", async () => {
    const { secret } = await t.services.tokens.create({ role: "factory", name: "lean-q", profiles: ["device"], quotaPerDay: 1 }, "test");
    expect((await lean.send("POST", "/v1/certificates", { token: secret, body: { csr: csr(), profile: "device" } })).status).toBe(201);
    const over = await lean.send("POST", "/v1/certificates", { token: secret, body: { csr: csrs[0], profile: "device" } });
    expectProblem(over, 429, "quota_exceeded");
    expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(over.headers["retry-after"])).toBeLessThanOrEqual(86_400);
  });

  it("echoes a well-formed X-Request-Id, and writes one access-log line and the request metrics", async () => {
    const r = await lean.send("POST", "/v1/certificates", {
      token: t.tokens.factory,
      body: { csr: csr(), profile: "device" },
      headers: { "x-request-id": "line-4.lean:17" },
    });
    expect(r.status).toBe(201);
    expect(r.headers["x-request-id"]).toBe("line-4.lean:17");
    const odd = await lean.send("POST", "/v1/certificates", { token: t.tokens.factory, body: {}, headers: { "x-request-id": "<x>" } });
    expect(odd.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(odd.json.instance).toBe(odd.headers["x-request-id"]);

    const lines = lean.logs.map((l) => JSON.parse(l)).filter((l) => l.reqId === "line-4.lean:17");
    expect(lines).toEqual([
      {
        time: expect.any(String),
        level: "info",
        msg: "request",
        reqId: "line-4.lean:17",
        method: "POST",
        path: "/v1/certificates",
        route: "/v1/certificates",
        status: 201,
        ms: expect.any(Number),
        actor: "token:t-factory",
      },
    ]);
    expect(lean.logs.map((l) => JSON.parse(l)).find((l) => l.reqId === odd.headers["x-request-id"])).toMatchObject({
      status: 400,
      code: "bad_request",
      actor: "token:t-factory",
    });
    expect(lean.logs.join("")).not.toContain(t.tokens.factory);
    const metrics = await lean.http.metrics.registry.metrics();
    expect(metrics).toMatch(/dpki_http_requests_total\{method="POST",route="\/v1\/certificates",status="201"\} [1-9]/);
    expect(metrics).toMatch(/dpki_http_request_duration_seconds_count\{method="POST",route="\/v1\/certificates"\} [1-9]/);
    expect(metrics).toMatch(/dpki_certificates_issued_total\{profile="device"\} [1-9]/);
    expect(metrics).toMatch(/dpki_http_errors_total\{code="bad_request"\} [1-9]/);
    // A bad token is refused before the route is known, as in express.
    expect(metrics).toMatch(/dpki_http_requests_total\{method="POST",route="unmatched",status="401"\} [1-9]/);
  });
});

describe("the lean path answers exactly as express does", () => {
  let ocspRequest: Buffer;
  const sas = "SharedAccessSignature sr=lean-hub.example.net%2Fdevices%2Fd1&sig=abc&se=1893456000";
  beforeAll(async () => {
    const issued = await t.services.issuance.issue({ csr: await makeCsr("lean-ocsp"), profile: "device", actor: "test" });
    const leaf = join(t.dir, "lean-leaf.pem");
    const issuer = join(t.dir, "lean-issuer.pem");
    writeFileSync(leaf, pemEncode("CERTIFICATE", issued.der));
    writeFileSync(issuer, pemEncode("CERTIFICATE", (await t.services.ca.activeIssuer()).ca.certDer));
    const out = join(t.dir, "lean-ocsp.der");
    const made = await opensslAsync(["ocsp", "-issuer", issuer, "-cert", leaf, "-no_nonce", "-reqout", out]);
    expect(made.status, made.stderr).toBe(0);
    ocspRequest = readFileSync(out);
    const admin = t.tokens.admin;
    expect((await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: "0ne00LEAN1", description: "lean" } })).status).toBe(
      201,
    );
    for (const [name, hostName] of [
      ["hub-1", "lean-hub.example.net"],
      ["hub-2", "lean-hub-2.example.net"],
    ]) {
      const hub = await t.request("POST", "/v1/scopes/0ne00LEAN1/hubs", { token: admin, body: { name, hostName } });
      expect(hub.status, hub.text).toBe(201);
    }
  });

  /** What may differ between two answers to the same request: request ids, times, certificates. */
  const normalise = (r: Plain) => {
    const { date: _date, "x-request-id": _id, "keep-alive": _ka, ...headers } = r.headers;
    if (r.status === 201 || r.status === 200) delete headers["content-length"];
    if (headers["retry-after"]) headers["retry-after"] = "<seconds>";
    if (headers.location) headers.location = String(headers.location).replace(/[0-9a-f]{32}$/, "<serial>");
    if (headers["content-type"] === "application/ocsp-response" && r.text.length > 16) {
      delete headers["content-length"];
      for (const name of ["last-modified", "expires", "etag"]) if (headers[name]) headers[name] = "<varies>";
      return { status: r.status, headers, text: "<signed OCSP response>" };
    }
    const text = r.text
      .replace(/"instance":"[^"]+"/, '"instance":"<id>"')
      .replace(/-----BEGIN [A-Z ]+-----[^"]*?-----END [A-Z ]+-----(\\n)?/g, "<pem>")
      .replace(/\b[0-9a-f]{32,64}\b/g, "<hex>")
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>")
      .replace(/lean-dev-[a-z0-9]+/g, "<cn>")
      .replace(/lean-quota-[ab]/g, "<quota>");
    return { status: r.status, headers, text };
  };
  const requestLog = (l: Listener) =>
    l.logs
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === "request")
      .map(({ method, path, route, status, actor, code }) => ({
        method,
        path,
        route,
        status,
        actor: actor?.replace(/lean-quota-[ab]/, "<quota>"),
        code,
      }));
  const requestMetrics = async (l: Listener) =>
    (await l.http.metrics.registry.metrics())
      .split("\n")
      .filter((m) =>
        /^dpki_(http_requests_total|http_request_duration_seconds_count|http_errors_total|certificates_issued_total|issuance_failures_total|ocsp_responses_total)/.test(
          m,
        ),
      );

  it("for the same requests, good and bad (issuance, batch, OCSP, device-auth): status, headers, body, log line and metrics", async () => {
    const big = "A".repeat(70 * 1024);
    const quotaToken = async (name: string) =>
      (await t.services.tokens.create({ role: "factory", name, profiles: ["device"], quotaPerDay: 1 }, "test")).secret;
    type Case = (
      csr: string,
      quota: string,
    ) => [string, { token?: string; body?: unknown; headers?: Record<string, string>; chunked?: boolean }];
    const cases: Case[] = [
      (c) => ["/v1/certificates", { token: t.tokens.admin, body: { csr: c, profile: "device", validity: "30d" } }],
      (c) => ["/v1/certificates", { token: t.tokens.admin, body: Buffer.from(`\ufeff${JSON.stringify({ csr: c, profile: "device" })}`) }],
      (c) => [
        "/v1/certificates",
        { token: t.tokens.admin, body: { csr: c, profile: "device" }, headers: { "content-type": "application/json; charset=utf-8" } },
      ],
      (c) => ["/v1/certificates", { body: { csr: c, profile: "device" } }],
      (c) => ["/v1/certificates", { headers: { authorization: "Basic x" }, body: { csr: c, profile: "device" } }],
      (c) => ["/v1/certificates", { token: "dpki_0000000000000000_x", body: { csr: c, profile: "device" } }],
      (c) => ["/v1/certificates", { token: t.tokens.hub, body: { csr: c, profile: "device" } }],
      (c) => ["/v1/certificates", { token: t.tokens.factory, body: { csr: c, profile: "server" } }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: "" }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: "   " }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: "null" }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: "{bad" }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: { csr: big, profile: "device" } }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: { csr: big, profile: "device" }, chunked: true }],
      () => ["/v1/certificates", { body: { csr: big, profile: "device" } }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: { csr: "", profile: "device" } }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: { csr: "x", profile: "-x", a: 1 } }],
      () => ["/v1/certificates", { token: t.tokens.admin, body: { csr: "hello", profile: "device" } }],
      (c) => ["/v1/certificates", { token: t.tokens.admin, body: { csr: c, profile: "nope" } }],
      (c, quota) => ["/v1/certificates", { token: quota, body: { csr: c, profile: "device" } }],
      (c, quota) => ["/v1/certificates", { token: quota, body: { csr: c, profile: "device" } }],
      () => ["/v1/certificates/batch", { token: t.tokens.admin, body: { items: [] } }],
      () => ["/v1/certificates/batch", { token: t.tokens.admin, body: { items: [{ csr: "x" }] } }],
      (c) => [
        "/v1/certificates/batch",
        {
          token: t.tokens.admin,
          body: {
            items: [
              { csr: c, profile: "device" },
              { csr: "bad", profile: "device" },
            ],
          },
        },
      ],
      (c) => ["/v1/certificates/batch", { token: t.tokens.factory, body: { items: [{ csr: c, profile: "gateway" }] } }],
      () => [
        "/v1/certificates/batch",
        { token: t.tokens.operator, body: { items: Array.from({ length: 90 }, () => ({ csr: "B".repeat(50_000), profile: "device" })) } },
      ],
      () => ["/ocsp", { headers: { "content-type": "application/ocsp-request" }, body: ocspRequest }],
      () => ["/ocsp", { headers: { "content-type": "application/ocsp-request" }, body: ocspRequest, chunked: true }],
      () => ["/ocsp", { headers: { "content-type": "application/ocsp-request" }, body: Buffer.from("not DER") }],
      () => ["/ocsp", { headers: { "content-type": "application/ocsp-request" }, body: Buffer.alloc(0) }],
      () => ["/ocsp", { headers: { "content-type": "application/ocsp-request" }, body: Buffer.alloc(20_000, 1) }],
      () => ["/ocsp", { token: "nope", headers: { "content-type": "application/ocsp-request" }, body: ocspRequest }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/lean-hub.example.net/device-auth", { token: t.tokens.hub, body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: { certificateChain: ["AAAA"] } }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: {} }],
      () => ["/v1/hubs/hub-2/device-auth", { token: t.tokens.hub, body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/hub-9/device-auth", { token: t.tokens.admin, body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/hub-1/device-auth", { body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.factory, body: { deviceId: "d1", sasToken: sas } }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: { deviceId: 5, sasToken: sas, x: 1 } }],
      () => ["/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: { deviceId: "d", sasToken: "x".repeat(70 * 1024) } }],
    ];
    const quotas = [await quotaToken("lean-quota-a"), await quotaToken("lean-quota-b")];
    for (const make of cases) {
      const [path, options] = make(await makeCsr("lean-dev-a"), quotas[0]!);
      const viaLean = await leanB.send("POST", path, options);
      const [, again] = make(await makeCsr("lean-dev-b"), quotas[1]!);
      const viaExpress = await express.send("POST", path, again);
      const what = `${path} ${JSON.stringify(options).slice(0, 160)}`;
      expect(viaLean.status, what).not.toBe(LEFT_TO_EXPRESS);
      expect(normalise(viaLean), what).toEqual(normalise(viaExpress));
    }
    expect(requestLog(leanB)).toEqual(requestLog(express));
    expect(requestLog(leanB)).toHaveLength(cases.length);
    expect(await requestMetrics(leanB)).toEqual(await requestMetrics(express));
  });

  it("leaves percent-encoded or invalid path parameters to express", async () => {
    const body = { deviceId: "d1", sasToken: sas };
    for (const hub of ["hub%2D1", "-hub", "h".repeat(254)]) {
      expect((await lean.send("POST", `/v1/hubs/${hub}/device-auth`, { token: t.tokens.hub, body })).status).toBe(LEFT_TO_EXPRESS);
    }
    expect((await t.request("POST", "/v1/hubs/hub%2D1/device-auth", { token: t.tokens.hub, body })).json.reason).toBe("unknown_device");
    const invalid = await t.request("POST", "/v1/hubs/-hub/device-auth", { token: t.tokens.hub, body });
    expectProblem(invalid, 400, "bad_request");
    expect(invalid.json.context.errors[0].path).toBe("/params/hub");
  });

  it("takes gzip-encoded JSON through express (the lean path reads only plain bodies)", async () => {
    const body = gzipSync(JSON.stringify({ csr: csr(), profile: "device" }));
    const headers = { "content-type": "application/json", "content-encoding": "gzip" };
    expect((await lean.send("POST", "/v1/certificates", { token: t.tokens.admin, body, headers })).status).toBe(LEFT_TO_EXPRESS);
    const r = await t.request("POST", "/v1/certificates", { token: t.tokens.admin, body, headers });
    expect(r.status, r.text).toBe(201);
  });
});
