import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { describe } from "vitest";
import { freePort } from "./free-port.js";

/**
 * A throwaway PostgreSQL cluster on loopback for the tests: started once by the global setup
 * (its URL handed to test files in DPKI_TEST_PG_URL) or, when a file runs without it, by the
 * file itself. Tests needing it skip only when DPKI_TEST_PG=0, and then say so loudly.
 */

export const PG_DISABLED = process.env.DPKI_TEST_PG === "0";

export interface Cluster {
  /** URL of the cluster's `postgres` database as the superuser `dpki`. */
  url: string;
  stop(): void;
}

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, "bin", "initdb"))) return join(root, v, "bin");
  try {
    return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      "PostgreSQL is not installed: the PostgreSQL tests need initdb and pg_ctl (Debian: apt-get install postgresql), " +
        "or set DPKI_TEST_PG=0 to skip them",
    );
  }
}

/** Starts a cluster; `initdb` refuses to run as root, so as root it runs as the postgres user. */
export async function startCluster(settings: Record<string, string> = {}): Promise<Cluster> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "dpki-pg-"));
  const root = userInfo().uid === 0;
  const as = (cmd: string, args: string[]) =>
    root
      ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, cmd), ...args], { stdio: "pipe", cwd: "/" })
      : execFileSync(join(bin, cmd), args, { stdio: "pipe" });
  if (root) chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const data = join(dir, "data");
  as("initdb", ["-D", data, "-A", "trust", "-U", "dpki", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const options = [`-k ${dir}`, `-p ${port}`, "-c listen_addresses=127.0.0.1", "-c max_connections=300"];
  for (const [k, v] of Object.entries(settings)) options.push(`-c ${k}=${v}`);
  as("pg_ctl", ["-D", data, "-o", options.join(" "), "-l", join(dir, "log"), "start", "-w"]);
  let stopped = false;
  return {
    url: `postgres://dpki@127.0.0.1:${port}/postgres`,
    stop: () => {
      if (stopped) return;
      stopped = true;
      try {
        as("pg_ctl", ["-D", data, "stop", "-m", "immediate", "-w"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function uidOf(user: string): number {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}

function gidOf(user: string): number {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

/** `describe` for tests that need PostgreSQL: skipped, with a warning nobody can miss, only when DPKI_TEST_PG=0. */
export function describePg(name: string, fn: () => void): void {
  if (PG_DISABLED) {
    process.stderr.write(`\n!!! SKIPPED (DPKI_TEST_PG=0): ${name} — these PostgreSQL tests did not run !!!\n\n`);
    describe.skip(name, fn);
  } else {
    describe(name, fn);
  }
}

let own: Promise<Cluster> | undefined;
let counter = 0;

/** The cluster of this test run (the global setup's, or one this file starts and stops at exit). */
async function cluster(): Promise<string> {
  if (process.env.DPKI_TEST_PG_URL) return process.env.DPKI_TEST_PG_URL;
  own ??= startCluster().then((c) => {
    process.once("exit", () => c.stop());
    return c;
  });
  return (await own).url;
}

/** The URL of a database `name` on the same cluster. */
export function databaseUrl(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Creates an empty database and returns its URL; `template` copies another database (one
 * migrated already: a copy costs a fraction of migrating). Names are unique per process.
 */
export async function createDatabase(template?: string): Promise<string> {
  const base = await cluster();
  const name = `t${process.pid}_${counter++}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${new URL(template).pathname.slice(1)}` : ""}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(base, name);
}
