import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { makeCsr, startTestServer, type TestServer } from "../http/harness.js";
import { opensslAsync } from "../helpers/openssl-async.js";

let t: TestServer;
let dir: string;
let port: number;
let issuer: string;
const UNKNOWN = "0x7fee0000000000000000000000000001";

async function issue(cn: string): Promise<{ serial: string; file: string }> {
  const issued = await t.services.issuance.issue({ csr: await makeCsr(cn), profile: "device", actor: "test" });
  const file = join(dir, `${cn}.pem`);
  writeFileSync(file, pemEncode("CERTIFICATE", issued.der));
  return { serial: issued.certificate.serial, file };
}

/** `openssl ocsp` against the running server over HTTPS, trusting only the dpki root. */
function ocsp(args: string[]) {
  return opensslAsync(["ocsp", "-issuer", issuer, ...args, "-url", `https://127.0.0.1:${port}/ocsp`, "-CAfile", t.rootPemFile]);
}

/** An OCSP request exactly as openssl makes it, DER. */
async function opensslRequest(args: string[], name: string): Promise<Buffer> {
  const file = join(dir, name);
  const r = await opensslAsync(["ocsp", "-issuer", issuer, ...args, "-reqout", file]);
  expect(r.status, r.stderr).toBe(0);
  return (await import("node:fs")).readFileSync(file);
}

