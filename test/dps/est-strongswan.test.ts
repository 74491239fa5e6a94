/**
 * EST (RFC 7030) on the device listener, driven by strongSwan's EST client (`pki --estca`,
 * `pki --est`) against `dpki serve --dps-port` in its own process: fetch the CA certificates,
 * enroll with HTTP Basic (the device's symmetric key), re-enroll with the issued certificate,
 * and be refused with a wrong secret and with a revoked certificate. What it receives must
 * verify with `openssl verify`, and the issuance must be in the log like a DPS registration.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { freePort } from "../helpers/free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const SCOPE = "0ne00EST01";
const HAVE_PKI = spawnSync("pki", ["--version"]).status !== null;

let env: Record<string, string>;
let server: ChildProcess;
let work: string;
let est: string;
let root: string;
let deviceKey: string;

function cli(...args: string[]) {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A new P-256 key and a PEM CSR for `cn`, made by strongSwan's own tool. */
function keyAndCsr(name: string, cn: string): { key: string; csr: string } {
  const key = join(work, `${name}.key.pem`);
  const csr = join(work, `${name}.csr.pem`);
  expect(run("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]).status).toBe(0);
  const req = run("openssl", ["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", csr]);
  expect(req.status, req.out).toBe(0);
  return { key, csr };
}

beforeAll(async () => {
  work = tempDir();
  env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "est interop" };
  await initDataDir(env.DPKI_HOME!, { passphrase: env.DPKI_PASSPHRASE! });
  cli("scope", "add", SCOPE);
  cli("hub", "add", "hub-1", "--host-name", "hub-1.hubs.example.net", "--scope", SCOPE);
  deviceKey = cli("enrollment", "add", "router-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE).keys.primaryKey;

  const [apiPort, dpsPort] = [await freePort(), await freePort()];
  server = spawn(process.execPath, [BIN, "serve", "--port", String(apiPort), "--dps-port", String(dpsPort)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((ready, fail) => {
    let err = "";
    server.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("stop:")) ready();
    });
    server.once("exit", () => fail(new Error(`server exited: ${err}`)));
  });
  // strongSwan appends /.well-known/est/<operation> itself: the unlabelled path, which serves the only scope.
  est = `https://127.0.0.1:${dpsPort}`;
  root = join(env.DPKI_HOME!, "root.pem");
}, 60_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

describe.skipIf(!HAVE_PKI)("strongSwan pki --est against dpki serve", () => {
  let cert: string;
  let key: string;
  let caFiles: string[];

  it("fetches the CA certificates with pki --estca", () => {
    const r = run("pki", ["--estca", "--url", est, "--cacert", root, "--caout", join(work, "estca.pem"), "--outform", "pem", "--force"]);
    expect(r.status, r.out).toBe(0);
    caFiles = r.out.match(/written to '([^']+)'/g)?.map((m) => m.slice(12, -1)) ?? [];
    const written = caFiles.map((f) => new X509Certificate(readFileSync(f)));
    expect(written.length, r.out).toBeGreaterThanOrEqual(2);
    writeFileSync(join(work, "est-chain.pem"), caFiles.map((f) => readFileSync(f, "utf8")).join(""));
    expect(written.some((c) => c.fingerprint256 === new X509Certificate(readFileSync(root)).fingerprint256)).toBe(true);
  });

  it("enrolls with HTTP Basic, and the certificate verifies with openssl", () => {
    const made = keyAndCsr("first", "router-1");
    key = made.key;
    cert = join(work, "first.crt.pem");
    const r = run("pki", [
      "--est",
      "--url",
      est,
      "--in",
      made.csr,
      "--cacert",
      root,
      "--userpass",
      `router-1:${deviceKey}`,
      "--outform",
      "pem",
    ]);
    expect(r.status, r.out).toBe(0);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.out)?.[0];
    expect(pem, r.out).toBeTruthy();
    writeFileSync(cert, `${pem}\n`);
    expect(new X509Certificate(pem!).subject).toContain("CN=router-1");
    const v = run("openssl", ["verify", "-CAfile", root, "-untrusted", join(work, "est-chain.pem"), cert]);
    expect(v.out).toContain(": OK");
  });

  it("is refused with a wrong secret", () => {
    const made = keyAndCsr("wrong", "router-1");
    const wrong = Buffer.alloc(32, 7).toString("base64");
    const r = run("pki", [
      "--est",
      "--url",
      est,
      "--in",
      made.csr,
      "--cacert",
      root,
      "--userpass",
      `router-1:${wrong}`,
      "--maxpolltime",
      "1",
    ]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/401|failed/i);
  });

  it("re-enrolls with its certificate over TLS, and a revoked certificate is refused", () => {
    const next = keyAndCsr("second", "router-1");
    const r = run("pki", ["--est", "--url", est, "--in", next.csr, "--cacert", root, "--cert", cert, "--key", key, "--outform", "pem"]);
    expect(r.status, r.out).toBe(0);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.out)?.[0]!;
    const renewed = new X509Certificate(pem);
    expect(renewed.serialNumber).not.toBe(new X509Certificate(readFileSync(cert)).serialNumber);
    writeFileSync(join(work, "second.crt.pem"), `${pem}\n`);
    expect(
      run("openssl", ["verify", "-CAfile", root, "-untrusted", join(work, "est-chain.pem"), join(work, "second.crt.pem")]).out,
    ).toContain(": OK");

    cli("cert", "revoke", renewed.serialNumber.toLowerCase(), "--reason", "keyCompromise");
    const third = keyAndCsr("third", "router-1");
    const refused = run("pki", [
      "--est",
      "--url",
      est,
      "--in",
      third.csr,
      "--cacert",
      root,
      "--cert",
      join(work, "second.crt.pem"),
      "--key",
      next.key,
      "--maxpolltime",
      "1",
    ]);
    expect(refused.status, refused.out).not.toBe(0);
  });

  it("logs EST issuances like DPS registrations, and the refusals", () => {
    const log = cli("audit", "log", "--action", "dps.register");
    expect(log.items.filter((e: { serial: string | null }) => e.serial).length).toBeGreaterThanOrEqual(2);
    const refusals = cli("audit", "log", "--action", "dps.register.refuse");
    expect(refusals.items.length).toBeGreaterThanOrEqual(2);
  });
});
