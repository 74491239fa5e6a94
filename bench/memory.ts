import { benchServices } from "./in-process.js";
import type { Row } from "./table.js";

/**
 * Issues `total` certificates in-process (durable store, log entries) and compares the
 * resident set size after the first 10k with the size at the end: memory must stay flat.
 */
export async function benchMemory(csrs: string[], total = 1_000_000): Promise<{ rows: Row[]; ratio: number }> {
  const { services, cleanup } = await benchServices();
  try {
    const early = Math.min(10_000, total);
    let issued = 0;
    let rssEarly = 0;
    let peak = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (issued < total) {
          const i = issued++;
          await services.issuance.issue({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" });
          if (i === early) {
            global.gc?.();
            rssEarly = process.memoryUsage().rss;
          }
          if ((i & 4095) === 0) peak = Math.max(peak, process.memoryUsage().rss);
        }
      }),
    );
    global.gc?.();
    const rssEnd = process.memoryUsage().rss;
    const seconds = (performance.now() - started) / 1000;
    const mb = (b: number) => b / 2 ** 20;
    return {
      ratio: rssEnd / rssEarly,
      rows: [
        { case: `RSS after ${early.toLocaleString("en-US")} issued`, peakRssMb: mb(rssEarly) },
        {
          case: `RSS after ${total.toLocaleString("en-US")} issued`,
          peakRssMb: mb(rssEnd),
          throughput: total / seconds,
          seconds,
          note: `peak ${mb(peak).toFixed(0)} MB; end/early ${(rssEnd / rssEarly).toFixed(2)}`,
        },
      ],
    };
  } finally {
    await cleanup();
  }
}
