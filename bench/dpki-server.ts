import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/package-root.js";
import { procStats, type ProcStats } from "./proc-stats.js";

const BIN = join(PACKAGE_ROOT, "bin", "dpki.js");

export interface DpkiServer extends ProcStats {
  url: string;
  pid: number;
  /** A factory token allowed to issue under the device profile. */
  token: string;
  /** The dpki root, for https clients. */
  rootPem: string;
  stop(): Promise<void>;
}

/** `dpki serve` as a user runs it, in its own process, on a fresh data directory. */
export async function startDpkiServer(port: number, options: { https: boolean }): Promise<DpkiServer> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-server-"));
  const env = { ...process.env, DPKI_HOME: join(dir, "ca"), DPKI_PASSPHRASE: "bench passphrase" };
  execFileSync(process.execPath, [BIN, "init"], { env, stdio: "ignore" });
  const created = JSON.parse(
    execFileSync(process.execPath, [BIN, "token", "create", "--role", "factory", "--profiles", "device", "--name", "bench", "--json"], {
      env,
    }).toString(),
  ) as { secret: string };
  const args = [BIN, "serve", "--port", String(port), ...(options.https ? [] : ["--insecure-http"])];
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  await new Promise<void>((ready, fail) => {
    let text = "";
    child.stderr!.on("data", (d: Buffer) => {
      text += d;
      if (text.includes("listening on")) ready();
    });
    child.once("exit", () => fail(new Error(`dpki serve exited: ${text}`)));
  });
  return {
    ...procStats(child.pid!),
    url: `${options.https ? "https" : "http"}://127.0.0.1:${port}`,
    pid: child.pid!,
    token: created.secret,
    rootPem: options.https ? readFileSync(join(dir, "ca", "root.pem"), "utf8") : "",
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
