import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { AppError, databaseDamageOf, noteDatabaseFile, storeDamaged } from "../../errors.js";
import { GENESIS_HASH, hashEntry } from "../audit-chain.js";
import { withAuditDefaults, type AuditDefaults } from "../audit-defaults.js";
import type { AuditEntry, AuditInput } from "../records.js";
import { MIGRATIONS } from "./migrations.js";

export interface SqliteDbOptions {
  /** FULL makes every commit durable against power loss, NORMAL only against process crashes. */
  synchronous?: "FULL" | "NORMAL";
  /** The policy hash and source put on entries whose callers leave them undefined. */
  auditDefaults?: () => AuditDefaults;
  /**
   * Appends a `policy.change` entry before the first entry made under a policy hash other than
   * the one of the last entry that carried one: the log then says when the profiles changed.
   */
  announcePolicyChanges?: boolean;
}

/** The log's head as this connection last saw it. */
interface Head {
  seq: number;
  hash: string;
  at: string;
  policyHash: string | null;
}

/**
 * One SQLite database shared by the per-domain stores (certificates, tokens, enrollments):
 * it owns the connection, the migrations, write transactions and the audit chain, so any
 * store's state change and its log entry commit in the same transaction.
 * better-sqlite3 is synchronous: a transaction never spans an await. BEGIN IMMEDIATE plus a
 * busy timeout serialises writers across processes (two `dpki` commands at once).
 */
export class SqliteDb {
  readonly db: Database.Database;
  private readonly auditHead: Database.Statement;
  private readonly insertAudit: Database.Statement;
  private readonly auditListeners: Array<(entry: AuditEntry) => void> = [];
  private readonly writeTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  /**
   * The log head as of this connection's last append, so a batch reads it from the database
   * once. Kept only until the `write` (or nested write, a savepoint) that appended it ends,
   * committed or not: the next one re-reads the head under its lock, after any rollback and
   * any other connection's appends.
   */
  private head: Head | undefined;
  private writeDepth = 0;
  /** Names of the migrations this open applied (`dpki db migrate` reports them). */
  readonly migrated: string[] = [];
  private readonly lastPolicyHash: Database.Statement;

