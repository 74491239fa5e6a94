import { createPrivateKey, sign, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsr } from "../../ca/csr.js";
import { pemEncode } from "../../ca/pem.js";
import { dpkiAsync } from "../helpers/cli.js";
import { opensslAsync } from "../helpers/openssl-async.js";
import { startTestServer, stateCounts, type TestServer } from "../http/harness.js";

const DAY = 86_400_000;
let t: TestServer;
let dir: string;

/** A key and CSR made by openssl; returns the file paths and the CSR PEM. */
async function csr(name: string, subject: string, san?: string, key?: string): Promise<{ key: string; csr: string; pem: string }> {
  const keyFile = key ?? join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const args = key
    ? ["req", "-new", "-key", key, "-subj", subject, "-out", csrFile]
    : [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyFile,
        "-subj",
        subject,
        "-out",
        csrFile,
      ];
  if (san) args.push("-addext", `subjectAltName=${san}`);
  const r = await opensslAsync(args);
  expect(r.status, r.stderr).toBe(0);
  return { key: keyFile, csr: csrFile, pem: readFileSync(csrFile, "utf8") };
}

async function issue(name: string, validity?: string) {
  const c = await csr(name, `/CN=${name}`, `DNS:${name}.devices.example.net`);
  const res = await t.request("POST", "/v1/certificates", {
    token: t.tokens.operator,
    body: { csr: c.pem, profile: "device", ...(validity ? { validity } : {}) },
  });
  expect(res.status, res.text).toBe(201);
  writeFileSync(join(dir, `${name}.pem`), res.json.pem);
  return {
    ...c,
    serial: res.json.certificate.serial as string,
    sha256: res.json.certificate.sha256 as string,
    file: join(dir, `${name}.pem`),
  };
}

function ocspStatus(certFile: string) {
  const issuer = join(dir, "issuer.pem");
  return opensslAsync([
    "ocsp",
    "-issuer",
    issuer,
    "-cert",
    certFile,
    "-url",
    `https://127.0.0.1:${t.server.port}/ocsp`,
    "-CAfile",
    t.rootPemFile,
  ]);
}

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), "dpki-renew-"));
  mkdirSync(join(base, "data"), { recursive: true });
  writeFileSync(join(base, "data", "config.json"), JSON.stringify({ renewalGrace: "1h", expiredRenewalWindow: "30d" }));
  t = await startTestServer({ dir: base });
  dir = t.dir;
  writeFileSync(join(dir, "issuer.pem"), pemEncode("CERTIFICATE", (await t.services.ca.activeIssuer()).ca.certDer));
});
afterAll(() => t?.close());

