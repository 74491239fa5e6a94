/**
 * `dpki serve --dps-port` with its CA keys in a SoftHSM2 token, in its own process: openssl's
 * OCSP client accepts answers signed by a responder key the server made in the token, a device
 * registers with a CSR and gets a chain openssl verifies, /readyz is 200 while the token holds
 * the issuing key and 503 once the token is gone. The PIN shows up in no output and no argv.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { dpki } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { opensslAsync } from "../helpers/openssl-async.js";
import { haveSoftHsm, listedObjects, pkcs11Tool, softHsmToken, SOFTHSM_MODULE, type TestToken } from "../helpers/softhsm.js";
import { tempDir } from "../helpers/temp-dir.js";
import { deviceCall, deviceCsr, dpsToken } from "../dps/helpers.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const SCOPE = "0ne00HSM01";

describe.skipIf(!haveSoftHsm)("dpki serve with CA keys in a PKCS#11 token", () => {
  let token: TestToken;
  let work: string;
  let env: Record<string, string>;
  let server: ChildProcess;
  let output = "";
  let ports: { api: number; http: number; dps: number };
  let deviceKey: string;
  const file = (name: string) => join(work, name);
  const cli = (...args: string[]) => {
    const r = dpki([...args, "--json"], { env, cwd: work });
    expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout);
  };
  const ok = (...args: string[]) => {
    const r = dpki(args, { env, cwd: work });
    expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
  };
  const readyz = () =>
    new Promise<{ status: number; body: string }>((done, fail) => {
      get(`https://127.0.0.1:${ports.api}/readyz`, { ca: readFileSync(file("root.pem")), servername: "localhost" }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      }).on("error", fail);
    });

  beforeAll(async () => {
    token = softHsmToken("dpki-serve");
    work = tempDir();
    env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "hsm serve test", ...token.env };
    cli("init", "--key-provider", "pkcs11", "--pkcs11-module", SOFTHSM_MODULE, "--token-label", token.label, "--pin-file", token.pinFile);
    cli("scope", "add", SCOPE);
    cli("hub", "add", "hub-1", "--host-name", "hub-1.hubs.example.net", "--scope", SCOPE);
    deviceKey = cli("enrollment", "add", "meter-9", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE).keys.primaryKey;
    ports = { api: await freePort(), http: await freePort(), dps: await freePort() };
    server = spawn(
      process.execPath,
      [BIN, "serve", "--port", String(ports.api), "--http-port", String(ports.http), "--dps-port", String(ports.dps)],
      { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout!.on("data", (d) => (output += d));
    await new Promise<void>((ready, fail) => {
      server.stderr!.on("data", (d) => {
        output += d;
        if (output.includes("stop:")) ready();
      });
      server.once("exit", () => fail(new Error(`server exited: ${output}`)));
    });
  });

  afterAll(async () => {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  });

  it("answers OCSP with a responder key it made in the token, and openssl accepts the answer", async () => {
    const csr = opensslCsr(work, "meter-1", { subject: "/CN=meter-1" });
    ok("cert", "issue", "--csr", csr, "--profile", "device", "--chain", "--out", file("meter-1.pem"));
    ok("ca", "root", "--out", file("root.pem"));
    writeFileSync(file("issuer.pem"), pemBlocks(readFileSync(file("meter-1.pem"), "utf8"))[1]!);
    const r = await opensslAsync([
      "ocsp",
      "-issuer",
      file("issuer.pem"),
      "-cert",
      file("meter-1.pem"),
      "-url",
      `http://127.0.0.1:${ports.http}/ocsp`,
      "-CAfile",
      file("root.pem"),
    ]);
    expect(r.stdout + r.stderr).toContain("Response verify OK");
    expect(r.stdout).toContain(`${file("meter-1.pem")}: good`);
    const responder = listedObjects(pkcs11Tool(token, ["--login", "--pin", token.pin, "--list-objects"]).stdout).find(
      (o) => o.kind === "Private Key" && o.label.startsWith("dpki-ocsp-"),
    );
    expect(responder?.access).toContain("never extractable");
  });

  it("registers a device with a CSR over the DPS endpoint and issues a chain openssl verifies", async () => {
    const { csr } = await deviceCsr("meter-9");
    const res = await deviceCall(
      { host: "127.0.0.1", port: ports.dps, ca: readFileSync(file("root.pem"), "utf8") },
      {
        path: `/${SCOPE}/registrations/meter-9/register?api-version=2021-06-01`,
        body: JSON.stringify({ registrationId: "meter-9", csr }),
        headers: { authorization: dpsToken(SCOPE, "meter-9", deviceKey) },
      },
    );
    expect(res.status, res.text).toBe(200);
    const chain = (res.json.registrationState.issuedCertificateChain as string[]).map((b64) =>
      pemEncode("CERTIFICATE", Buffer.from(b64, "base64")),
    );
    writeFileSync(file("meter-9.pem"), chain[0]!);
    writeFileSync(file("meter-9-chain.pem"), chain.slice(1).join(""));
    const v = openssl(["verify", "-CAfile", file("root.pem"), "-untrusted", file("meter-9-chain.pem"), file("meter-9.pem")]);
    expect(v.stdout + v.stderr).toContain(": OK");
  });

  it("is ready while the token holds the key, 503 once the token is gone; the PIN is in no output and no argv", async () => {
    expect((await readyz()).status).toBe(200);
    const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, "utf8");
    expect(cmdline).not.toContain(token.pin);
    const deleted = spawnSync("softhsm2-util", ["--delete-token", "--token", token.label], {
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    expect(deleted.status, deleted.stderr).toBe(0);
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).detail).toMatch(/Not ready: .*PKCS#11 token labelled "dpki-serve"/);
    expect(output + r.body).not.toContain(token.pin);
  });
});
