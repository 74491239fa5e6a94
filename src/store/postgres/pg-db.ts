import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { AppError } from "../../errors.js";
import type { AuditEntry, AuditInput } from "../records.js";
import type { StoreChange } from "../store-changes.js";
import { appendEntries, type AppendOptions } from "./pg-audit-log.js";
import type { AuditDefaults } from "../audit-defaults.js";
import type { Query } from "./pg-query.js";
import { PG_MIGRATIONS } from "./pg-migrations.js";
import { describeDatabase, pgFailure, isRetryable, isConnectionFailure } from "./pg-errors.js";

export interface PgDbOptions {
  /** Most connections this process opens (each node has its own pool). */
  poolSize?: number;
  /** The policy hash and source put on entries whose callers leave them undefined. */
  auditDefaults?: () => AuditDefaults;
  /**
   * Appends a `policy.change` entry before the first entry made under a policy hash other than
   * the last one logged: the log then says when the profiles changed.
   */
  announcePolicyChanges?: boolean;
}

export type { Query } from "./pg-query.js";

/**
 * BIGINT columns (seq, counts, ids) as numbers: every one of them stays far below 2^53, and the
 * stores compare and page with them as numbers, as on SQLite.
 */
const TYPES = new pg.TypeOverrides();
TYPES.setTypeParser(pg.types.builtins.INT8, (text: string) => Number(text));

/** A hook that follows the log inside the appending transaction (the hub change feed). */
export type AppendHook = (tx: PgTx, entries: AuditEntry[]) => Promise<void>;

/**
 * One write transaction. State changes run through `query`; log entries are queued with `audit`
 * and appended just before COMMIT, so the log's head row is locked only for the append and the
 * commit itself, not while the change is made.
 */
export class PgTx {
  readonly queued: AuditInput[] = [];
  /** The appended entries, in order: set once the transaction has committed. */
  entries: AuditEntry[] = [];
  readonly changes = new Set<StoreChange>();

  constructor(readonly query: Query) {}

  audit(input: AuditInput): void {
    this.queued.push(input);
  }

  /** Marks a kind of data other nodes cache as changed: they are told when this transaction commits. */
  changed(kind: StoreChange): void {
    this.changes.add(kind);
  }
}

export const CHANGE_CHANNEL = "dpki_changes";

/**
 * One PostgreSQL database shared by the per-domain stores: the connection pool, the migrations,
 * write transactions and the audit chain, so any store's state change and its log entry commit
 * in the same transaction, whichever node makes it. The pool connects lazily; `ready` (awaited
 * by every call) applies the migrations once per process, under an advisory lock so nodes
 * starting together migrate one at a time.
 */
export class PgDb {
  readonly pool: pg.Pool;
  /** Host, port and database name for messages: never the password, never the whole URL. */
  readonly where: string;
  private readonly hooks: AppendHook[] = [];
  private salt: Buffer | undefined;
  private readyPromise: Promise<string[]> | undefined;
  private closed = false;
  /** How entries are completed and announced, whichever path appends them. */
  readonly appendOptions: AppendOptions;

  constructor(
    readonly url: string,
    options: PgDbOptions = {},
  ) {
    this.appendOptions = { defaults: options.auditDefaults, announcePolicyChanges: options.announcePolicyChanges };
    let config: pg.PoolConfig;
    try {
      this.where = describeDatabase(url);
      config = {
        connectionString: url,
        max: options.poolSize ?? 10,
        // A database that does not answer (a host that drops packets) fails a request after 10 s, not the TCP timeout.
        connectionTimeoutMillis: 10_000,
        // The driver closes a connection idle for 10 s: a node whose load comes in bursts (or shares
        // it with another node) then pays a new backend and re-prepares every statement on the next
        // burst, which costs the database more than the certificates. A node keeps its few connections.
        idleTimeoutMillis: 10 * 60_000,
        types: TYPES,
        application_name: "dpki",
        // A node that stops mid-transaction (a network cut, not a crash: the kernel closes a crashed
        // node's socket) must not hold the log's head row for long: the server ends such a session.
        // Options in the URL replace these.
        options: "-c idle_in_transaction_session_timeout=30000",
      };
    } catch (err) {
      throw err instanceof AppError ? err : new AppError("config_error", "Cannot parse the PostgreSQL connection URL");
    }
    this.pool = new pg.Pool(config);
    // An idle connection the server dropped (restart, failover) is discarded; the next query connects anew.
    this.pool.on("error", () => {});
  }

  /** Applies pending migrations once; resolves with the names applied by this call. */
  ready(): Promise<string[]> {
    if (!this.readyPromise) {
      const migrating = this.migrate();
      this.readyPromise = migrating;
      // A failed start (database down) is retried by the next call rather than remembered.
      migrating.catch(() => {
        if (this.readyPromise === migrating) this.readyPromise = undefined;
      });
    }
    return this.readyPromise;
  }