  constructor(
    readonly file: string,
    private readonly options: SqliteDbOptions = {},
  ) {
    const isNew = file !== ":memory:" && !existsSync(file);
    if (!isNew && file !== ":memory:") checkNotTruncated(file);
    noteDatabaseFile(file);
    try {
      this.db = new Database(file);
      if (isNew) chmodSync(file, 0o600);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
      this.db.pragma("busy_timeout = 10000");
      this.db.pragma("foreign_keys = ON");
      // Every commit rewrites the last page of each table and index and their parents; a
      // checkpoint every 10000 WAL pages (40 MiB) instead of 1000 copies each of those into the
      // database file ten times less often: a quarter to 40% less read and written per
      // certificate. The price is a longer pause at each checkpoint (80 ms rather than 20 ms at
      // 300k certificates) and a WAL file that stays 40 MiB.
      this.db.pragma("wal_autocheckpoint = 10000");
      // 16 MiB, better-sqlite3's default, on purpose: at the end of a transaction that split
      // index pages out of order (random sha256 keys make nearly every certificate batch do so)
      // SQLite walks its whole page cache, so a larger cache made batches slower, and it adds to
      // RSS as the database grows. No mmap either: random lookups were barely faster and RSS
      // grew by the mapped size.
      this.db.pragma("cache_size = -16000");
      this.writeTransaction = this.db.transaction((fn: () => unknown) => {
        this.writeDepth++;
        try {
          return fn();
        } finally {
          this.writeDepth--;
          this.head = undefined;
        }
      });
      this.migrate();
      this.auditHead = this.db.prepare("SELECT seq, hash, at, policy_hash AS policyHash FROM audit_log ORDER BY seq DESC LIMIT 1");
      this.lastPolicyHash = this.db.prepare(
        "SELECT policy_hash AS policyHash FROM audit_log WHERE policy_hash IS NOT NULL ORDER BY seq DESC LIMIT 1",
      );
      this.insertAudit = this.db.prepare(
        `INSERT INTO audit_log (seq, at, actor, action, subject, serial, profile, policy_hash, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      // Reads the log's last page: a damaged file fails here, at start, not in the middle of a command.
      this.auditHead.get();
    } catch (err) {
      const damage = databaseDamageOf(err);
      if (damage) {
        (this as { db?: Database.Database }).db?.close();
        throw storeDamaged(damage, file);
      }
      throw err;
    }
  }

  private readonly generations = new Map<string, number>();

  /**
   * Counts this connection's own changes to a kind of data, for caches over it: PRAGMA
   * data_version sees other connections' commits but not this one's.
   */
  changed(kind: string): void {
    this.generations.set(kind, this.generation(kind) + 1);
  }

  generation(kind: string): number {
    return this.generations.get(kind) ?? 0;
  }

  /** Runs `fn` in a write transaction (BEGIN IMMEDIATE): all of it commits, or none. */
  write<T>(fn: () => T): T {
    return this.writeTransaction.immediate(fn) as T;
  }

  /**
   * Appends a log entry linked to the current head. Call only inside `write`. The entry's time
   * is settled here, under the write lock that orders the log: callers stamp `at` before they
   * take it, so a writer that stamped earlier but committed later (another thread or process)
   * gets its predecessor's time instead — the log's times never go back as its seq goes up.
   */
  appendAudit(input: AuditInput): AuditEntry {
    input = withAuditDefaults(input, this.options.auditDefaults);
    let head = this.head ?? (this.auditHead.get() as Head | undefined);
    if (this.options.announcePolicyChanges && input.policyHash && head) {
      // Entries written before policy hashes were on every entry may have none: look back to the last that did.
      const previous = head.policyHash ?? (this.lastPolicyHash.get() as { policyHash: string } | undefined)?.policyHash;
      if (previous && previous !== input.policyHash) {
        const change = this.appendEntry(
          {
            at: input.at,
            actor: "system:policy",
            action: "policy.change",
            policyHash: input.policyHash,
            details: { previousPolicyHash: previous },
          },
          head,
        );
        head = { seq: change.seq, hash: change.hash, at: change.at.toISOString(), policyHash: change.policyHash };
      }
    }
    return this.appendEntry(input, head);
  }

  private appendEntry(input: AuditInput, head: Head | undefined): AuditEntry {
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? GENESIS_HASH;
    // ISO-8601 UTC strings of one length order as their times do.
    const at = head && input.at.toISOString() < head.at ? new Date(head.at) : input.at;
    if (at !== input.at) input = { ...input, at };
    const hashed = hashEntry(seq, prevHash, input);
    const entry: AuditEntry = {
      seq,
      at,
      actor: input.actor,
      action: input.action,
      subject: input.subject ?? null,
      serial: input.serial ?? null,
      profile: input.profile ?? null,
      policyHash: input.policyHash ?? null,
      details: input.details ?? {},
      prevHash,
      hash: hashed.hash,
    };
    this.insertAudit.run(
      seq,
      hashed.at,
      entry.actor,
      entry.action,
      entry.subject,
      entry.serial,
      entry.profile,
      entry.policyHash,
      hashed.details,
      prevHash,
      hashed.hash,
    );
    if (this.writeDepth > 0) this.head = { seq, hash: hashed.hash, at: hashed.at, policyHash: entry.policyHash };
    for (const listener of this.auditListeners) listener(entry);
    return entry;
  }

  /**
   * Calls `listener` inside the write transaction after each log entry is appended, so views
   * derived from the log (the hub change feed) move in step with it. A listener must not throw.
   */
  onAudit(listener: (entry: AuditEntry) => void): void {
    this.auditListeners.push(listener);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Reads what every command needs (the file's length against its header, the schema, the
   * log's head, the CA table) and throws store_damaged naming the file when it cannot: what
   * readiness asks on every probe, so it stays cheap where PRAGMA quick_check reads every page.
   */
  probe(): void {
    try {
      if (this.file !== ":memory:") checkNotTruncated(this.file);
      this.db.prepare("SELECT count(*) FROM sqlite_master").get();
      this.auditHead.get();
      this.db.prepare("SELECT count(*) FROM cas").get();
    } catch (err) {
      const damage = databaseDamageOf(err);
      throw damage ? storeDamaged(damage, this.file) : err;
    }
  }

  /**
   * Applies, in order, every named migration not yet recorded. Names (not numbers) let
   * features add their tables independently; a shipped migration is never edited.
   */
  private migrate(): void {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
    const applied = new Set((this.db.prepare("SELECT name FROM schema_migrations").all() as Array<{ name: string }>).map((r) => r.name));
    const known = new Set(MIGRATIONS.map((m) => m.name));
    const unknown = [...applied].filter((n) => !known.has(n));
    if (unknown.length) {
      throw new AppError("config_error", `The database has migrations this dpki does not know (${unknown.join(", ")}): upgrade dpki`);
    }
    for (const m of MIGRATIONS) {
      if (applied.has(m.name)) continue;
      this.write(() => {
        // Re-check inside the lock: another process may have applied it meanwhile.
        if (this.db.prepare("SELECT 1 FROM schema_migrations WHERE name = ?").get(m.name)) return;
        this.db.exec(m.sql);
        this.db.prepare("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)").run(m.name, new Date().toISOString());
        this.migrated.push(m.name);
      });
    }
  }
}

/**
 * A truncated file opens and even reads its schema; the pages past its end then fail one query
 * at a time. The header (bytes 16-17: page size, 28-31: pages at the last checkpoint) says how
 * long the file is: comparing costs one read, where PRAGMA quick_check reads every page.
 */
function checkNotTruncated(file: string): void {
  // A checkpoint in another process writes page 1 (the new page count) before the pages that
  // extend the file: a file that looks short is judged again after that writer had time to finish.
  for (let attempt = 1; ; attempt++) {
    const short = shortBy(file);
    if (!short) return;
    if (attempt >= 5)
      throw storeDamaged("SQLITE_CORRUPT", file, `it is truncated (${short.size} bytes, its header says ${short.expected})`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 * attempt);
  }
}

/** The file's size and the size its header gives, when the file is shorter; null otherwise. */
function shortBy(file: string): { size: number; expected: number } | null {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const header = Buffer.alloc(100);
    const read = readSync(fd, header, 0, 100, 0);
    if (read < 100 || header.toString("latin1", 0, 16) !== "SQLite format 3\0") {
      throw storeDamaged("SQLITE_NOTADB", file, "it is not an SQLite database");
    }
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const pages = header.readUInt32BE(28);
    // The size in the header counts only when written by the same change as the header (SQLite file format §1.3.7).
    const sizeValid = header.readUInt32BE(24) === header.readUInt32BE(92);
    return sizeValid && pages > 0 && size < pages * pageSize ? { size, expected: pages * pageSize } : null;
  } finally {
    closeSync(fd);
  }
}

/** Unique or primary-key clash, the one constraint error callers turn into `conflict`. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
