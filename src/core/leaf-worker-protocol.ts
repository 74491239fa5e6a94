import type { BuiltLeaf } from "../../ca/leaf-builder.js";
import type { Profile } from "../../ca/profile.js";
import { PkiError, type PkiErrorCode } from "../../ca/pki-error.js";
import { AppError, type ErrorCode } from "../errors.js";

/** Messages between WorkerLeafExecutor and its workers (structured clone; KeyObjects included). */
export type WorkerMessage =
  | { type: "issuer"; id: string; key: unknown; name: Uint8Array; keyId: Uint8Array; notAfter: number; urls: unknown }
  | { type: "profile"; profile: Profile }
  | { type: "build"; jobs: WorkerJob[] };

export interface WorkerJob {
  id: number;
  issuerId: string;
  profile: string;
  csr: string | Uint8Array;
  validityMs?: number;
  commonNameMustEqual?: string;
  notBefore: number;
}

export type WorkerResult = { id: number; ok: true; leaf: BuiltLeaf } | { id: number; ok: false; error: SerializedError };

export interface SerializedError {
  kind: "pki" | "app" | "other";
  code: string;
  message: string;
  detail?: Record<string, unknown>;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof PkiError) return { kind: "pki", code: err.code, message: err.message, detail: err.detail };
  if (err instanceof AppError) return { kind: "app", code: err.code, message: err.message, detail: err.detail };
  return { kind: "other", code: "internal", message: "Internal error" };
}

/** Rebuilds the typed error a worker reported, so callers see the same error as inline. */
export function deserializeError(e: SerializedError): Error {
  if (e.kind === "pki") return new PkiError(e.code as PkiErrorCode, e.message, e.detail);
  return new AppError(e.code as ErrorCode, e.message, e.detail);
}