/** Verifies a response file with openssl and prints the status lines for `certArgs`. */
async function opensslCheck(response: Buffer, certArgs: string[]) {
  const file = join(dir, `resp-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, response);
  return opensslAsync(["ocsp", "-respin", file, "-issuer", issuer, "-CAfile", t.rootPemFile, "-no_nonce", ...certArgs]);
}

beforeAll(async () => {
  t = await startTestServer();
  dir = t.dir;
  port = t.server.port;
  issuer = join(dir, "int.pem");
  writeFileSync(issuer, pemEncode("CERTIFICATE", (await t.services.ca.activeIssuer()).ca.certDer));
});
afterAll(() => t?.close());

describe("OCSP responder (POST /ocsp, GET /ocsp/{request}) against openssl", () => {
  it("answers good, revoked (with reason and time) and unknown, signed by a delegated responder, nonce echoed", async () => {
    const good = await issue("ocsp-good");
    const revoked = await issue("ocsp-revoked");
    await t.services.certificates.revoke(revoked.serial, "keyCompromise", "test");
    const r = await ocsp(["-cert", good.file, "-cert", revoked.file, "-serial", UNKNOWN, "-resp_text"]);
    expect(r.stderr).toContain("Response verify OK");
    expect(r.stdout).toContain(`${good.file}: good`);
    expect(r.stdout).toMatch(
      new RegExp(
        `${revoked.file}: revoked\\n\\s+This Update: .*\\n\\s+Next Update: .*\\n\\s+Reason: keyCompromise\\n\\s+Revocation Time: `,
      ),
    );
    expect(r.stdout).toContain(`${UNKNOWN}: unknown`);
    // The delegated responder: OCSP signing EKU and no-check, issued by the intermediate and sent along.
    expect(r.stdout).toContain("OCSP No Check");
    expect(r.stdout).toContain("OCSP Signing");
    expect(r.stdout).toMatch(/Responder Id: [0-9A-F]{40}/);
    expect(r.stdout).toContain("Response Extensions:\n        OCSP Nonce:");
    expect(r.stderr).not.toContain("WARNING: no nonce in response");
    // Short caching: nextUpdate is thisUpdate + ocspValidity (5 minutes by default).
    const [, thisUpdate, nextUpdate] = /This Update: (.*)\n\s+Next Update: (.*)/.exec(r.stdout)!;
    expect(Date.parse(nextUpdate!) - Date.parse(thisUpdate!)).toBe(5 * 60_000);
  });

  it("sees a revocation in the very next answer (no cache in between)", async () => {
    const cert = await issue("ocsp-live");
    expect((await ocsp(["-cert", cert.file])).stdout).toContain(`${cert.file}: good`);
    await t.services.certificates.revoke(cert.serial, "cessationOfOperation", "test");
    const after = await ocsp(["-cert", cert.file]);
    expect(after.stdout).toContain(`${cert.file}: revoked`);
    expect(after.stdout).toContain("Reason: cessationOfOperation");
  });

  it("answers the GET form, raw or url-encoded base64, with HTTP caching headers; POST with a nonce is not cacheable", async () => {
    const good = await issue("ocsp-get");
    const der = await opensslRequest(["-cert", good.file, "-no_nonce"], "get-req.der");
    const b64 = der.toString("base64");
    for (const path of [`/ocsp/${encodeURIComponent(b64)}`, `/ocsp/${b64}`]) {
      const res = await t.request("GET", path);
      expect(res.status, `${path} ${res.text}`).toBe(200);
      expect(res.headers["content-type"]).toBe("application/ocsp-response");
      expect(res.headers["cache-control"]).toMatch(/^public, max-age=(60|59), no-transform, must-revalidate$/);
      expect(res.headers["last-modified"]).toBeDefined();
      expect(res.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
      const check = await opensslCheck(res.body, ["-cert", good.file]);
      expect(check.stderr).toContain("Response verify OK");
      expect(check.stdout).toContain(`${good.file}: good`);
    }
    // Base64 with a raw "/" in the path (not every client URL-encodes it): still one request.
    let slashed: Buffer | undefined;
    for (let i = 0; i < 64 && !slashed; i++) {
      const der = await opensslRequest(["-serial", `0x7f${(i * 7919).toString(16).padStart(6, "0")}00aa`, "-no_nonce"], "slash-req.der");
      if (der.toString("base64").includes("/")) slashed = der;
    }
    expect(slashed, "no request with a / in its base64 in 64 tries").toBeDefined();
    const raw = await t.request("GET", `/ocsp/${slashed!.toString("base64")}`);
    expect(raw.status).toBe(200);
    expect(raw.body[0]).toBe(0x30);
    expect([...raw.body.subarray(0, 5)]).not.toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]); // not malformedRequest

    const withNonce = await opensslRequest(["-cert", good.file], "nonce-req.der");
    const post = await t.request("POST", "/ocsp", { body: withNonce, headers: { "content-type": "application/ocsp-request" } });
    expect(post.status).toBe(200);
    expect(post.headers["cache-control"]).toBe("no-store");
  });

  it("refuses what it cannot answer with OCSP error statuses, and wrong HTTP input with problem+json", async () => {
    // A CertID for an issuer dpki does not serve: unauthorized (RFC 6960 §2.3).
    const foreign = join(dir, "foreign.pem");
    await opensslAsync([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "foreign.key"),
      "-subj",
      "/CN=Foreign CA",
      "-days",
      "2",
      "-out",
      foreign,
    ]);
    const r = await opensslAsync([
      "ocsp",
      "-issuer",
      foreign,
      "-serial",
      "0x1234",
      "-url",
      `https://127.0.0.1:${port}/ocsp`,
      "-CAfile",
      t.rootPemFile,
    ]);
    expect(r.stdout + r.stderr).toMatch(/Responder Error: unauthorized \(6\)/);

    const garbage = await t.request("POST", "/ocsp", {
      body: Buffer.from("not DER at all"),
      headers: { "content-type": "application/ocsp-request" },
    });
    expect(garbage.status).toBe(200);
    expect([...garbage.body]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]); // malformedRequest
    const badGet = await t.request("GET", "/ocsp/MEow");
    expect([...badGet.body]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]);

    const json = await t.request("POST", "/ocsp", { body: "{}", headers: { "content-type": "application/json" } });
    expect(json.status).toBe(415);
    expect(json.headers["content-type"]).toContain("application/problem+json");
    const big = await t.request("POST", "/ocsp", {
      body: Buffer.alloc(20_000, 0x30),
      headers: { "content-type": "application/ocsp-request" },
    });
    expect(big.status).toBe(413);
  });

  it("needs no token, and counts answers in /metrics", async () => {
    const metrics = await t.request("GET", "/metrics");
    expect(metrics.text).toMatch(/dpki_ocsp_responses_total\{status="successful"\} [1-9]/);
    expect(metrics.text).toMatch(/dpki_ocsp_responses_total\{status="malformedRequest"\} [1-9]/);
  });

  it("renews its responder certificate once a third of its lifetime is left, and logs each one", async () => {
    const cert = await issue("ocsp-renew-signer");
    const signers = async () => (await t.services.audit.list({ action: "ocsp.signer.issue" }, undefined, 100)).items.length;
    const before = await signers();
    expect(before).toBe(1);
    t.clock.offsetMs = 5 * 86_400_000; // 5 of 7 days later
    // openssl judges certificates at the server's (shifted) time and tolerates the shifted thisUpdate.
    const at = ["-attime", String(Math.floor(t.clock.now().getTime() / 1000)), "-validity_period", String(6 * 86_400)];
    try {
      // The current responder answers while a new one is issued in the background.
      const first = await ocsp(["-cert", cert.file, ...at]);
      expect(first.stderr).toContain("Response verify OK");
      expect(first.stdout).toContain(`${cert.file}: good`);
      // Issued in the background: waited for, not given a fixed 300 ms a loaded machine may not keep.
      for (const until = Date.now() + 30_000; Date.now() < until && (await signers()) < 2;) await new Promise((r) => setTimeout(r, 50));
      expect(await signers()).toBe(2);
      const r = await ocsp(["-cert", cert.file, "-resp_text", ...at]);
      expect(r.stderr).toContain("Response verify OK");
      const responders = [...r.stdout.matchAll(/Responder Id: ([0-9A-F]{40})/g)].map((m) => m[1]);
      const previous = [...first.stdout.matchAll(/Responder Id: ([0-9A-F]{40})/g)].map((m) => m[1]);
      expect(responders).not.toEqual(previous.length ? previous : ["none"]);
    } finally {
      t.clock.offsetMs = 0;
    }
  });
});
