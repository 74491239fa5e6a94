import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openServices, type Services } from "../src/app.js";
import type { IssueRequest } from "../src/core/issuance-service.js";
import { percentile, type Row } from "./table.js";

export interface InProcessResult {
  rows: Row[];
  /** Best in-process issuance rate measured (certificates/s). */
  best: number;
}

/** A throwaway data directory with a P-256 CA; the store is durable (synchronous=FULL) as in production. */
export async function benchServices(): Promise<{ services: Services; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-"));
  const services = openServices({ dataDir: join(dir, "data"), passphrase: "bench", keyIterations: 1000, workers: true });
  await services.ca.init({ algorithm: "P-256", organization: "Bench", actor: "bench" });
  return {
    services,
    cleanup: async () => {
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Full issuance path in-process: CSR parse + proof-of-possession check + profile check +
 * encode + sign + durable store write + log entry, at 1 and 64 requests in flight.
 */
export async function benchInProcess(csrs: string[], seconds = 4): Promise<InProcessResult> {
  const { services, cleanup } = await benchServices();
  try {
    const request = (i: number): IssueRequest => ({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" });
    await services.issuance.issueMany(Array.from({ length: 200 }, (_, i) => request(i))); // warm up
    const rows: Row[] = [];
    let best = 0;
    for (const concurrency of [1, 64]) {
      const latencies: number[] = [];
      let n = 0;
      const start = performance.now();
      const end = start + seconds * 1000;
      let peak = process.memoryUsage().rss;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) {
            const t = performance.now();
            await services.issuance.issue(request(n++));
            latencies.push(performance.now() - t);
            if ((n & 1023) === 0) peak = Math.max(peak, process.memoryUsage().rss);
          }
        }),
      );
      const throughput = latencies.length / ((performance.now() - start) / 1000);
      best = Math.max(best, throughput);
      rows.push({
        case: `issue in-process, ${concurrency} in flight`,
        throughput,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        peakRssMb: peak / 2 ** 20,
      });
    }
    const verdict = await services.audit.verify();
    if (!verdict.ok) throw new Error(`log broken after the run: ${verdict.message}`);
    return { rows, best };
  } finally {
    await cleanup();
  }
}
