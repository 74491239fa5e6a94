import http from "node:http";
import https from "node:https";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { percentile, type Row } from "./table.js";

export interface LoadOptions {
  url: string;
  /** Several servers (nodes) sharing the connections: connection k talks to urls[k % n]; `url` alone when absent. */
  urls?: string[];
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
  const targets = (options.urls ?? [options.url]).map((u) => new URL(u));
  if (targets.some((t) => !["127.0.0.1", "localhost", "[::1]"].includes(t.hostname))) throw new Error("load tests only target loopback");
  const isHttps = targets[0]!.protocol === "https:";
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

  const one = (i: number, target: URL) =>
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
    Array.from({ length: options.connections }, async (_, k) => {
      const target = targets[k % targets.length]!;
      while (performance.now() < end) await one(sent++, target);
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

/** A load as plain data, so it can cross into a worker thread: GET paths or POST bodies, cycled. */
export interface CycledLoad {
  url: string;
  connections: number;
  seconds: number;
  method: "GET" | "POST";
  /** Path suffix (GET) or body (POST) of the i-th request, cycled. Bodies are base64 when `binary`. */
  items: string[];
  binary?: boolean;
  headers?: Record<string, string>;
  ca?: string;
  /** A response counts only if this accepts it. */
  accept: { status: number; bodyIncludes?: string };
}

export function runCycledLoad(o: CycledLoad): Promise<LoadResult> {
  const base = new URL(o.url).pathname.replace(/\/$/, "");
  const bodies = o.method === "POST" ? o.items.map((b) => (o.binary ? Buffer.from(b, "base64") : Buffer.from(b))) : [];
  return runLoad({
    url: o.url,
    connections: o.connections,
    seconds: o.seconds,
    method: o.method,
    ca: o.ca,
    headers: o.headers,
    body: o.method === "POST" ? (i) => bodies[i % bodies.length]! : undefined,
    path: o.method === "GET" ? (i) => `${base}/${o.items[i % o.items.length]}` : undefined,
    accept: (status, text) => status === o.accept.status && (!o.accept.bodyIncludes || text.includes(o.accept.bodyIncludes)),
  });
}

/**
 * Runs the load on a worker thread (bench/load-worker.ts), so the client's HTTP and TLS work
 * does not share the server's event loop (it still shares the cores, as a co-located client
 * would); on the calling thread when run from sources.
 */
export function loadOnWorker(load: CycledLoad): Promise<LoadResult> {
  const script = new URL("./load-worker.js", import.meta.url);
  if (!existsSync(fileURLToPath(script))) return runCycledLoad(load);
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: load });
    worker.once("message", (result: LoadResult) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
}

/** After a short warm-up, `n` callers each awaiting `op` in a loop for `seconds`: throughput and latency of an in-process operation. */
export async function inFlight(
  n: number,
  seconds: number,
  op: (i: number) => Promise<unknown>,
): Promise<Required<Pick<Row, "throughput" | "p50Ms" | "p99Ms">>> {
  for (let i = 0; i < 200; i++) await op(i);
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(next++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return {
    throughput: latencies.length / ((performance.now() - start) / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