  /**
   * One statement outside any transaction (it commits on its own). One that lost a deadlock or
   * a serialisation failure did nothing, so it runs again.
   */
  async query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]> {
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.pool.query(named(text, values))).rows as R[];
      } catch (err) {
        if (isRetryable(err) && attempt < 5) continue;
        throw pgFailure(err, this.where);
      }
    }
  }

  /**
   * Runs `fn` in a transaction with the log entries it queued: all of it commits, or none. A
   * deadlock or serialisation failure (another node wrote the same rows) reruns `fn` from the
   * start, so `fn` must do nothing but queries.
   */
  async write<T>(fn: (tx: PgTx) => Promise<T>): Promise<{ result: T; entries: AuditEntry[] }> {
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw pgFailure(err, this.where);
      }
      const query: Query = async <R>(text: string, values?: unknown[]) => (await client.query(named(text, values))).rows as R[];
      const tx = new PgTx(query);
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await fn(tx);
        if (tx.queued.length > 0) {
          tx.entries = await appendEntries(query, tx.queued, this.appendOptions);
          await this.runHooks(tx);
        }
        if (tx.changes.has("dps-config")) await query("UPDATE change_counters SET n = n + 1 WHERE kind = 'dps-config'");
        if (tx.changes.size > 0) await query("SELECT pg_notify($1, $2)", [CHANGE_CHANNEL, [...tx.changes].join(",")]);
        await client.query("COMMIT");
        return { result, entries: tx.entries };
      } catch (err) {
        if (isConnectionFailure(err)) broken = err as Error;
        else await client.query("ROLLBACK").catch((e: Error) => (broken = e));
        if (isRetryable(err) && attempt < 5) continue;
        throw pgFailure(err, this.where);
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * Calls `hook` inside each transaction that appended log entries, after the append and under
   * the head lock, so views derived from the log move in step with it. A hook that fails is
   * rolled back to its savepoint; the change itself still commits.
   */
  onAppend(hook: AppendHook): void {
    this.hooks.push(hook);
  }

  private async runHooks(tx: PgTx): Promise<void> {
    for (const hook of this.hooks) {
      await tx.query("SAVEPOINT follow_log");
      try {
        await hook(tx, tx.entries);
        await tx.query("RELEASE SAVEPOINT follow_log");
      } catch (err) {
        if (isConnectionFailure(err)) throw err;
        await tx.query("ROLLBACK TO SAVEPOINT follow_log");
      }
    }
  }

  /** The database's secret-box salt (made when the database was first opened, kept forever). */
  secretSalt(): Buffer {
    if (!this.salt) throw new AppError("internal", "The database is not open yet");
    return this.salt;
  }

  /** Reads what every command needs; throws unavailable when the database cannot answer. */
  async probe(): Promise<void> {
    await this.query("SELECT seq FROM audit_head WHERE id = 1");
    await this.query("SELECT count(*) FROM cas");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.readyPromise?.catch(() => {});
    await this.pool.end();
  }

  private async migrate(): Promise<string[]> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw pgFailure(err, this.where);
    }
    const applied: string[] = [];
    try {
      // Session lock, not a transaction one: each migration commits on its own.
      // The log's hashes are of UTF-8 text, and the database computes some of them (dpki_entry_hash).
      const [encoding] = (await client.query<{ server_encoding: string }>("SHOW server_encoding")).rows;
      if (encoding?.server_encoding !== "UTF8") {
        throw new AppError(
          "config_error",
          `PostgreSQL at ${this.where} stores text as ${encoding?.server_encoding}: dpki needs a database created with ENCODING 'UTF8'`,
        );
      }
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      try {
        await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)");
        const done = new Set((await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name));
        const known = new Set(PG_MIGRATIONS.map((m) => m.name));
        const unknown = [...done].filter((n) => !known.has(n));
        if (unknown.length) {
          throw new AppError("config_error", `The database has migrations this dpki does not know (${unknown.join(", ")}): upgrade dpki`);
        }
        for (const m of PG_MIGRATIONS) {
          if (done.has(m.name)) continue;
          await client.query("BEGIN");
          try {
            await client.query(m.sql);
            await client.query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())", [m.name]);
            await client.query("COMMIT");
          } catch (err) {
            await client.query("ROLLBACK").catch(() => {});
            throw err;
          }
          applied.push(m.name);
        }
        await client.query("INSERT INTO secret_box (id, salt) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", [randomBytes(16)]);
        this.salt = (await client.query<{ salt: Buffer }>("SELECT salt FROM secret_box WHERE id = 1")).rows[0]!.salt;
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
      }
      return applied;
    } catch (err) {
      throw pgFailure(err, this.where);
    } finally {
      client.release();
    }
  }
}

/** Advisory lock key of the migrations ("dpki" in ASCII). */
const MIGRATION_LOCK = 0x64706b69;

/**
 * The statement as a named (prepared) one: each connection parses and plans a statement once
 * and then only binds values. Names come from the text, so one text never gets two names.
 */
function named(text: string, values?: unknown[]): pg.QueryConfig {
  let name = names.get(text);
  if (!name) {
    name = "dpki_" + createHash("sha1").update(text).digest("hex").slice(0, 20);
    if (names.size < 10_000) names.set(text, name);
  }
  return { name, text, values };
}

const names = new Map<string, string>();

/** Unique or primary-key clash, the one constraint error callers turn into `conflict` or `already_exists`. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "23505";
}
