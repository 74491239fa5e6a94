import { AppError } from "../../errors.js";

/**
 * "host:port/database" of a connection URL, for messages and logs: the user name, the password
 * and the query string (which may carry a password too) are left out.
 */
export function describeDatabase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError(
      "config_error",
      "Cannot parse the PostgreSQL connection URL: expected postgres://[user[:password]@]host[:port]/database",
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new AppError("config_error", "A PostgreSQL connection URL starts with postgres:// or postgresql://");
  }
  const host = decodeURIComponent(parsed.hostname) || parsed.searchParams.get("host") || "localhost";
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "(default database)";
  return `${host}${parsed.port ? `:${parsed.port}` : ""}/${db}`;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

/** The connection itself failed (not the statement): the pool must drop it. */
export function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  const code = e?.code;
  if (typeof code === "string" && (NETWORK_CODES.has(code) || code.startsWith("08") || code.startsWith("57P"))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    e?.message ?? "",
  );
}

/** Deadlock and serialisation failures: the transaction did nothing and may simply run again. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "40001" || code === "40P01";
}

/**
 * Turns what the driver throws into the errors dpki reports: an unreachable database is
 * `unavailable` (503 / exit 69), a refused login or a missing database `config_error`, text the
 * database cannot hold `invalid_argument`. Anything else (constraint errors the stores map
 * themselves, AppErrors) passes through unchanged.
 */
export function pgFailure(err: unknown, where: string): unknown {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; message?: string } | null;
  const code = e?.code;
  if (code === "28P01" || code === "28000") {
    return new AppError("config_error", `PostgreSQL at ${where} refused the login: check the user and password`);
  }
  if (code === "3D000") return new AppError("config_error", `PostgreSQL at ${where}: the database does not exist (create it first)`);
  if (code === "42501") return new AppError("config_error", `PostgreSQL at ${where}: permission denied (${e?.message ?? ""})`);
  if (code === "22021" || code === "22P05") {
    return new AppError("invalid_argument", "The input holds a character the database cannot store (a NUL byte or invalid UTF-8)");
  }
  if (isConnectionFailure(err)) {
    return new AppError("unavailable", `Cannot reach the PostgreSQL database at ${where}: ${safeReason(e?.message)}`);
  }
  return err;
}

/** The driver's reason, which names hosts and ports but never credentials; cut to one line. */
function safeReason(message: string | undefined): string {
  return (message ?? "connection failed").split("\n")[0]!.slice(0, 200);
}
