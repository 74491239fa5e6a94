import { AppError } from "../errors.js";
import type { AuditInput } from "./records.js";

export const TOKEN_ROLES = ["admin", "operator", "factory", "hub", "auditor"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** An API token as stored: only the SHA-256 of its secret is kept, never the secret. */
export interface TokenRecord {
  /** Public part of the token (`dpki_<id>_<secret>`), 16 lowercase hex characters. */
  id: string;
  /** Unique, optional; the actor in the log is `token:<name>` (or `token:<id>` without one). */
  name: string | null;
  role: TokenRole;
  /** SHA-256 (hex) of the secret part. */
  secretHash: string;
  /** Factory tokens: the only profiles they may issue under. Empty for other roles. */
  profiles: string[];
  /** Factory tokens: most certificates per UTC day, or null for no limit. */
  quotaPerDay: number | null;
  /** A DPS ID scope the token is confined to, or null. */
  scope: string | null;
  /** Hub tokens: the one hub they act for. */
  hub: string | null;
  /** The operator (person or system) the token was minted for; the log then names them. */
  operator: string | null;
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  lastUsedAt: Date | null;
}

/** A named person or system that tokens are minted for (`dpki operator add`). */
export interface OperatorRecord {
  name: string;
  createdAt: Date;
  createdBy: string;
  disabledAt: Date | null;
  disabledBy: string | null;
  /** The TOTP secret (base32), sealed by the caller's secret box; null when not enrolled. */
  totpSecret: string | null;
  totpEnrolledAt: Date | null;
  /** The last TOTP time step accepted: a code of this step or an earlier one is never accepted again. */
  totpLastStep: number | null;
}

/**
 * Persistence of API tokens, as domain operations. Every state change commits together with
 * its audit entry. Implementations: SQLite (sqlite-token-store.ts); PostgreSQL later.
 */
export interface TokenStore {
  /**
   * Throws AppError("already_exists") when the id or the name is taken, or not_found / conflict
   * when the token's operator is unknown / disabled, inserting nothing.
   */
  insertToken(token: TokenRecord, audit: AuditInput): Promise<void>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Every token, oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** Throws not_found, or conflict when already revoked, changing nothing. */
  revokeToken(id: string, at: Date, by: string, audit: AuditInput): Promise<TokenRecord>;
  /** Throws already_exists when the name is taken, inserting nothing. */
  insertOperator(operator: OperatorRecord, audit: AuditInput): Promise<void>;
  getOperator(name: string): Promise<OperatorRecord | null>;
  /** Every operator, oldest first. */
  listOperators(): Promise<OperatorRecord[]>;
  /**
   * Disables the operator and revokes every token of theirs not yet revoked, in one transaction
   * with the entry `audit` builds from the revoked ids. Throws not_found, or conflict when
   * already disabled, changing nothing.
   */
  disableOperator(
    name: string,
    at: Date,
    by: string,
    audit: (revokedTokenIds: string[]) => AuditInput,
  ): Promise<{ operator: OperatorRecord; revokedTokenIds: string[] }>;
  /**
   * Enrolls (or re-enrolls) the operator in TOTP with a sealed secret, forgetting the last step
   * used, with its entry. Throws not_found, or conflict when the operator is disabled.
   */
  setOperatorTotp(name: string, sealedSecret: string, at: Date, audit: AuditInput): Promise<OperatorRecord>;
  /**
   * Marks TOTP step `step` used when it is later than the last one accepted: true once per step,
   * so a code is accepted once, whichever node sees it.
   */
  claimTotpStep(name: string, step: number): Promise<boolean>;
  /** Notes that the token was used (kept coarse: callers throttle). */
  touchToken(id: string, at: Date): Promise<void>;
  /**
   * Atomically adds `n` to the token's count for `day` (YYYY-MM-DD, UTC) when the total stays
   * within `limit`; otherwise changes nothing. Returns whether it was added and the count after.
   */
  consumeQuota(id: string, day: string, n: number, limit: number): Promise<{ ok: boolean; used: number }>;
  /** Gives back `n` earlier consumed (an issuance that then failed). */
  releaseQuota(id: string, day: string, n: number): Promise<void>;
}

/** A token is minted only for an operator who exists and is not disabled (checked inside the insert's transaction). */
export function checkOperatorActive(row: { disabled_at?: unknown } | undefined, name: string): void {
  if (!row) throw new AppError("not_found", `No operator named ${JSON.stringify(name)}`);
  if (row.disabled_at) throw new AppError("conflict", `Operator ${name} is disabled: no new tokens for them`);
}