describe("certificate renewal (POST /v1/certificates/{id}/renew, dpki cert renew)", () => {
  it("issues the same identity, keeps the old one good for the grace period, then revokes it as superseded", async () => {
    const old = await issue("renew-1");
    const next = await csr("renew-1-next", "/CN=renew-1", "DNS:renew-1.devices.example.net");
    const res = await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: next.pem } });
    expect(res.status, res.text).toBe(201);
    expect(res.json.certificate).toMatchObject({
      subject: "CN=renew-1",
      subjectAltNames: ["dns:renew-1.devices.example.net"],
      profile: "device",
    });
    expect(res.json.previous.serial).toBe(old.serial);
    expect(Date.parse(res.json.previous.supersededAt) - Date.now()).toBeGreaterThan(3500_000);
    expect(res.json.expiredRenewal).toBe(false);
    expect((await ocspStatus(old.file)).stdout).toContain(": good");

    // An hour later the old certificate is superseded: OCSP says so at once, the sweeper writes it down.
    t.clock.offsetMs = 3_700_000;
    try {
      const at = ["-attime", String(Math.floor(t.clock.now().getTime() / 1000)), "-validity_period", "7200"];
      const o = await opensslAsync([
        "ocsp",
        "-issuer",
        join(dir, "issuer.pem"),
        "-cert",
        old.file,
        "-url",
        `https://127.0.0.1:${t.server.port}/ocsp`,
        "-CAfile",
        t.rootPemFile,
        ...at,
      ]);
      expect(o.stdout).toContain(": revoked");
      expect(o.stdout).toContain("Reason: superseded");
      await t.services.lifecycle.renewals.sweep();
      const shown = await t.request("GET", `/v1/certificates/${old.serial}`, { token: t.tokens.auditor });
      expect(shown.json).toMatchObject({ status: "revoked", revocationReason: "superseded", revokedAt: res.json.previous.supersededAt });
      const log = await t.request("GET", `/v1/audit?order=oldest&serial=${old.serial}`, { token: t.tokens.auditor });
      expect(log.json.items.map((e: { action: string }) => e.action)).toEqual(["cert.issue", "cert.renew", "cert.revoke"]);
      expect(log.json.items[2].details).toMatchObject({ reason: "superseded", renewedBy: res.json.certificate.serial });
      const renewedAgain = await t.request("POST", `/v1/certificates/${old.serial}/renew`, {
        token: t.tokens.operator,
        body: { csr: next.pem },
      });
      expect(renewedAgain.status).toBe(409);
    } finally {
      t.clock.offsetMs = 0;
    }
  });

  it("refuses another identity, a revoked certificate and the wrong roles, changing nothing", async () => {
    const old = await issue("renew-2");
    const before = await stateCounts(t.services);
    const other = await csr("renew-2-other", "/CN=someone-else", "DNS:renew-2.devices.example.net");
    const r1 = await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: other.pem } });
    expect(r1.status).toBe(422);
    expect(r1.json.detail).toMatch(/keeps the identity/);
    const noSan = await csr("renew-2-nosan", "/CN=renew-2");
    expect(
      (await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: noSan.pem } })).status,
    ).toBe(422);
    expect(
      (await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.factory, body: { csr: noSan.pem } })).status,
    ).toBe(403);
    expect((await t.request("POST", `/v1/certificates/${old.serial}/renew`, { body: { csr: noSan.pem } })).status).toBe(401);
    expect(
      (await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: noSan.pem, extra: 1 } }))
        .status,
    ).toBe(400);
    expect(await stateCounts(t.services)).toEqual(before);
    await t.services.certificates.revoke(old.serial, "keyCompromise", "test");
    const same = await csr("renew-2-same", "/CN=renew-2", "DNS:renew-2.devices.example.net");
    const r2 = await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: same.pem } });
    expect(r2.status).toBe(409);
    expect(r2.json.code).toBe("already_revoked");
  });

  it("renews an expired certificate only inside the window and only with proof of possession, flagged in the log", async () => {
    const old = await issue("renew-3", "1d");
    const fresh = await csr("renew-3-next", "/CN=renew-3", "DNS:renew-3.devices.example.net");
    t.clock.offsetMs = 3 * DAY; // expired two days ago
    try {
      const noProof = await t.request("POST", `/v1/certificates/${old.serial}/renew`, {
        token: t.tokens.operator,
        body: { csr: fresh.pem },
      });
      expect(noProof.status).toBe(403);
      expect(noProof.json.detail).toMatch(/proof of possession/);
      const stranger = createPrivateKey(readFileSync((await csr("stranger", "/CN=x")).key));
      const der = parseCsr(fresh.pem).der;
      const badProof = sign("sha256", der, stranger).toString("base64");
      expect(
        (
          await t.request("POST", `/v1/certificates/${old.serial}/renew`, {
            token: t.tokens.operator,
            body: { csr: fresh.pem, proof: badProof },
          })
        ).status,
      ).toBe(403);

      const proof = sign("sha256", der, createPrivateKey(readFileSync(old.key))).toString("base64");
      const ok = await t.request("POST", `/v1/certificates/${old.serial}/renew`, {
        token: t.tokens.operator,
        body: { csr: fresh.pem, proof },
      });
      expect(ok.status, ok.text).toBe(201);
      expect(ok.json.expiredRenewal).toBe(true);
      const log = await t.request("GET", `/v1/audit?order=oldest&serial=${old.serial}&action=cert.renew`, { token: t.tokens.auditor });
      expect(log.json.items[0].details).toMatchObject({ expiredRenewal: true, renewedBy: ok.json.certificate.serial });
      const issued = await t.request("GET", `/v1/audit?order=oldest&serial=${ok.json.certificate.serial}`, { token: t.tokens.auditor });
      expect(issued.json.items[0].details).toMatchObject({ renewalOf: old.serial, expiredRenewal: true });
      // An expired certificate is superseded at once.
      expect((await t.request("GET", `/v1/certificates/${old.serial}`, { token: t.tokens.auditor })).json.revocationReason).toBe(
        "superseded",
      );
    } finally {
      t.clock.offsetMs = 0;
    }

    // Same key (the CSR itself proves possession), but past the 30-day window: refused.
    const late = await issue("renew-4", "1d");
    const sameKey = await csr("renew-4-next", "/CN=renew-4", "DNS:renew-4.devices.example.net", late.key);
    t.clock.offsetMs = 40 * DAY;
    try {
      const closed = await t.request("POST", `/v1/certificates/${late.serial}/renew`, {
        token: t.tokens.operator,
        body: { csr: sameKey.pem },
      });
      expect(closed.status).toBe(403);
      expect(closed.json.detail).toMatch(/renewal window closed/);
      t.clock.offsetMs = 10 * DAY;
      const inside = await t.request("POST", `/v1/certificates/${late.serial}/renew`, {
        token: t.tokens.operator,
        body: { csr: sameKey.pem },
      });
      expect(inside.status, inside.text).toBe(201);
      expect(inside.json.expiredRenewal).toBe(true);
    } finally {
      t.clock.offsetMs = 0;
    }
  });

  it("refuses to renew a certificate that already has a successor, naming it, on the API and the CLI", async () => {
    const old = await issue("renew-6");
    const next = await csr("renew-6-next", "/CN=renew-6", "DNS:renew-6.devices.example.net");
    const first = await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: next.pem } });
    expect(first.status, first.text).toBe(201);
    const successor = first.json.certificate.serial as string;
    const before = await stateCounts(t.services);
    const again = await t.request("POST", `/v1/certificates/${old.serial}/renew`, { token: t.tokens.operator, body: { csr: next.pem } });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: "conflict", context: { successor } });
    expect(again.json.detail).toContain(`its successor is ${successor}`);
    const cli = await dpkiAsync([
      "--server",
      t.url,
      "--token",
      t.tokens.operator,
      "--ca-file",
      t.rootPemFile,
      "cert",
      "renew",
      old.serial,
      "--csr",
      next.csr,
    ]);
    expect(cli.status).toBe(75);
    expect(cli.stderr).toContain(`its successor is ${successor}`);
    expect(await stateCounts(t.services)).toEqual(before);
    // The successor itself renews as usual.
    const third = await t.request("POST", `/v1/certificates/${successor}/renew`, { token: t.tokens.operator, body: { csr: next.pem } });
    expect(third.status, third.text).toBe(201);
  });

  it("works from the CLI against the server, proving possession with --old-key locally", async () => {
    const old = await issue("renew-5");
    const next = await csr("renew-5-next", "/CN=renew-5", "DNS:renew-5.devices.example.net");
    const out = join(dir, "renew-5-new.pem");
    const r = await dpkiAsync([
      "--server",
      t.url,
      "--token",
      t.tokens.operator,
      "--ca-file",
      t.rootPemFile,
      "cert",
      "renew",
      old.serial,
      "--csr",
      next.csr,
      "--old-key",
      old.key,
      "--out",
      out,
      "--chain",
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Renewed ${old.serial} as [0-9a-f]+ \\(CN=renew-5\\)`));
    const pem = readFileSync(out, "utf8");
    expect(new X509Certificate(pem).subject).toBe("CN=renew-5");
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });
});
