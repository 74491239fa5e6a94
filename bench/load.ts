import http from "node:http";
import https from "node:https";
import { percentile, type Row } from "./table.js";

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Body of the i-th request. */
  body: (i: number) => string;
  headers?: Record<string, string>;
  /** CA to trust for https URLs. */
  ca?: string | Buffer;
  /** A response counts as a success only if this accepts it. */
  accept?: (status: number, body: string) => boolean;
}

export interface LoadResult {
  requests: number;
  errors: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
}

/**
 * A closed-loop load generator: `connections` keep-alive sockets, each sending its next
 * request when the previous answer arrives, for a bounded time. Only loopback targets.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) throw new Error("load tests only target loopback");
  const isHttps = target.protocol === "https:";
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, maxSockets: options.connections, ca: options.ca })
    : new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const request = isHttps ? https.request : http.request;
  const accept = options.accept ?? ((status) => status >= 200 && status < 300);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  const end = performance.now() + options.seconds * 1000;

  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const payload = options.body(i);
      const started = performance.now();
      const req = request(
        target,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...options.headers },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => {
            if (accept(res.statusCode ?? 0, text)) latencies.push(performance.now() - started);
            else {
              errors++;
              firstError ??= `${res.statusCode}: ${text.slice(0, 200)}`;
            }
            resolve();
          });
        },
      );
      req.on("error", (err) => {
        errors++;
        firstError ??= err.message;
        resolve();
      });
      req.end(payload);
    });

  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < end) await one(sent++);
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    requests: latencies.length,
    errors,
    throughput: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    firstError,
  };
}

export function loadRow(name: string, r: LoadResult, peakRssMb?: number): Row {
  return {
    case: name,
    throughput: r.throughput,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    peakRssMb,
    note: r.errors ? `${r.errors} errors, first: ${r.firstError}` : undefined,
  };
}
