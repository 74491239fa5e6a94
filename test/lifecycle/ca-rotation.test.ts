import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { dpkiAsync } from "../helpers/cli.js";
import { pemBlocks } from "../helpers/openssl.js";
import { makeCsr, startTestServer, type TestServer } from "../http/harness.js";
import { opensslAsync } from "../helpers/openssl-async.js";

let t: TestServer;
let dir: string;

interface Issued {
  serial: string;
  issuer: string;
  file: string;
  pem: string;
}

/** Issues over the HTTP API with an operator token, as a client would. */
async function issue(cn: string): Promise<Issued> {
  const res = await t.request("POST", "/v1/certificates", {
    token: t.tokens.operator,
    body: { csr: await makeCsr(cn), profile: "device" },
  });
  expect(res.status, res.text).toBe(201);
  const file = join(dir, `${cn}.pem`);
  writeFileSync(file, res.json.pem);
  return { serial: res.json.certificate.serial, issuer: res.json.certificate.issuer, file, pem: res.json.pem };
}

async function caFile(caId: string): Promise<string> {
  const res = await t.request("GET", `/v1/ca/${caId}/cert.der`);
  expect(res.status).toBe(200);
  const file = join(dir, `${caId}.pem`);
  writeFileSync(file, pemEncode("CERTIFICATE", res.body));
  return file;
}

async function save(name: string, path: string, accept?: string): Promise<string> {
  const res = await t.request("GET", path, accept ? { headers: { accept } } : {});
  expect(res.status, res.text).toBe(200);
  const file = join(dir, name);
  writeFileSync(file, res.body);
  return file;
}

function ocsp(issuerFile: string, certFile: string, more: string[] = []) {
  return opensslAsync([
    "ocsp",
    "-issuer",
    issuerFile,
    "-cert",
    certFile,
    "-url",
    `https://127.0.0.1:${t.server.port}/ocsp`,
    "-CAfile",
    t.rootPemFile,
    ...more,
  ]);
}

beforeAll(async () => {
  t = await startTestServer();
  dir = t.dir;
});
afterAll(() => t?.close());

