import { AppError } from "../../errors.js";
import type { AuditInput } from "../records.js";
import type { OperatorRecord, TokenRecord, TokenRole, TokenStore } from "../token-store.js";
import { checkOperatorActive } from "../token-store.js";
import { isUniqueViolation, type PgDb } from "./pg-db.js";

type Row = Record<string, unknown>;

/**
 * API tokens on PostgreSQL: each change commits with its audit entry. Every node reads the token
 * on every request, so a revocation on one node refuses the token on all of them at once.
 */
export class PgTokenStore implements TokenStore {
  /** Token lookups waiting for the next query, by id. */
  private lookups = new Map<string, Array<{ resolve: (t: TokenRecord | null) => void; reject: (err: unknown) => void }>>();
  private flushing = false;

  constructor(private readonly pg: PgDb) {}

  async insertToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        if (token.operator !== null) {
          // FOR SHARE waits for a disable in progress, so a token never outlives its operator's disabling.
          const [op] = await tx.query("SELECT disabled_at FROM operators WHERE name = $1 FOR SHARE", [token.operator]);
          checkOperatorActive(op, token.operator);
        }
        await tx.query(
          `INSERT INTO api_tokens (id, name, role, secret_hash, profiles, quota_per_day, scope, hub, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at, operator)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
          [
            token.id,
            token.name,
            token.role,
            token.secretHash,
            JSON.stringify(token.profiles),
            token.quotaPerDay,
            token.scope,
            token.hub,
            token.createdAt,
            token.createdBy,
            token.expiresAt,
            token.revokedAt,
            token.revokedBy,
            token.lastUsedAt,
            token.operator,
          ],
        );
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError("already_exists", token.name ? `A token named "${token.name}" already exists` : "Token id already in use");
      }
      throw err;
    }
  }

  /**
   * Every API request reads its token, so lookups that arrive together go to the database as one
   * query, sent after the last of them arrived: each still sees every change committed before it
   * asked (a revocation on another node included), at a fraction of the round trips.
   */
  getToken(id: string): Promise<TokenRecord | null> {
    return new Promise((resolve, reject) => {
      const waiting = this.lookups.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.lookups.set(id, [{ resolve, reject }]);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flushLookups());
      }
    });
  }

  private async flushLookups(): Promise<void> {
    const batch = this.lookups;
    this.lookups = new Map();
    this.flushing = false;
    try {
      const rows = await this.pg.query("SELECT * FROM api_tokens WHERE id = ANY($1::text[])", [[...batch.keys()]]);
      const found = new Map(rows.map((r) => [r.id as string, r]));
      for (const [id, waiters] of batch) {
        const row = found.get(id);
        for (const w of waiters) w.resolve(row ? fromRow(row) : null);
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.pg.query("SELECT * FROM api_tokens ORDER BY created_at, id")).map(fromRow);
  }

  async revokeToken(id: string, at: Date, by: string, audit: AuditInput): Promise<TokenRecord> {
    const { result } = await this.pg.write(async (tx) => {
      const [row] = await tx.query(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL RETURNING *",
        [at, by, id],
      );
      if (!row) {
        const [existing] = await tx.query<{ revoked_at: Date }>("SELECT revoked_at FROM api_tokens WHERE id = $1", [id]);
        if (!existing) throw new AppError("not_found", `No token with id ${id}`);
        throw new AppError("conflict", `Token ${id} was already revoked at ${existing.revoked_at.toISOString()}`);
      }
      tx.audit(audit);
      return fromRow(row);
    });
    return result;
  }

  async insertOperator(operator: OperatorRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        await tx.query("INSERT INTO operators (name, created_at, created_by) VALUES ($1, $2, $3)", [
          operator.name,
          operator.createdAt,
          operator.createdBy,
        ]);
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("already_exists", `An operator named "${operator.name}" already exists`);
      throw err;
    }
  }

  async getOperator(name: string): Promise<OperatorRecord | null> {
    const [row] = await this.pg.query("SELECT * FROM operators WHERE name = $1", [name]);
    return row ? operatorFromRow(row) : null;
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (await this.pg.query("SELECT * FROM operators ORDER BY created_at, name")).map(operatorFromRow);
  }

  async disableOperator(
    name: string,
    at: Date,
    by: string,
    audit: (revokedTokenIds: string[]) => AuditInput,
  ): Promise<{ operator: OperatorRecord; revokedTokenIds: string[] }> {
    const { result } = await this.pg.write(async (tx) => {
      const [row] = await tx.query(
        "UPDATE operators SET disabled_at = $1, disabled_by = $2 WHERE name = $3 AND disabled_at IS NULL RETURNING *",
        [at, by, name],
      );
      if (!row) {
        const [existing] = await tx.query<{ disabled_at: Date }>("SELECT disabled_at FROM operators WHERE name = $1", [name]);
        if (!existing) throw new AppError("not_found", `No operator named ${JSON.stringify(name)}`);
        throw new AppError("conflict", `Operator ${name} was already disabled at ${existing.disabled_at.toISOString()}`);
      }
      const revoked = await tx.query<{ id: string; created_at: Date }>(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE operator = $3 AND revoked_at IS NULL RETURNING id, created_at",
        [at, by, name],
      );
      const revokedTokenIds = revoked
        .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id))
        .map((r) => r.id);
      tx.audit(audit(revokedTokenIds));
      return { operator: operatorFromRow(row), revokedTokenIds };
    });
    return result;
  }

  async setOperatorTotp(name: string, sealedSecret: string, at: Date, audit: AuditInput): Promise<OperatorRecord> {
    const { result } = await this.pg.write(async (tx) => {
      const [existing] = await tx.query<{ disabled_at: Date | null }>("SELECT disabled_at FROM operators WHERE name = $1 FOR UPDATE", [
        name,
      ]);
      if (!existing) throw new AppError("not_found", `No operator named ${JSON.stringify(name)}`);
      if (existing.disabled_at) throw new AppError("conflict", `Operator ${name} is disabled`);
      const [row] = await tx.query(
        "UPDATE operators SET totp_secret = $1, totp_enrolled_at = $2, totp_last_step = NULL WHERE name = $3 RETURNING *",
        [sealedSecret, at, name],
      );
      tx.audit(audit);
      return operatorFromRow(row!);
    });
    return result;
  }

  async claimTotpStep(name: string, step: number): Promise<boolean> {
    // One statement: the row lock orders concurrent claims on every node, and only one sees the older step.
    const rows = await this.pg.query(
      "UPDATE operators SET totp_last_step = $1 WHERE name = $2 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1) RETURNING name",
      [step, name],
    );
    return rows.length === 1;
  }

  async touchToken(id: string, at: Date): Promise<void> {
    await this.pg.query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", [at, id]);
  }

  async consumeQuota(id: string, day: string, n: number, limit: number): Promise<{ ok: boolean; used: number }> {
    if (n > limit) return { ok: false, used: await this.used(id, day) };
    // One statement: the row lock orders every node's consumers, and the WHERE refuses what would pass the limit.
    const [row] = await this.pg.query<{ count: number }>(
      `INSERT INTO api_token_usage (token_id, day, count) VALUES ($1, $2, $3)
       ON CONFLICT (token_id, day) DO UPDATE SET count = api_token_usage.count + excluded.count
       WHERE api_token_usage.count + excluded.count <= $4
       RETURNING count`,
      [id, day, n, limit],
    );
    if (row) return { ok: true, used: row.count };
    return { ok: false, used: await this.used(id, day) };
  }

  async releaseQuota(id: string, day: string, n: number): Promise<void> {
    await this.pg.query("UPDATE api_token_usage SET count = greatest(0, count - $1) WHERE token_id = $2 AND day = $3", [n, id, day]);
  }

  private async used(id: string, day: string): Promise<number> {
    const [row] = await this.pg.query<{ count: number }>("SELECT count FROM api_token_usage WHERE token_id = $1 AND day = $2", [id, day]);
    return row?.count ?? 0;
  }
}

function fromRow(row: Row): TokenRecord {
  return {
    id: row.id as string,
    name: (row.name as string | null) ?? null,
    role: row.role as TokenRole,
    secretHash: row.secret_hash as string,
    profiles: JSON.parse(row.profiles as string) as string[],
    quotaPerDay: (row.quota_per_day as number | null) ?? null,
    scope: (row.scope as string | null) ?? null,
    hub: (row.hub as string | null) ?? null,
    operator: (row.operator as string | null) ?? null,
    createdAt: row.created_at as Date,
    createdBy: row.created_by as string,
    expiresAt: (row.expires_at as Date | null) ?? null,
    revokedAt: (row.revoked_at as Date | null) ?? null,
    revokedBy: (row.revoked_by as string | null) ?? null,
    lastUsedAt: (row.last_used_at as Date | null) ?? null,
  };
}

function operatorFromRow(row: Row): OperatorRecord {
  return {
    name: row.name as string,
    createdAt: row.created_at as Date,
    createdBy: row.created_by as string,
    disabledAt: (row.disabled_at as Date | null) ?? null,
    disabledBy: (row.disabled_by as string | null) ?? null,
    totpSecret: (row.totp_secret as string | null) ?? null,
    totpEnrolledAt: (row.totp_enrolled_at as Date | null) ?? null,
    totpLastStep: row.totp_last_step === null || row.totp_last_step === undefined ? null : Number(row.totp_last_step),
  };
}
