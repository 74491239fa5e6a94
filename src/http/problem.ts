import { AppError, ERROR_TABLE, toAppError, type ErrorCode } from "../errors.js";

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
  if (e && typeof e.status === "number" && Array.isArray((err as ValidatorError).errors)) return validationError(err as ValidatorError);
  return toAppError(err);
}

function bodyParserError(e: { type?: string; status?: number; limit?: number }): AppError {
  switch (e.type) {
    case "entity.parse.failed":
      return new AppError("bad_request", "Cannot parse request body: invalid JSON");
    case "entity.too.large":
      return new AppError("payload_too_large", `Request body is larger than the ${e.limit ?? "allowed"} bytes this endpoint accepts`, {
        limit: e.limit,
      });
    case "encoding.unsupported":
    case "charset.unsupported":
      return new AppError("unsupported_media_type", "Unsupported request body encoding or charset: send UTF-8 JSON");
    default:
      return new AppError("bad_request", "Cannot read request body");
  }
}

/** The shape of express-openapi-validator's HttpError. */
interface ValidatorError {
  status: number;
  errors: Array<{ path?: string; message?: string }>;
}

function validationError(e: ValidatorError): AppError {
  const errors = (e.errors ?? []).slice(0, 20).map((item) => ({
    path: clip(String(item.path ?? "")),
    message: clip(String(item.message ?? "")),
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

/** Attacker-supplied text echoed in messages stays short. */
function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
