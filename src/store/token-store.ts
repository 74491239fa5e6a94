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
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  lastUsedAt: Date | null;
}

/**
 * Persistence of API tokens, as domain operations. Every state change commits together with
 * its audit entry. Implementations: SQLite (sqlite-token-store.ts); PostgreSQL later.
 */
export interface TokenStore {
  /** Throws AppError("already_exists") when the id or the name is taken, inserting nothing. */
  insertToken(token: TokenRecord, audit: AuditInput): Promise<void>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Every token, oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** Throws not_found, or conflict when already revoked, changing nothing. */
  revokeToken(id: string, at: Date, by: string, audit: AuditInput): Promise<TokenRecord>;
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
