import { readFileSync } from "node:fs";
import type { Services } from "../src/app.js";
import { jsonLogger } from "../src/http/logger.js";
import { startServer } from "../src/http/server.js";
import { csrPool } from "./csr-pool.js";
import { benchServices } from "./in-process.js";
import { inFlight, loadOnWorker, loadRow } from "./load.js";
import type { Row } from "./table.js";

export interface HttpIssuanceOptions {
  /** Pre-generated CSRs (PEM), cycled; 256 fresh P-256 CSRs when absent. */
  csrs?: string[];
  /** Length of each measured case. */
  seconds?: number;
  /** Concurrent keep-alive connections (and in-process requests in flight) per case. */
  connections?: number[];
}

/**
 * Certificate issuance over HTTPS against a real `dpki serve` on loopback (self-issued TLS
 * certificate, factory token, OpenAPI validation, JSON access log formatted and discarded,
 * durable store with log entries, leaf building on a worker per core as in `dpki serve`), at
 * 1, 16 and 64 keep-alive connections, next to the in-process issuance rate of the same
 * services at the same concurrency. The load loop runs on a worker thread of this process:
 * it shares the cores with the server, as a co-located client would, but not its event loop.
 * Prints nothing.
 */
export async function benchHttpIssuance(options: HttpIssuanceOptions = {}): Promise<Row[]> {
  const csrs = options.csrs ?? (await csrPool(256));
  const seconds = options.seconds ?? 4;
  const connections = options.connections ?? [1, 16, 64];
  const { services, cleanup } = await benchServices();
  const rows: Row[] = [];
  try {
    const inProcess = new Map<number, number>();
    await issueInProcess(services, csrs, 64, 1); // warm up: signer, workers, statements
    for (const c of connections) {
      const r = await issueInProcess(services, csrs, c, seconds);
      inProcess.set(c, r.throughput!);
      rows.push(r);
    }

    const server = await startServer(services, {
      host: "127.0.0.1",
      port: 0,
      tls: { self: { passphrase: "bench", iterations: 1000 } },
      logger: jsonLogger(() => {}),
    });
    try {
      const { secret } = await services.tokens.create({ role: "factory", name: "bench-line", profiles: ["device"] }, "bench");
      const bodies = csrs.map((csr) => JSON.stringify({ csr, profile: "device" }));
      const load = (c: number, s: number) =>
        loadOnWorker({
          url: `${server.url}/v1/certificates`,
          connections: c,
          seconds: s,
          method: "POST",
          items: bodies,
          headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
          ca: readFileSync(server.rootPemFile!, "utf8"),
          accept: { status: 201 },
        });
      await load(16, 1); // warm up: TLS sessions, validators, JIT
      for (const c of connections) {
        const r = await load(c, seconds);
        const row = loadRow(`issue over HTTPS, ${c} keep-alive conn${c === 1 ? "" : "s"}`, r);
        const base = inProcess.get(c);
        const ratio = base ? `${((r.throughput / base) * 100).toFixed(0)}% of in-process at ${c} in flight` : undefined;
        row.note = [ratio, row.note].filter(Boolean).join("; ") || undefined;
        rows.push(row);
      }
    } finally {
      await server.close();
    }
    const verdict = await services.audit.verify();
    if (!verdict.ok) throw new Error(`log broken after the HTTP run: ${verdict.message}`);
    return rows;
  } finally {
    await cleanup();
  }
}

/** The issuance service called directly, `n` requests at a time, for `seconds`. */
async function issueInProcess(services: Services, csrs: string[], n: number, seconds: number): Promise<Row> {
  const r = await inFlight(n, seconds, (i) => services.issuance.issue({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" }));
  return { case: `issue in-process, ${n} in flight`, ...r };
}
