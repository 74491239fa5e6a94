/**
 * The one error type the CA engine throws. `ca/` knows nothing of HTTP or exit codes:
 * src/errors.ts maps each code to a status and an exit code in one table.
 */
export type PkiErrorCode =
  | "bad_encoding" // not PEM/DER, truncated, trailing bytes, wrong ASN.1 shape
  | "bad_signature" // a CSR (or other signed object) whose signature does not verify
  | "weak_key" // key type or size below what is accepted at all
  | "unsupported_algorithm" // an algorithm the engine does not handle
  | "profile_violation" // a valid request the certificate profile refuses
  | "key_unavailable" // a CA key that cannot be opened (missing/wrong passphrase, token absent, wrong PIN)
  | "key_offline" // a CA key kept off this machine on purpose (an offline root)
  | "invalid_argument"; // a caller passed parameters the engine cannot honour

export class PkiError extends Error {
  override readonly name = "PkiError";
  constructor(
    readonly code: PkiErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}
