import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { procStats, type ProcStats } from "./proc-stats.js";

export interface CfsslServer extends ProcStats {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Makes cfssl available: already on PATH, or Debian's golang-cfssl installed when running as root. */
export function ensureCfssl(): { ok: true } | { ok: false; why: string } {
  if (spawnSync("cfssl", ["version"]).status === 0) return { ok: true };
  if (process.getuid?.() !== 0)
    return { ok: false, why: "cfssl is not installed and installing it needs root (apt-get install golang-cfssl)" };
  const install = spawnSync("sh", ["-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-cfssl"], {
    stdio: "ignore",
  });
  if (install.status !== 0 || spawnSync("cfssl", ["version"]).status !== 0)
    return { ok: false, why: "apt-get install golang-cfssl failed" };
  return { ok: true };
}

/**
 * `cfssl serve` on loopback with a fresh P-256 CA made by openssl, signing client-auth
 * certificates for a year. It keeps nothing: no database is configured, as cfssl runs by default.
 */
export async function startCfssl(port: number): Promise<CfsslServer> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-cfssl-"));
  const key = join(dir, "ca-key.pem");
  const cert = join(dir, "ca.pem");
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    "/CN=cfssl bench CA",
    "-days",
    "3650",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  if (made.status !== 0) throw new Error(`openssl could not make the cfssl CA: ${made.stderr}`);
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ signing: { default: { expiry: "8760h", usages: ["digital signature", "client auth"] } } }));
  const child: ChildProcess = spawn(
    "cfssl",
    ["serve", "-address", "127.0.0.1", "-port", String(port), "-ca", cert, "-ca-key", key, "-config", config],
    {
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/api/v1/cfssl/health`, child);
  return {
    ...procStats(child.pid!),
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForHttp(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error("cfssl serve exited at start");
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error("cfssl serve did not start");
}
