import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLogger, silentLogger } from "../../src/http/logger.js";
import { startServer } from "../../src/http/server.js";
import { makeCsr, startTestServer, type TestServer } from "./harness.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

/** Runs a shell pipeline without blocking the event loop (the server answering curl lives in this process). */
function sh(script: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", script]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

describe("dpki serve", () => {
  it("serves a CRL that curl (trusting root.pem) and openssl accept, listing revoked certificates", async () => {
    const issued = await t.request("POST", "/v1/certificates", {
      token: t.tokens.operator,
      body: { csr: await makeCsr("crl-dev"), profile: "device" },
    });
    const serial = issued.json.certificate.serial as string;
    await t.request("POST", `/v1/certificates/${serial}/revoke`, { token: t.tokens.operator, body: { reason: "keyCompromise" } });
    const url = `https://localhost:${t.server.port}`;
    const plain = await sh(`curl -sS --fail --cacert ${t.rootPemFile} ${url}/v1/crl | openssl crl -inform DER -noout`);
    expect(plain.status, plain.stderr).toBe(0);
    const text = await sh(`curl -sS --fail --cacert ${t.rootPemFile} ${url}/v1/crl | openssl crl -inform DER -noout -text`);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.toLowerCase()).toContain(serial.toUpperCase().toLowerCase());
    expect(text.stdout).toContain("Key Compromise");
    // The PEM form, and the chain verifying the server's own certificate with openssl.
    const pem = await sh(`curl -sS --fail --cacert ${t.rootPemFile} ${url}/v1/crl.pem | openssl crl -noout -crlnumber`);
    expect(pem.status, pem.stderr).toBe(0);
    const chain = await t.request("GET", "/v1/ca/chain");
    expect(chain.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
    // The issuing CA only: the root comes from root.pem, never from a served chain.
    expect(chain.text.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
  });

  it("answers conditional CRL requests with 304 until the CRL changes", async () => {
    const first = await t.request("GET", "/v1/crl");
    expect(first.headers["content-type"]).toBe("application/pkix-crl");
    const etag = first.headers.etag as string;
    expect((await t.request("GET", "/v1/crl", { headers: { "if-none-match": etag } })).status).toBe(304);
    const json = await t.request("GET", "/v1/crl", { headers: { accept: "application/json" } });
    expect(json.json).toMatchObject({ issuer: expect.stringMatching(/^int-/), entries: expect.any(Number) });
    const pem = await t.request("GET", "/v1/crl", { headers: { accept: "application/x-pem-file" } });
    expect(pem.text).toMatch(/^-----BEGIN X509 CRL-----/);
  });

  it("serves the certificate itself as DER or PEM by Accept", async () => {
    const issued = await t.request("POST", "/v1/certificates", {
      token: t.tokens.admin,
      body: { csr: await makeCsr("accept-dev"), profile: "device" },
    });
    const path = `/v1/certificates/${issued.json.certificate.sha256}`;
    const der = await t.request("GET", path, { token: t.tokens.auditor, headers: { accept: "application/pkix-cert" } });
    expect(der.headers["content-type"]).toBe("application/pkix-cert");
    expect(new X509Certificate(der.body).serialNumber.toLowerCase()).toBe(issued.json.certificate.serial);
    const pem = await t.request("GET", path, { token: t.tokens.auditor, headers: { accept: "application/x-pem-file" } });
    expect(pem.text).toBe(issued.json.pem);
    expect(issued.headers.location).toBe(`/v1/certificates/${issued.json.certificate.serial}`);
  });

  it("never writes a token, a CSR or a key into its logs", async () => {
    const created = await t.request("POST", "/v1/tokens", { token: t.tokens.admin, body: { role: "operator", name: "logged" } });
    const fresh = created.json.secret as string;
    await t.request("GET", "/v1/certificates", { token: fresh });
    await t.request("GET", "/v1/certificates", { token: fresh.slice(0, -2) + "xx" });
    await t.request("GET", "/v1/certificates", { headers: { authorization: `Bearer ${fresh}junk` } });
    await t.request("POST", "/v1/certificates", { token: t.tokens.factory, body: { csr: await makeCsr("log-dev"), profile: "device" } });
    await t.request("POST", "/v1/certificates", { token: t.tokens.factory, body: `{"csr": "${t.tokens.admin}"` });
    await t.request("GET", `/v1/certificates?subject=${encodeURIComponent(t.tokens.auditor)}`, { token: t.tokens.auditor });
    const logs = t.logs.join("");
    expect(t.logs.length).toBeGreaterThan(10);
    for (const secret of [fresh, ...Object.values(t.tokens)]) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.slice(22)); // the secret part alone
    }
    expect(logs).not.toMatch(/BEGIN|PRIVATE|authorization/i);
    // Every line is JSON with the fields an operator filters on.
    const lines = t.logs.map((l) => JSON.parse(l));
    const request = lines.find((l) => l.msg === "request" && l.actor === "token:logged");
    expect(request).toMatchObject({ level: "info", method: "GET", route: "/v1/certificates", status: 200, reqId: expect.any(String) });
    expect(lines.find((l) => l.status === 401)).toMatchObject({ code: "unauthorized" });
  });

  it("exposes health, readiness and Prometheus metrics", async () => {
    expect((await t.request("GET", "/healthz")).json).toEqual({ status: "ok" });
    expect((await t.request("GET", "/readyz")).json).toEqual({ status: "ready" });
    const metrics = (await t.request("GET", "/metrics")).text;
    expect(metrics).toMatch(/dpki_certificates_issued_total\{profile="device"\} [1-9]/);
    expect(metrics).toMatch(/dpki_certificates_revoked_total\{reason="keyCompromise"\} 1/);
    expect(metrics).toMatch(/dpki_http_request_duration_seconds_bucket\{le="0.005",method="POST",route="\/v1\/certificates"\}/);
    expect(metrics).toMatch(/dpki_http_errors_total\{code="unauthorized"\} [1-9]/);
  });

  it("keeps its TLS key encrypted and 0600, and reuses its certificate across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dpki-restart-"));
    try {
      const first = await startTestServer({ dir, keepDir: true });
      const keyFile = join(dir, "data", "tls", "server.key.pem");
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(keyFile, "utf8")).toContain("BEGIN ENCRYPTED PRIVATE KEY");
      const serial = JSON.parse(first.logs.find((l) => l.includes("issued server certificate"))!).serial;
      await first.close();
      const second = await startTestServer({ dir, keepDir: true });
      const reused = JSON.parse(second.logs.find((l) => l.includes("server certificate"))!);
      expect(reused).toMatchObject({ msg: "reusing server certificate", serial });
      // Revoking it makes the next start issue a new one.
      await second.services.certificates.revoke(serial, "superseded", "test");
      await second.close();
      const third = await startTestServer({ dir, keepDir: true });
      const renewed = JSON.parse(third.logs.find((l) => l.includes("server certificate"))!);
      expect(renewed.msg).toBe("issued server certificate");
      expect(renewed.serial).not.toBe(serial);
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves with an operator-given certificate, and plain HTTP only when asked", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dpki-tls-"));
    try {
      const made = await sh(
        `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${dir}/k.pem -out ${dir}/c.pem ` +
          `-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null`,
      );
      expect(made.status).toBe(0);
      const given = await startServer(t.services, {
        port: 0,
        tls: { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) },
        logger: silentLogger,
      });
      const viaGiven = await sh(`curl -sS --fail --cacert ${dir}/c.pem ${given.url}/healthz`);
      await given.close();
      expect(viaGiven.stdout).toBe('{"status":"ok"}');
      const lines: string[] = [];
      const plain = await startServer(t.services, { port: 0, tls: "none", logger: jsonLogger((l) => lines.push(l)) });
      expect(plain.url).toMatch(/^http:\/\//);
      const viaPlain = await sh(`curl -sS --fail ${plain.url}/v1/crl | openssl crl -inform DER -noout`);
      await plain.close();
      expect(viaPlain.status, viaPlain.stderr).toBe(0);
      expect(lines.some((l) => l.includes('"level":"warn"') && l.includes("plain HTTP"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("drains requests in flight on shutdown, then refuses connections", async () => {
    const s = await startTestServer();
    try {
      const items = await Promise.all(
        Array.from({ length: 40 }, (_, i) => makeCsr(`drain-${i}`).then((csr) => ({ csr, profile: "device" }))),
      );
      const arrived = new Promise((r) => s.server.server.once("request", r));
      const inFlight = s.request("POST", "/v1/certificates/batch", { token: s.tokens.operator, body: { items } });
      await arrived;
      const closing = s.server.close();
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.json.results.every((r: { ok: boolean }) => r.ok)).toBe(true);
      await closing;
      await expect(s.request("GET", "/healthz")).rejects.toThrow();
      expect(s.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    } finally {
      await s.close();
    }
  });
});
