import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openServices, type Services } from "../src/app.js";
import type { IssueRequest } from "../src/core/issuance/issuance-service.js";
import type { Row } from "./table.js";
import { inFlight } from "./load.js";

export interface InProcessResult {
  rows: Row[];
  /** Best in-process issuance rate measured (certificates/s). */
  best: number;
}

/** A throwaway data directory with a P-256 CA; the store is durable (synchronous=FULL) as in production. */
export async function benchServices(): Promise<{ services: Services; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-"));
  const services = openServices({ dataDir: join(dir, "data"), passphrase: "bench", keyIterations: 1000, create: true, workers: true });
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
    const rows: Row[] = [];
    let best = 0;
    for (const concurrency of [1, 64]) {
      let peak = process.memoryUsage().rss;
      const r = await inFlight(concurrency, seconds, async (i) => {
        await services.issuance.issue(request(i));
        if ((i & 1023) === 0) peak = Math.max(peak, process.memoryUsage().rss);
      });
      best = Math.max(best, r.throughput);
      rows.push({ case: `issue in-process, ${concurrency} in flight`, ...r, peakRssMb: peak / 2 ** 20 });
    }
    const verdict = await services.audit.verify();
    if (!verdict.ok) throw new Error(`log broken after the run: ${verdict.message}`);
    return { rows, best };
  } finally {
    await cleanup();
  }
}