describe("issuing CA rollover (dpki ca rotate, POST /v1/ca/rotate)", () => {
  let first: Issued;
  let second: Issued;
  let int1: string;
  let int2: string;

  it("puts each issuer's own CRL and certificate URLs into its certificates", async () => {
    first = await issue("rot-dev-1");
    int1 = first.issuer;
    const cert = new X509Certificate(first.pem);
    expect(cert.infoAccess).toContain(`CA Issuers - URI:${t.services.config.publicUrl}/v1/ca/${int1}/cert.der`);
    expect(cert.infoAccess).toContain(`OCSP - URI:${t.services.config.publicUrl}/ocsp`);
    const text = (await opensslAsync(["x509", "-in", first.file, "-noout", "-ext", "crlDistributionPoints"])).stdout;
    expect(text).toContain(`URI:${t.services.config.publicUrl}/v1/ca/${int1}/crl`);
  });

  it("makes a new intermediate the issuer at once; the old one keeps its CRL and OCSP", async () => {
    expect((await t.request("POST", "/v1/ca/rotate", { token: t.tokens.auditor, body: {} })).status).toBe(403);
    const rotated = await t.request("POST", "/v1/ca/rotate", { token: t.tokens.operator, body: {} });
    expect(rotated.status, rotated.text).toBe(201);
    int2 = rotated.json.active.id;
    expect(rotated.json.previous).toMatchObject({ id: int1, status: "retired" });
    expect(rotated.json.active.parentId).toBe(rotated.json.previous.parentId);

    second = await issue("rot-dev-2");
    expect(second.issuer).toBe(int2);

    // Both generations verify against the one root, each with its own issuer's CRL.
    const chain = await save("chain.pem", "/v1/ca/chain");
    const chainPems = pemBlocks((await import("node:fs")).readFileSync(chain, "utf8"));
    expect(chainPems.map((p) => new X509Certificate(p).subject.split("\n").pop())).toEqual([
      "CN=Test Issuing CA 2",
      "CN=Test Issuing CA 1",
    ]);
    const crl1 = await save("int1.crl", `/v1/ca/${int1}/crl`);
    const crl2 = await save("int2.crl", `/v1/ca/${int2}/crl`);
    for (const [cert, crl] of [
      [first.file, crl1],
      [second.file, crl2],
    ] as const) {
      const v = await opensslAsync(["verify", "-CAfile", t.rootPemFile, "-untrusted", chain, "-crl_check", "-CRLfile", crl, cert]);
      expect(v.stdout + v.stderr).toContain(": OK");
    }

    // The retired issuer still answers OCSP for its certificates, through its own delegated responder.
    await t.services.certificates.revoke(first.serial, "keyCompromise", "test");
    const old = await ocsp(await caFile(int1), first.file);
    expect(old.stderr).toContain("Response verify OK");
    expect(old.stdout).toContain(`${first.file}: revoked`);
    const fresh = await ocsp(await caFile(int2), second.file);
    expect(fresh.stderr).toContain("Response verify OK");
    expect(fresh.stdout).toContain(`${second.file}: good`);
    const crl1Now = await save("int1-now.crl", `/v1/ca/${int1}/crl`);
    const revoked = await opensslAsync([
      "verify",
      "-CAfile",
      t.rootPemFile,
      "-untrusted",
      chain,
      "-crl_check",
      "-CRLfile",
      crl1Now,
      first.file,
    ]);
    expect(revoked.stdout + revoked.stderr).toContain("certificate revoked");

    const status = await t.request("GET", "/v1/ca/status", { token: t.tokens.auditor });
    expect(status.json.map((c: { id: string; state: string }) => [c.id, c.state])).toEqual([
      [rotated.json.active.parentId, "active"],
      [int1, "serving"],
      [int2, "active"],
    ]);
    // One vocabulary: GET /v1/ca (`dpki ca list`) says what /v1/ca/status says.
    const list = await t.request("GET", "/v1/ca", { token: t.tokens.auditor });
    expect(list.json.map((c: { id: string; state: string }) => [c.id, c.state])).toEqual(
      status.json.map((c: { id: string; state: string }) => [c.id, c.state]),
    );
  });

  it("can bring a new root, cross-signed by the old one, so devices trusting either root accept new certificates", async () => {
    const rotated = await t.request("POST", "/v1/ca/rotate", { token: t.tokens.admin, body: { newRoot: true, algorithm: "P-384" } });
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.json.root.kind).toBe("root");
    expect(rotated.json.crossCertificate.issuer).toBe(rotated.json.previous.parentId);
    const third = await issue("rot-dev-3");
    expect(third.issuer).toBe(rotated.json.active.id);

    const chain = await save("chain2.pem", "/v1/ca/chain");
    const bundle = await save("bundle.pem", "/v1/ca/trust-bundle");
    const bundlePems = pemBlocks((await import("node:fs")).readFileSync(bundle, "utf8"));
    expect(bundlePems.map((p) => new X509Certificate(p).subject.split("\n").pop())).toEqual(["CN=Test Root CA 2", "CN=Test Root CA"]);
    const newRootFile = join(dir, "root2.pem");
    writeFileSync(newRootFile, bundlePems[0]!);
    const oldRootFile = join(dir, "root1.pem");
    writeFileSync(oldRootFile, t.rootPem);
    // <data-dir>/root.pem follows: both roots, the new one first.
    expect((await import("node:fs")).readFileSync(t.rootPemFile, "utf8")).toBe(bundlePems.join(""));
    // The chain: issuers and the cross certificate, no self-signed root.
    const chainCerts = pemBlocks((await import("node:fs")).readFileSync(chain, "utf8")).map((p) => new X509Certificate(p));
    expect(chainCerts.some((c) => c.subject === c.issuer)).toBe(false);
    expect(chainCerts[0]!.subject).toContain("CN=Test Issuing CA 3");
    expect(chainCerts[1]!.subject).toContain("CN=Test Root CA 2");
    expect(chainCerts[1]!.issuer).toContain("CN=Test Root CA\n".trim());

    // Old anchor only: leaf → Issuing CA 3 → (cross) Root CA 2 → Root CA.
    const viaOld = await opensslAsync(["verify", "-CAfile", oldRootFile, "-untrusted", chain, third.file]);
    expect(viaOld.stdout + viaOld.stderr).toContain(": OK");
    const viaNew = await opensslAsync(["verify", "-CAfile", newRootFile, "-untrusted", chain, third.file]);
    expect(viaNew.stdout + viaNew.stderr).toContain(": OK");
    // Older certificates still verify against the old root.
    const older = await opensslAsync(["verify", "-CAfile", oldRootFile, "-untrusted", chain, second.file]);
    expect(older.stdout + older.stderr).toContain(": OK");

    // A client trusting only the old root checks the new issuer's OCSP answers through the cross certificate.
    const fresh = await ocsp(await caFile(rotated.json.active.id), third.file, ["-verify_other", chain]);
    expect(fresh.stderr).toContain("Response verify OK");
    expect(fresh.stdout).toContain(`${third.file}: good`);
  });

  it("revokes a retired issuing CA with everything it issued in one logged operation", async () => {
    const current = (await t.services.ca.activeIssuer()).ca.id;
    const refused = await t.request("POST", `/v1/ca/${current}/revoke`, { token: t.tokens.operator, body: {} });
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toMatch(/active issuer: run `dpki ca rotate` first/);

    const extra = await t.services.store.countCertificates();
    expect(extra).toBeGreaterThan(0);
    // What int2 issued: rot-dev-2, and the server's own TLS certificate when the server followed
    // the first rollover (it checks every few seconds, so whether it did depends on timing).
    const issuedByInt2 = async (status: "good" | "revoked") =>
      (await t.services.store.listCertificates({ issuerCaId: int2, status }, { limit: 100 }, new Date())).items.map((c) => c.serial);
    const good = await issuedByInt2("good");
    expect(good).toContain(second.serial);
    const res = await t.request("POST", `/v1/ca/${int2}/revoke`, { token: t.tokens.operator, body: { reason: "cACompromise" } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.certificatesRevoked).toBe(good.length);
    expect(await issuedByInt2("good")).toEqual([]);
    expect((await issuedByInt2("revoked")).sort()).toEqual(good.sort());
    expect(res.json.ca).toMatchObject({ id: int2, state: "revoked", revocationReason: "cACompromise" });
    const again = await t.request("POST", `/v1/ca/${int2}/revoke`, { token: t.tokens.operator, body: {} });
    expect(again.status).toBe(409);

    // OCSP and the CRL say so at once.
    const o = await ocsp(await caFile(int2), second.file);
    expect(o.stdout).toContain(`${second.file}: revoked`);
    expect(o.stdout).toContain("Reason: cACompromise");
    const log = await t.request("GET", `/v1/audit?order=oldest&serial=${second.serial}`, { token: t.tokens.auditor });
    expect(log.json.items.map((e: { action: string; details: { cascade?: string } }) => [e.action, e.details.cascade ?? null])).toEqual([
      ["cert.issue", null],
      ["cert.revoke", `ca:${int2}`],
    ]);
  });

  it("prints the same status through the CLI locally and with --server", async () => {
    const remote = await dpkiAsync(["--json", "--server", t.url, "--token", t.tokens.auditor, "--ca-file", t.rootPemFile, "ca", "status"]);
    expect(remote.status, remote.stderr).toBe(0);
    const local = await dpkiAsync(["--json", "-d", join(t.dir, "data"), "ca", "status"]);
    expect(local.status, local.stderr).toBe(0);
    expect(JSON.parse(remote.stdout)).toEqual(JSON.parse(local.stdout));
  });
});
