import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PACKAGE_ROOT } from "../src/package-root.js";
import { startDpkiServer, type DpkiServer } from "./dpki-server.js";
import { loadRow, runLoad, type LoadOptions, type LoadResult } from "./load.js";
import { procStats } from "./proc-stats.js";
import type { Row } from "./table.js";

const BIN = join(PACKAGE_ROOT, "bin", "dpki.js");
/** As in http-compare: V8 keeps compiling the hot path for a few seconds. */
const WARM_UP_SECONDS = 3;
const ROUNDS = 2;

export interface PgBenchResult {
  rows: Row[];
  /** Throughput by case and connection count. */
  rates: { sqlite: Map<number, number>; pg1: Map<number, number>; pg2: Map<number, number> };
  skipped?: string;
}

/**
 * HTTP issuance on PostgreSQL next to SQLite, same run, same CSRs, same load generator: one
 * `dpki serve` on SQLite (its default, fsync'd commits), one node on PostgreSQL, and two nodes
 * on the same PostgreSQL database sharing the connections and splitting the cores (`--workers`),
 * so one node and two get the same hardware. The cluster is a throwaway one on
 * loopback with durable commits (fsync and synchronous_commit on, as SQLite's FULL). Rounds
 * take turns between the setups; each keeps its best. The database's CPU is the cluster's
 * processes' (for SQLite it is inside the server's).
 */
export async function benchPostgres(csrs: string[], seconds = 4, connections = [16, 64]): Promise<PgBenchResult> {
  const rates = { sqlite: new Map<number, number>(), pg1: new Map<number, number>(), pg2: new Map<number, number>() };
  let cluster: BenchCluster;
  try {
    cluster = await startBenchCluster();
  } catch (err) {
    return { rows: [], rates, skipped: (err as Error).message };
  }
  const rows: Row[] = [];
  const sqlite = await startDpkiServer(18_470, { https: false });
  const nodes = await startPgNodes(cluster, 18_471, [18_472, 18_473]);
  const issue = (urls: string[], token: string, c: number): LoadOptions => ({
    url: `${urls[0]}/v1/certificates`,
    urls: urls.map((u) => `${u}/v1/certificates`),
    connections: c,
    seconds,
    headers: { authorization: `Bearer ${token}` },
    body: (i) => JSON.stringify({ csr: csrs[i % csrs.length], profile: "device" }),
    accept: (status) => status === 201,
  });
  const one = [nodes.servers[0]!];
  const both = nodes.servers.slice(1);
  try {
    await runLoad({ ...issue([sqlite.url], sqlite.token, 16), seconds: WARM_UP_SECONDS });
    for (const servers of [one, both]) {
      await runLoad({
        ...issue(
          servers.map((n) => n.url),
          nodes.token,
          16,
        ),
        seconds: WARM_UP_SECONDS,
      });
    }
    for (const c of connections) {
      const cases = [
        { key: "sqlite" as const, name: `SQLite, 1 node, ${c} conns`, servers: [sqlite], token: sqlite.token, db: null },
        { key: "pg1" as const, name: `PostgreSQL, 1 node, ${c} conns`, servers: one, token: nodes.token, db: cluster },
        { key: "pg2" as const, name: `PostgreSQL, 2 nodes, ${c} conns`, servers: both, token: nodes.token, db: cluster },
      ];
      const best = new Map<string, Measured>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const k of cases) {
          const m = await measured(
            k.servers,
            k.db,
            issue(
              k.servers.map((s) => s.url),
              k.token,
              c,
            ),
          );
          const prev = best.get(k.key);
          if (!prev || m.result.throughput > prev.result.throughput) best.set(k.key, m);
        }
      }
      for (const k of cases) {
        const m = best.get(k.key)!;
        rates[k.key].set(c, m.result.throughput);
        const r = loadRow(k.name, m.result, Math.max(...k.servers.map((s) => s.peakRssMb())));
        const cpu = [`dpki CPU ${Math.round(m.serverCpu)} µs/cert`];
        if (k.db) cpu.push(`database CPU ${Math.round(m.dbCpu)} µs/cert (${Math.round(m.dbCores * 100)}% of a core)`);
        r.note = [r.note, ...cpu].filter(Boolean).join("; ");
        rows.push(r);
      }
    }
  } finally {
    await sqlite.stop();
    await nodes.stop();
    cluster.stop();
  }
  return { rows, rates };
}

interface Measured {
  result: LoadResult;
  serverCpu: number;
  dbCpu: number;
  /** Database CPU over wall time. */
  dbCores: number;
}

