import { benchServices } from "./in-process.js";
import type { Row } from "./table.js";

/** The factory-line path (`dpki cert sign-batch` and the batch API): issueMany over whole batches. */
export async function benchBatch(csrs: string[], batches = 4, size = 2_000): Promise<{ rows: Row[]; best: number }> {
  const { services, cleanup } = await benchServices();
  try {
    // Warm up with a whole batch: the leaf workers are fresh isolates, and V8 needs a few
    // thousand issuances on them before their code is optimised (the in-process section gets
    // as much from its first case).
    await services.issuance.issueMany(
      Array.from({ length: size }, (_, i) => ({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" })),
    );
    let issued = 0;
    const started = performance.now();
    for (let b = 0; b < batches; b++) {
      const results = await services.issuance.issueMany(
        Array.from({ length: size }, (_, i) => ({ csr: csrs[(b * size + i) % csrs.length]!, profile: "device", actor: "bench" })),
      );
      issued += results.filter((r) => r.ok).length;
    }
    const throughput = issued / ((performance.now() - started) / 1000);
    return {
      rows: [
        {
          case: `sign-batch path, ${batches} batches of ${size.toLocaleString("en-US")}`,
          throughput,
          peakRssMb: process.memoryUsage().rss / 2 ** 20,
        },
      ],
      best: throughput,
    };
  } finally {
    await cleanup();
  }
}
