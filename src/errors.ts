import { PkiError, type PkiErrorCode } from "../ca/pki-error.js";

/**
 * Every failure dpki reports has a stable code. This table is the one place where a code
 * becomes an HTTP status (problem+json, RFC 9457) and a CLI exit code (sysexits.h).
 */
export const ERROR_TABLE = {
  bad_request: { status: 400, exit: 64, title: "Bad request" },
  bad_encoding: { status: 400, exit: 65, title: "Malformed input" },
  bad_signature: { status: 400, exit: 65, title: "Signature does not verify" },
  weak_key: { status: 400, exit: 65, title: "Key too weak" },
  unsupported_algorithm: { status: 400, exit: 65, title: "Unsupported algorithm" },
  invalid_argument: { status: 400, exit: 64, title: "Invalid argument" },
  profile_violation: { status: 422, exit: 65, title: "Request violates the certificate profile" },
  unsupported_media_type: { status: 415, exit: 65, title: "Unsupported media type" },
  payload_too_large: { status: 413, exit: 65, title: "Request body too large" },
  unauthorized: { status: 401, exit: 77, title: "Authentication required" },
  forbidden: { status: 403, exit: 77, title: "Not allowed" },
  otp_required: { status: 401, exit: 77, title: "One-time password required" },
  not_found: { status: 404, exit: 66, title: "Not found" },
  method_not_allowed: { status: 405, exit: 64, title: "Method not allowed" },
  already_exists: { status: 409, exit: 73, title: "Already exists" },
  already_revoked: { status: 409, exit: 65, title: "Already revoked" },
  conflict: { status: 409, exit: 75, title: "Conflict" },
  confirmation_required: { status: 409, exit: 64, title: "Confirmation required" },
  quota_exceeded: { status: 429, exit: 69, title: "Quota exceeded" },
  rate_limited: { status: 429, exit: 69, title: "Too many requests" },
  key_unavailable: { status: 503, exit: 78, title: "CA key unavailable" },
  key_offline: { status: 503, exit: 69, title: "CA key offline" },
  not_initialized: { status: 503, exit: 78, title: "CA not initialised" },
  config_error: { status: 500, exit: 78, title: "Configuration error" },
  unavailable: { status: 503, exit: 69, title: "Service unavailable" },
  log_damaged: { status: 503, exit: 65, title: "Issuance log damaged" },
  store_damaged: { status: 503, exit: 69, title: "Database damaged" },
  internal: { status: 500, exit: 70, title: "Internal error" },
} as const satisfies Record<string, { status: number; exit: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const PKI_CODES: Record<PkiErrorCode, ErrorCode> = {
  bad_encoding: "bad_encoding",
  bad_signature: "bad_signature",
  weak_key: "weak_key",
  unsupported_algorithm: "unsupported_algorithm",
  profile_violation: "profile_violation",
  key_unavailable: "key_unavailable",
  key_offline: "key_offline",
  invalid_argument: "invalid_argument",
};

/** Normalises anything thrown into an AppError; unknown errors become `internal` without leaking their text. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof PkiError) return new AppError(PKI_CODES[err.code], err.message, err.detail);
  const damage = databaseDamageOf(err);
  if (damage) return storeDamaged(damage, databaseFile);
  return new AppError("internal", "Internal error");
}

/** The database file this process opened last: what a damage error found mid-query names. */
let databaseFile: string | undefined;

export function noteDatabaseFile(file: string): void {
  databaseFile = file;
}

/** SQLITE_CORRUPT (and its extended codes) or SQLITE_NOTADB from the driver, else undefined. */
export function databaseDamageOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^SQLITE_(CORRUPT|NOTADB)/.test(code) ? code : undefined;
}

export function storeDamaged(sqliteCode: string, file: string | undefined, what = "it is damaged or not a dpki database"): AppError {
  return new AppError(
    "store_damaged",
    `Cannot read the database${file ? ` ${file}` : ""}: ${what} (${sqliteCode}); restore it from a backup`,
    { sqliteCode, ...(file ? { file } : {}) },
  );
}

/** A typed error as it crosses a thread boundary (structured clone drops class identity). */
export interface WireError {
  kind: "pki" | "app";
  code: string;
  message: string;
  detail?: Record<string, unknown>;
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof PkiError) return { kind: "pki", code: err.code, message: err.message, detail: err.detail };
  const e = toAppError(err);
  return { kind: "app", code: e.code, message: e.message, detail: e.detail };
}

/** Rebuilds the typed error another thread reported, so callers see what they would have seen inline. */
export function errorFromWire(e: WireError): Error {
  if (e.kind === "pki") return new PkiError(e.code as PkiErrorCode, e.message, e.detail);
  return new AppError(e.code as ErrorCode, e.message, e.detail);
}
