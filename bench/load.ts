import http from "node:http";
import https from "node:https";
import { percentile, type Row } from "./table.js";

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** POST by default. */
  method?: "GET" | "POST" | "PUT";
  /** Body of the i-th request (JSON text, or bytes for binary media types); none when absent. */
  body?: (i: number) => string | Buffer;
  /** Path and query of the i-th request; the url's own when absent. */
  path?: (i: number) => string;
  headers?: Record<string, string> | ((i: number) => Record<string, string>);
  /** CA to trust for https URLs. */
  ca?: string | Buffer;
  /** A response counts as a success only if this accepts it (body decoded as latin1). */
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
  const send = isHttps ? https.request : http.request;
  const accept = options.accept ?? ((status) => status >= 200 && status < 300);
  const headersOf = typeof options.headers === "function" ? options.headers : () => (options.headers as Record<string, string>) ?? {};
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  const end = performance.now() + options.seconds * 1000;

  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const payload = options.body?.(i);
      const headers: Record<string, string | number> = { ...headersOf(i) };
      if (payload !== undefined) {
        headers["content-length"] = Buffer.byteLength(payload);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
      }
      const started = performance.now();
      const req = send(
        {
          host: target.hostname,
          port: target.port,
          path: options.path?.(i) ?? target.pathname + target.search,
          method: options.method ?? "POST",
          agent,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("latin1");
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
