/**
 * Renewal through the device endpoint exactly as an operator runs it: `dpki serve --dps-port`
 * in its own process, set up with the CLI, a device renewing over mTLS with a new CSR. The old
 * certificate must be superseded once the grace ends, and the log must say so — the listener
 * once had its own registration flow without the renewal hooks, and only this path showed it.
 */
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { deviceCall, deviceCsr, dpsToken } from "./helpers.js";
import { freePort } from "../helpers/free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const SCOPE = "0ne00SERVE";
// Long enough that the old certificate is still checked inside it on a loaded machine.
const GRACE_MS = 4000;

let env: Record<string, string>;
let server: ChildProcess;
let api: string;
let devices: { host: string; port: number; ca: string };
let admin: string;
let auditor: string;
let hub: string;
let deviceKey: string;

interface Held {
  key: KeyObject;
  chain: string[];
  serial: string;
}

beforeAll(async () => {
  const work = tempDir();
  env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "served renewal" };
  await initDataDir(env.DPKI_HOME!, { passphrase: env.DPKI_PASSPHRASE! });
  const configFile = join(env.DPKI_HOME!, "config.json");
  writeFileSync(
    configFile,
    JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), renewalGrace: `${GRACE_MS / 1000}s`, checkpointInterval: "1s" }),
  );
  const cli = (...args: string[]) => {
    const r = dpki([...args, "--json"], { env });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  cli("scope", "add", SCOPE);
  cli("hub", "add", "hub-1", "--host-name", "hub-1.hubs.example.net", "--scope", SCOPE);
  deviceKey = cli("enrollment", "add", "meter-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE).keys.primaryKey;
  admin = cli("token", "create", "--role", "admin", "--name", "ops").secret;
  auditor = cli("token", "create", "--role", "auditor", "--name", "audit").secret;
  hub = cli("token", "create", "--role", "hub", "--name", "hub-1", "--hub", "hub-1", "--scope", SCOPE).secret;

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
  api = `https://127.0.0.1:${apiPort}`;
  devices = { host: "127.0.0.1", port: dpsPort, ca: readFileSync(join(env.DPKI_HOME!, "root.pem"), "utf8") };
});

afterAll(() => {
  server?.kill("SIGTERM");
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await deviceCall(
    { host: "127.0.0.1", port: Number(new URL(api).port), ca: devices.ca },
    { method, path, body: body === undefined ? "" : JSON.stringify(body), headers: { authorization: `Bearer ${token}` } },
  );
  return res;
}

async function register(current: Held | null): Promise<Held> {
  const { key, csr } = await deviceCsr("meter-1");
  const res = await deviceCall(devices, {
    path: `/${SCOPE}/registrations/meter-1/register?api-version=2021-06-01`,
    body: JSON.stringify({ registrationId: "meter-1", csr }),
    ...(current
      ? {
          cert: current.chain
            .slice(0, 2)
            .map((b64) => pemEncode("CERTIFICATE", Buffer.from(b64, "base64")))
            .join(""),
          key: current.key,
        }
      : { headers: { authorization: dpsToken(SCOPE, "meter-1", deviceKey) } }),
  });
  expect(res.status, res.text).toBe(200);
  expect(res.json.registrationState.status).toBe("assigned");
  const chain = res.json.registrationState.issuedCertificateChain as string[];
  return { key, chain, serial: new X509Certificate(Buffer.from(chain[0]!, "base64")).serialNumber.toLowerCase() };
}

const deviceAuth = (held: Held) => call("POST", "/v1/hubs/hub-1/device-auth", hub, { certificateChain: held.chain });

it("supersedes the old certificate of a device that renewed through `dpki serve --dps-port`, and logs the renewal", async () => {
  const first = await register(null);
  const second = await register(first);
  expect(second.serial).not.toBe(first.serial);
  // First, while the grace surely runs.
  expect((await deviceAuth(first)).json.allow).toBe(true);

  const renewal = await call("GET", `/v1/audit?serial=${first.serial}&action=cert.renew`, auditor);
  expect(renewal.status, renewal.text).toBe(200);
  expect(renewal.json.items).toHaveLength(1);
  expect(renewal.json.items[0].details).toMatchObject({ renewedBy: second.serial, via: "dps", registrationId: "meter-1" });

  await new Promise((r) => setTimeout(r, GRACE_MS + 500));
  const old = await deviceAuth(first);
  expect(old.json).toMatchObject({ allow: false, reason: "revoked" });
  expect((await deviceAuth(second)).json.allow).toBe(true);

  // The status check has the sweeper write the supersession down, for the CRL and `cert show`.
  let shown = await call("GET", `/v1/certificates/${first.serial}`, admin);
  for (const until = Date.now() + 30_000; Date.now() < until && shown.json.status !== "revoked";) {
    await new Promise((r) => setTimeout(r, 100));
    shown = await call("GET", `/v1/certificates/${first.serial}`, admin);
  }
  expect(shown.json).toMatchObject({ status: "revoked", revocationReason: "superseded" });

  // Meanwhile the server signed checkpoints of the log on its own, at the configured interval.
  const db = new Database(join(env.DPKI_HOME!, "dpki.db"), { readonly: true });
  try {
    expect((db.prepare("SELECT COUNT(*) AS n FROM log_checkpoints").get() as { n: number }).n).toBeGreaterThan(0);
  } finally {
    db.close();
  }
});
