import { clip } from "../core/clip.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError, ERROR_TABLE, toAppError, type ErrorCode } from "../errors.js";
import { sendBody } from "./exchange.js";
import type { Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";

/** An RFC 9457 problem document as dpki sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** The request id (also in the X-Request-Id response header). */
  instance?: string;
  /** Structured facts about the failure, e.g. which fields failed validation. */
  context?: Record<string, unknown>;
}

export const PROBLEM_TYPE_PREFIX = "urn:dpki:problem:";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * Turns anything thrown while serving a request into an AppError: dpki's own errors as they
 * are, body-parser and OpenAPI validation failures into the matching codes with messages of
 * our own (their texts may quote the body), and everything else into `internal` with nothing
 * of the original text.
 */
export function requestError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; limit?: number; expose?: boolean } | null;
  if (e && typeof e.type === "string" && typeof e.status === "number" && e.expose !== undefined) return bodyParserError(e);
  // body-parser passes zlib's own error on, with a status but no type: the body's fault, not ours.
  if (e && typeof e.status === "number" && e.status < 500 && isDecompressionError(err)) return bodyErrors.undecodable();
  if (e && typeof e.status === "number" && Array.isArray((err as ValidatorError).errors)) return validationError(err as ValidatorError);
  // The router decodes path parameters: a malformed %-escape is the client's mistake, not ours.
  if (err instanceof URIError) return new AppError("bad_request", "Cannot decode the request path: malformed percent-encoding");
  return toAppError(err);
}

/** Request bodies that cannot be read, whether express's body parsers or the lean path read them. */
export const bodyErrors = {
  invalidJson: () => new AppError("bad_request", "Cannot parse request body: invalid JSON"),
  tooLarge: (limit: number | undefined) =>
    new AppError("payload_too_large", `Request body is larger than the ${limit ?? "allowed"} bytes this endpoint accepts`, { limit }),
  unreadable: () => new AppError("bad_request", "Cannot read request body"),
  undecodable: () =>
    new AppError("bad_request", "Cannot decompress request body: it is not valid data for its Content-Encoding (gzip, deflate or br)"),
};

/** zlib's failures (Z_DATA_ERROR, Z_BUF_ERROR, …) and brotli's (ERR__ERROR_FORMAT_…, ERR_BROTLI_…). */
function isDecompressionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && /^(Z_|ERR__|ERR_BROTLI|ERR_ZLIB)/.test(code);
}

function bodyParserError(e: { type?: string; status?: number; limit?: number }): AppError {
  switch (e.type) {
    case "entity.parse.failed":
      return bodyErrors.invalidJson();
    case "entity.too.large":
      return bodyErrors.tooLarge(e.limit);
    case "encoding.unsupported":
    case "charset.unsupported":
      return new AppError("unsupported_media_type", "Unsupported request body encoding or charset: send UTF-8 JSON");
    default:
      return bodyErrors.unreadable();
  }
}

/** The shape of express-openapi-validator's HttpError. */
interface ValidatorError {
  status: number;
  errors: Array<{ path?: string; message?: string }>;
}

function validationError(e: ValidatorError): AppError {
  const errors = (e.errors ?? []).slice(0, 20).map((item) => ({
    path: clip(String(item.path ?? ""), 200),
    message: clip(String(item.message ?? ""), 200),
  }));
  const summary = errors.map((x) => `${x.path.replace(/^\//, "").replace(/\//g, ".")} ${x.message}`.trim()).join("; ");
  switch (e.status) {
    case 415:
      return new AppError("unsupported_media_type", `Unsupported Content-Type: this endpoint takes application/json`);
    case 413:
      return new AppError("payload_too_large", "Request body too large");
    case 404:
      return new AppError("not_found", "No such endpoint");
    case 405:
      return new AppError("method_not_allowed", "Method not allowed on this endpoint");
    case 400:
      return new AppError("bad_request", `Invalid request: ${summary || "does not match the API description"}`, { errors });
    default:
      return new AppError("internal", "Internal error");
  }
}

export function problemOf(err: AppError, requestId: string | undefined): Problem {
  const entry = ERROR_TABLE[err.code];
  return {
    type: PROBLEM_TYPE_PREFIX + err.code,
    title: entry.title,
    status: entry.status,
    detail: err.message,
    code: err.code,
    ...(requestId ? { instance: requestId } : {}),
    ...(err.detail ? { context: err.detail } : {}),
  };
}

/**
 * Answers a failed request with its problem document, on either path: internal errors logged
 * (never sent), counted by code, `WWW-Authenticate` on 401, `Retry-After` until the next UTC
 * day on a used-up quota. Returns the code, for the access log.
 */
export function sendProblem(
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string | undefined,
  observe: { logger: Logger; metrics: HttpMetrics },
): ErrorCode {
  const error = requestError(err);
  if (error.code === "internal") {
    const e = err as Error;
    observe.logger.error("internal error", { reqId: requestId, error: e?.name, message: e?.message, stack: e?.stack });
  }
  const problem = problemOf(error, requestId);
  observe.metrics.errors.inc({ code: error.code });
  if (problem.status === 401) {
    res.setHeader("WWW-Authenticate", req.headers.authorization ? 'Bearer realm="dpki", error="invalid_token"' : 'Bearer realm="dpki"');
  }
  if (error.code === "quota_exceeded") {
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    res.setHeader("Retry-After", String(Math.ceil((midnight - now.getTime()) / 1000)));
  }
  sendBody(res, problem.status, `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, JSON.stringify(problem));
  return error.code;
}
