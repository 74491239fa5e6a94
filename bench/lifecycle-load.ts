import { runLoad, type LoadResult } from "./load.js";

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
 * The OCSP and hub loads as plain data (it crosses into a worker thread), turned into
 * bench/load.ts's per-request functions: GET paths or POST bodies (base64 when binary), cycled.
 */
export function runRequestLoad(o: RequestLoadOptions): Promise<LoadResult> {
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
