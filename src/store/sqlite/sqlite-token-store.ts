import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import type { AuditInput } from "../records.js";
import { checkOperatorActive, type OperatorRecord, type TokenRecord, type TokenRole, type TokenStore } from "../token-store.js";
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";

type Row = Record<string, unknown>;

/** API tokens on the shared SQLite database: each change commits with its audit entry. */
export class SqliteTokenStore implements TokenStore {
  private readonly stmts;

  constructor(private readonly sqlite: SqliteDb) {
    this.stmts = prepare(sqlite.db);
  }

  async insertToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    try {
      this.sqlite.write(() => {
        if (token.operator !== null) checkOperatorActive(this.stmts.operator.get(token.operator) as Row | undefined, token.operator);
        this.stmts.insert.run(toRow(token));
        this.sqlite.appendAudit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError("already_exists", token.name ? `A token named "${token.name}" already exists` : "Token id already in use");
      }
      throw err;
    }
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const row = this.stmts.byId.get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.stmts.list.all() as Row[]).map(fromRow);
  }

  async revokeToken(id: string, at: Date, by: string, audit: AuditInput): Promise<TokenRecord> {
    return this.sqlite.write(() => {
      const row = this.stmts.byId.get(id) as Row | undefined;
      if (!row) throw new AppError("not_found", `No token with id ${id}`);
      if (row.revoked_at) throw new AppError("conflict", `Token ${id} was already revoked at ${row.revoked_at}`);
      this.stmts.revoke.run(at.toISOString(), by, id);
      this.sqlite.appendAudit(audit);
      return fromRow(this.stmts.byId.get(id) as Row);
    });
  }

  async insertOperator(operator: OperatorRecord, audit: AuditInput): Promise<void> {
    try {
      this.sqlite.write(() => {
        this.stmts.insertOperator.run(operator.name, operator.createdAt.toISOString(), operator.createdBy);
        this.sqlite.appendAudit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("already_exists", `An operator named "${operator.name}" already exists`);
      throw err;
    }
  }

  async getOperator(name: string): Promise<OperatorRecord | null> {
    const row = this.stmts.operator.get(name) as Row | undefined;
    return row ? operatorFromRow(row) : null;
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (this.stmts.operators.all() as Row[]).map(operatorFromRow);
  }

  async disableOperator(
    name: string,
    at: Date,
    by: string,
    audit: (revokedTokenIds: string[]) => AuditInput,
  ): Promise<{ operator: OperatorRecord; revokedTokenIds: string[] }> {
    return this.sqlite.write(() => {
      const row = this.stmts.operator.get(name) as Row | undefined;
      if (!row) throw new AppError("not_found", `No operator named ${JSON.stringify(name)}`);
      if (row.disabled_at) throw new AppError("conflict", `Operator ${name} was already disabled at ${row.disabled_at}`);
      const revokedTokenIds = (this.stmts.activeOfOperator.all(name) as Array<{ id: string }>).map((r) => r.id);
      this.stmts.disableOperator.run(at.toISOString(), by, name);
      this.stmts.revokeOfOperator.run(at.toISOString(), by, name);
      this.sqlite.appendAudit(audit(revokedTokenIds));
      return { operator: operatorFromRow(this.stmts.operator.get(name) as Row), revokedTokenIds };
    });
  }

  async setOperatorTotp(name: string, sealedSecret: string, at: Date, audit: AuditInput): Promise<OperatorRecord> {
    return this.sqlite.write(() => {
      const row = this.stmts.operator.get(name) as Row | undefined;
      if (!row) throw new AppError("not_found", `No operator named ${JSON.stringify(name)}`);
      if (row.disabled_at) throw new AppError("conflict", `Operator ${name} is disabled`);
      this.stmts.setTotp.run(sealedSecret, at.toISOString(), name);
      this.sqlite.appendAudit(audit);
      return operatorFromRow(this.stmts.operator.get(name) as Row);
    });
  }

  async claimTotpStep(name: string, step: number): Promise<boolean> {
    return this.sqlite.write(() => this.stmts.claimStep.run(step, name, step).changes === 1);
  }

  async touchToken(id: string, at: Date): Promise<void> {
    this.sqlite.write(() => this.stmts.touch.run(at.toISOString(), id));
  }

  async consumeQuota(id: string, day: string, n: number, limit: number): Promise<{ ok: boolean; used: number }> {
    return this.sqlite.write(() => {
      const used = ((this.stmts.usage.get(id, day) as { count: number } | undefined)?.count ?? 0) as number;
      if (used + n > limit) return { ok: false, used };
      this.stmts.addUsage.run(id, day, n);
      return { ok: true, used: used + n };
    });
  }

  async releaseQuota(id: string, day: string, n: number): Promise<void> {
    this.sqlite.write(() => this.stmts.releaseUsage.run(n, id, day));
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO api_tokens (id, name, role, secret_hash, profiles, quota_per_day, scope, hub, operator, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at)
       VALUES (@id, @name, @role, @secretHash, @profiles, @quotaPerDay, @scope, @hub, @operator, @createdAt, @createdBy, @expiresAt, @revokedAt, @revokedBy, @lastUsedAt)`,
    ),
    byId: db.prepare("SELECT * FROM api_tokens WHERE id = ?"),
    list: db.prepare("SELECT * FROM api_tokens ORDER BY created_at, id"),
    revoke: db.prepare("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL"),
    insertOperator: db.prepare("INSERT INTO operators (name, created_at, created_by) VALUES (?, ?, ?)"),
    operator: db.prepare("SELECT * FROM operators WHERE name = ?"),
    operators: db.prepare("SELECT * FROM operators ORDER BY created_at, name"),
    disableOperator: db.prepare("UPDATE operators SET disabled_at = ?, disabled_by = ? WHERE name = ? AND disabled_at IS NULL"),
    activeOfOperator: db.prepare("SELECT id FROM api_tokens WHERE operator = ? AND revoked_at IS NULL ORDER BY created_at, id"),
    revokeOfOperator: db.prepare("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE operator = ? AND revoked_at IS NULL"),
    setTotp: db.prepare("UPDATE operators SET totp_secret = ?, totp_enrolled_at = ?, totp_last_step = NULL WHERE name = ?"),
    claimStep: db.prepare(
      "UPDATE operators SET totp_last_step = ? WHERE name = ? AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < ?)",
    ),
    touch: db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?"),
    usage: db.prepare("SELECT count FROM api_token_usage WHERE token_id = ? AND day = ?"),
    addUsage: db.prepare(
      "INSERT INTO api_token_usage (token_id, day, count) VALUES (?, ?, ?) ON CONFLICT (token_id, day) DO UPDATE SET count = count + excluded.count",
    ),
    releaseUsage: db.prepare("UPDATE api_token_usage SET count = max(0, count - ?) WHERE token_id = ? AND day = ?"),
  };
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function date(v: unknown): Date | null {
  return v ? new Date(v as string) : null;
}

function toRow(t: TokenRecord): Row {
  return {
    ...t,
    profiles: JSON.stringify(t.profiles),
    createdAt: iso(t.createdAt),
    expiresAt: iso(t.expiresAt),
    revokedAt: iso(t.revokedAt),
    lastUsedAt: iso(t.lastUsedAt),
  };
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
    createdAt: new Date(row.created_at as string),
    createdBy: row.created_by as string,
    expiresAt: date(row.expires_at),
    revokedAt: date(row.revoked_at),
    revokedBy: (row.revoked_by as string | null) ?? null,
    lastUsedAt: date(row.last_used_at),
  };
}

function operatorFromRow(row: Row): OperatorRecord {
  return {
    name: row.name as string,
    createdAt: new Date(row.created_at as string),
    createdBy: row.created_by as string,
    disabledAt: date(row.disabled_at),
    disabledBy: (row.disabled_by as string | null) ?? null,
    totpSecret: (row.totp_secret as string | null) ?? null,
    totpEnrolledAt: date(row.totp_enrolled_at),
    totpLastStep: row.totp_last_step === null || row.totp_last_step === undefined ? null : Number(row.totp_last_step),
  };
}