async function measured(servers: Array<{ cpuMicros(): number }>, db: BenchCluster | null, load: LoadOptions): Promise<Measured> {
  const cpu = () => servers.reduce((sum, s) => sum + s.cpuMicros(), 0);
  const s0 = cpu();
  const d0 = db?.cpuMicros() ?? 0;
  const t0 = performance.now();
  const result = await runLoad(load);
  const wall = (performance.now() - t0) * 1000;
  const n = Math.max(1, result.requests);
  const dbMicros = (db?.cpuMicros() ?? 0) - d0;
  return { result, serverCpu: (cpu() - s0) / n, dbCpu: dbMicros / n, dbCores: dbMicros / wall };
}

interface BenchCluster {
  url: string;
  /** CPU of the postmaster and every backend alive now. */
  cpuMicros(): number;
  stop(): void;
}

/** A throwaway cluster on loopback with durable commits; as root, initdb runs as the postgres user. */
async function startBenchCluster(): Promise<BenchCluster> {
  const root = "/usr/lib/postgresql";
  const version = existsSync(root) ? readdirSync(root).find((v) => existsSync(join(root, v, "bin", "initdb"))) : undefined;
  if (!version) throw new Error("PostgreSQL is not installed (Debian: apt-get install postgresql)");
  const bin = join(root, version, "bin");
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-pg-"));
  const asRoot = userInfo().uid === 0;
  const as = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, cmd), ...args], { stdio: "pipe", cwd: "/" })
      : execFileSync(join(bin, cmd), args, { stdio: "pipe" });
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, id("-u"), id("-g"));
  }
  const data = join(dir, "data");
  as("initdb", ["-D", data, "-A", "trust", "-U", "dpki", "-E", "UTF8"]);
  const port = 18_479;
  as("pg_ctl", [
    "-D",
    data,
    "-o",
    `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c max_connections=200`,
    "-l",
    join(dir, "log"),
    "start",
    "-w",
  ]);
  const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  const admin = new pg.Client({ connectionString: `postgres://dpki@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query("CREATE DATABASE dpki_bench");
  await admin.end();
  return {
    url: `postgres://dpki@127.0.0.1:${port}/dpki_bench`,
    cpuMicros: () => {
      // The postmaster's own CPU and that of the backends it has reaped (cutime, cstime): a backend
      // that exits during a measurement must not take its CPU with it.
      const fields = readFileSync(`/proc/${postmaster}/stat`, "utf8").split(") ")[1]!.split(" ");
      let sum = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10_000;
      for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          if (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(postmaster)) {
            sum += procStats(Number(pid)).cpuMicros();
          }
        } catch {
          // gone meanwhile
        }
      }
      return sum;
    },
    stop: () => {
      try {
        as("pg_ctl", ["-D", data, "stop", "-m", "fast", "-w"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * `dpki init` on the database, then `dpki serve` nodes sharing one data directory (config and
 * keys): one on its own (every core), and a pair that splits the cores, as one node has them all
 * (the same hardware either way).
 */
async function startPgNodes(cluster: BenchCluster, single: number, pair: number[]) {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-nodes-"));
  const env = { ...process.env, DPKI_HOME: join(dir, "ca"), DPKI_PASSPHRASE: "bench passphrase", DPKI_DATABASE_URL: cluster.url };
  execFileSync(process.execPath, [BIN, "init"], { env, stdio: "ignore" });
  const token = (
    JSON.parse(
      execFileSync(process.execPath, [BIN, "token", "create", "--role", "factory", "--profiles", "device", "--name", "bench", "--json"], {
        env,
      }).toString(),
    ) as { secret: string }
  ).secret;
  const children: ChildProcess[] = [];
  const servers: Array<Pick<DpkiServer, "url" | "cpuMicros" | "peakRssMb">> = [];
  const half = String(Math.max(1, Math.floor(availableParallelism() / pair.length)));
  for (const [port, workers] of [[single, String(availableParallelism())], ...pair.map((p) => [p, half] as const)] as const) {
    const child = spawn(process.execPath, [BIN, "serve", "--insecure-http", "--no-http", "--port", String(port), "--workers", workers], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.push(child);
    await new Promise<void>((ready, fail) => {
      let text = "";
      child.stderr!.on("data", (d: Buffer) => {
        text += d;
        if (text.includes("listening on")) ready();
      });
      child.once("exit", () => fail(new Error(`dpki serve exited: ${text}`)));
    });
    servers.push({ ...procStats(child.pid!), url: `http://127.0.0.1:${port}` });
  }
  return {
    servers,
    token,
    stop: async () => {
      await Promise.all(
        children.map((c) => {
          c.kill("SIGTERM");
          return new Promise((r) => c.once("exit", r));
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
