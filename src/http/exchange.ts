import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { normaliseAddress } from "../core/dps/cidr.js";
import type { Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What the access log and the request metrics say of a request, known only once it is answered. */
export interface ExchangeFacts {
  /** The route template, or "unmatched". */
  route: string;
  /** The path without the query string. */
  path: string;
  actor: string | undefined;
  /** The problem code of a refused request. */
  code: string | undefined;
}

/**
 * The start of every request, on the lean path and through express alike: its id (the client's
 * X-Request-Id when well-formed, else a fresh one), the headers every response carries, and,
 * once the response is sent, one access-log line and the request metrics. Returns the id.
 */
export function beginExchange(
  req: IncomingMessage,
  res: ServerResponse,
  observe: { logger: Logger; metrics: HttpMetrics; draining: boolean },
  facts: () => ExchangeFacts,
): string {
  const start = process.hrtime.bigint();
  const presented = req.headers["x-request-id"];
  const id = typeof presented === "string" && REQUEST_ID.test(presented) ? presented : randomUUID();
  res.setHeader("X-Request-Id", id);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Cache-Control", "no-store");
  if (observe.draining) res.setHeader("Connection", "close");
  res.on("finish", () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const { route, path, actor, code } = facts();
    const method = req.method!;
    observe.metrics.requests.inc({ method, route, status: res.statusCode });
    observe.metrics.duration.observe({ method, route }, seconds);
    observe.logger.info("request", {
      reqId: id,
      method,
      path: path.length > 200 ? path.slice(0, 200) + "…" : path,
      route,
      status: res.statusCode,
      ms: Math.round(seconds * 1e6) / 1e3,
      actor,
      code,
    });
  });
  return id;
}

/** A whole response with a body of this type (text is sent as UTF-8), written the same way on both paths. */
export function sendBody(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

/**
 * The client's address as this server sees it (the TCP peer), the source the log records. A
 * proxy's X-Forwarded-For is not trusted: any client can send one.
 */
export function clientAddress(req: IncomingMessage): string | null {
  return normaliseAddress(req.socket.remoteAddress ?? "") || null;
}
