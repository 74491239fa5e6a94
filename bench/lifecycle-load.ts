import http from "node:http";
import https from "node:https";
import { percentile } from "./table.js";
import type { LoadResult } from "./load.js";

export interface RequestLoadOptions {
  url: string;
  connections: number;
  seconds: number;
  method: "GET" | "POST";
  /** Path (GET) or body (POST) of the i-th request, cycled. Bodies are base64 for binary content. */
  items: string[];
  /** POST bodies are base64-decoded before sending (binary media types). */
  binary?: boolean;
  headers?: Record<string, string>;
  ca?: string;
  /** A response counts only if this accepts it. */
  accept: { status: number; bodyIncludes?: string };
}

/**
 * A closed-loop loopback load generator for GET or POST with binary bodies (bench/load.ts sends
 * JSON strings only): `connections` keep-alive sockets, each sending its next request when the
 * previous answer arrives, for a bounded time.
 */
export async function runRequestLoad(o: RequestLoadOptions): Promise<LoadResult> {
  const target = new URL(o.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) throw new Error("load tests only target loopback");
  const isHttps = target.protocol === "https:";
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, maxSockets: o.connections, ca: o.ca })
    : new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const send = isHttps ? https.request : http.request;
  const bodies = o.method === "POST" ? o.items.map((b) => (o.binary ? Buffer.from(b, "base64") : Buffer.from(b))) : [];
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  const end = performance.now() + o.seconds * 1000;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const path = o.method === "GET" ? target.pathname.replace(/\/$/, "") + "/" + o.items[i % o.items.length] : target.pathname;
      const body = o.method === "POST" ? bodies[i % bodies.length]! : undefined;
      const req = send(
        {
          host: target.hostname,
          port: target.port,
          path,
          method: o.method,
          agent,
          headers: { ...(body ? { "content-length": body.length } : {}), ...o.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = o.accept.bodyIncludes ? Buffer.concat(chunks).toString("latin1") : "";
            if (res.statusCode === o.accept.status && (!o.accept.bodyIncludes || text.includes(o.accept.bodyIncludes))) {
              latencies.push(performance.now() - started);
            } else {
              errors++;
              firstError ??= `${res.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}`;
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
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: o.connections }, async () => {
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
