/** One line of the benchmark report. */
export interface Row {
  case: string;
  /** Operations per second. */
  throughput?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Wall time of a one-off job, in seconds. */
  seconds?: number;
  peakRssMb?: number;
  note?: string;
}

export function printTable(title: string, rows: Row[]): void {
  const cells = rows.map((r) => [
    r.case,
    r.throughput !== undefined ? fmt(r.throughput) + "/s" : "",
    r.p50Ms !== undefined ? r.p50Ms.toFixed(2) : "",
    r.p99Ms !== undefined ? r.p99Ms.toFixed(2) : "",
    r.seconds !== undefined ? r.seconds.toFixed(2) : "",
    r.peakRssMb !== undefined ? r.peakRssMb.toFixed(0) : "",
    r.note ?? "",
  ]);
  const header = ["case", "throughput", "p50 ms", "p99 ms", "seconds", "peak RSS MB", "note"];
  const keep = header.map((_, i) => i === 0 || cells.some((c) => c[i] !== ""));
  const cols = header.filter((_, i) => keep[i]);
  const rowsKept = cells.map((c) => c.filter((_, i) => keep[i]));
  const widths = cols.map((h, i) => Math.max(h.length, ...rowsKept.map((r) => r[i]!.length)));
  const line = (v: string[]) => v.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  process.stdout.write(
    `\n## ${title}\n\n${line(cols)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n${rowsKept.map(line).join("\n")}\n`,
  );
}

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

/** Percentile of sorted-in-place latencies (ms). */
export function percentile(latencies: number[], p: number): number {
  if (latencies.length === 0) return NaN;
  latencies.sort((a, b) => a - b);
  return latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
}
