/** `dpki serve`'s plain-HTTP listener: CRLs, OCSP and CA certificates for relying parties, nothing of the API. */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { freePort } from "../helpers/free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const work = tempDir();
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "plain http" };
let server: ChildProcess | undefined;
let base: string;
let leaf: string;
let inter: string;
let root: string;

beforeAll(async () => {
  await initDataDir(home, { passphrase: env.DPKI_PASSPHRASE, org: "Plain" });
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  const configFile = join(home, "config.json");
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), publicHttpUrl: base }, null, 2));
  server = spawn(process.execPath, [BIN, "serve", "--port", "0", "--http-port", String(httpPort)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((ready, fail) => {
    let err = "";
    server!.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("CRL, OCSP:")) ready();
    });
    server!.once("exit", () => fail(new Error(`server exited: ${err}`)));
  });
  leaf = join(work, "leaf.pem");
  const issued = dpki(
    ["cert", "issue", "--csr", opensslCsr(work, "dev", { subject: "/CN=plain-dev" }), "--profile", "device", "--out", leaf],
    {
      env,
    },
  );
  expect(issued.status, issued.stderr).toBe(0);
  const chain = pemBlocks(dpki(["ca", "chain"], { env }).stdout);
  inter = join(work, "inter.pem");
  root = join(work, "root.pem");
  writeFileSync(inter, chain[0]!);
  // Chains never carry a root: the roots in service come from `dpki ca root`.
  writeFileSync(root, dpki(["ca", "root"], { env }).stdout);
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server!.once("exit", done));
    server.kill("SIGTERM");
    await exited;
  }
});

describe("the plain-HTTP listener", () => {
  it("is what new certificates point at, for the CRL, OCSP and the issuer's certificate", () => {
    const text = openssl(["x509", "-in", leaf, "-noout", "-text"]).stdout;
    expect(text).toMatch(new RegExp(`OCSP - URI:${base}/ocsp`));
    expect(text).toMatch(new RegExp(`CA Issuers - URI:${base}/v1/ca/[^/]+/cert\\.der`));
    expect(text).toMatch(new RegExp(`URI:${base}/v1/ca/[^/]+/crl`));
  });

  it("answers openssl ocsp over plain HTTP", () => {
    const r = openssl(["ocsp", "-issuer", inter, "-cert", leaf, "-url", `${base}/ocsp`, "-CAfile", root]);
    expect(r.stdout + r.stderr).toMatch(/Response verify OK/);
    expect(r.stdout).toMatch(/: good/);
  });

  it("serves the CRL and the issuer certificate named in the certificate, which openssl accepts", async () => {
    const text = openssl(["x509", "-in", leaf, "-noout", "-text"]).stdout;
    const crlUrl = new RegExp(`URI:(${base}/v1/ca/[^/\\s]+/crl)`).exec(text)![1]!;
    const crl = await fetch(crlUrl);
    expect(crl.status).toBe(200);
    const der = join(work, "crl.der");
    writeFileSync(der, Buffer.from(await crl.arrayBuffer()));
    const verify = openssl(["crl", "-inform", "DER", "-in", der, "-CAfile", inter, "-noout"]);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout + verify.stderr).toMatch(/verify OK/);
    const issuerUrl = new RegExp(`CA Issuers - URI:(\\S+)`).exec(text)![1]!;
    const issuer = await fetch(issuerUrl);
    expect(issuer.status).toBe(200);
    expect(Buffer.from(await issuer.arrayBuffer()).toString("base64")).toBe(
      readFileSync(inter, "utf8").replace(/-----[^-]+-----|\s+/g, ""),
    );
  });

  it("serves nothing of the API, and lets no token act", async () => {
    for (const [method, path] of [
      ["GET", "/v1/certificates"],
      ["POST", "/v1/certificates"],
      ["GET", "/v1/tokens"],
      ["GET", "/healthz"],
      ["GET", "/v1/audit"],
      ["POST", "/v1/ca/rotate"],
      ["GET", "/"],
    ]) {
      const r = await fetch(`${base}${path}`, { method, headers: { authorization: "Bearer whatever" } });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(((await r.json()) as { detail: string }).detail).toMatch(/use https for the API/);
    }
  });
});
