import { createHash } from "node:crypto";
import { treeHash } from "../../../tlog/merkle.js";
import { verifyChain } from "../audit-chain.js";
import { AppError } from "../../errors.js";
import type { TableSnapshot } from "../table-snapshot.js";
import type { PgDb } from "./pg-db.js";
import type { Query } from "./pg-query.js";
import { PG_MIGRATIONS } from "./pg-migrations.js";
import { auditFromRow } from "./pg-store.js";
import type { AuditEntry } from "../records.js";

type Row = Record<string, unknown>;

/**
 * Tables in an order that satisfies every foreign key; tables a later migration adds come after
 * them, by name. Rows keep their positions (ids, seqs) so cursors and the log stay as they were.
 */
const ORDER = [
  "cas",
  "certificates",
  "certificate_keys",
  "crls",
  "audit_log",
  "operators",
  "api_tokens",
  "api_token_usage",
  "dps_scopes",
  "dps_hubs",
  "dps_enrollments",
  "dps_registrations",
  "ca_cross_certificates",
  "ca_revocations",
  "ocsp_signers",
  "certificate_supersessions",
  "hub_policies",
  "enrollment_blocks",
  "hub_changes",
  "hub_device_state",
  "hub_feed_state",
  "secret_box",
  "log_tree",
  "log_key",
  "log_key_certificates",
  "log_checkpoints",
];

/** PostgreSQL's own bookkeeping (rebuilt from the copied rows), which no source table holds. */
const PG_ONLY = new Set(["audit_head", "change_counters"]);
/** Seeded by the migrations: replaced by the source's rows. */
const SEEDED = ["hub_feed_state", "secret_box"];
/** Identity columns to move past the copied values. */
const IDENTITIES: Array<[string, string]> = [
  ["certificates", "id"],
  ["dps_enrollments", "pos"],
  ["dps_registrations", "pos"],
  ["hub_changes", "seq"],
];

export interface CopyReport {
  /** Rows copied, per table. */
  tables: Record<string, number>;
  log: { entries: number; head: string; checkpoint: number | null };
}

/**
 * Copies every row of `source` into the empty, migrated database `pg`, in one transaction (all
 * of it or none), then checks the copy against the source: the same row counts per table, the
 * log verifying entry by entry to the source's head, the latest signed checkpoint's root
 * recomputed from the copied tree, and a digest of every certificate's identity and status.
 */
export async function importSnapshot(
  pg: PgDb,
  source: TableSnapshot,
  onTable?: (table: string, rows: number) => void,
): Promise<CopyReport> {
  await pg.ready();
  const pgNames = PG_MIGRATIONS.map((m) => m.name);
  const missing = source.migrations().filter((m) => !pgNames.includes(m));
  if (missing.length) {
    throw new AppError("config_error", `The source has migrations PostgreSQL has no twin of (${missing.join(", ")}): cannot copy it`);
  }
  // A damaged source is named as such, and nothing is copied.
  const sourceLog = await verifyChain(sourceEntries(source));
  if (!sourceLog.ok)
    throw new AppError("log_damaged", `The source's issuance log does not verify: ${sourceLog.message}; nothing was copied`);
  const targetTables = await columnsByTable(pg.query.bind(pg));
  const tables = source.tables().sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const table of tables) {
    if (!targetTables.has(table))
      throw new AppError("config_error", `The source table ${table} has no counterpart in PostgreSQL: cannot copy it`);
  }

  const { result: report } = await pg.write(async (tx) => {
    const [used] = await tx.query<{ n: number }>(
      "SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM cas) + (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM dps_scopes) AS n",
    );
    if (used!.n > 0) throw new AppError("conflict", `The database at ${pg.where} is not empty: copy into a new, empty database`);
    for (const table of SEEDED) await tx.query(`DELETE FROM ${table}`);
    for (const table of tables) {
      const columns = targetTables.get(table)!;
      let copied = 0;
      for (const batch of source.rows(table, 500)) {
        const rows = table === "cas" ? parentsFirst(batch) : batch;
        for (const row of rows) {
          const unknown = Object.keys(row).filter((k) => k !== "_pos" && !columns.includes(k));
          if (unknown.length) throw new AppError("config_error", `${table}.${unknown[0]} has no counterpart in PostgreSQL: cannot copy it`);
        }
        await insertRows(
          tx.query,
          table,
          columns,
          rows.map((r) => targetRow(table, r)),
        );
        copied += rows.length;
      }
      onTable?.(table, copied);
    }
    await tx.query(
      `UPDATE audit_head SET (seq, hash, at) = (SELECT seq, hash, at FROM audit_log ORDER BY seq DESC LIMIT 1),
         policy_hash = (SELECT policy_hash FROM audit_log WHERE policy_hash IS NOT NULL ORDER BY seq DESC LIMIT 1)
       WHERE id = 1 AND EXISTS (SELECT 1 FROM audit_log)`,
    );
    for (const [table, column] of IDENTITIES) {
      await tx.query(
        `SELECT setval(pg_get_serial_sequence('${table}', '${column}'), COALESCE(max(${column}), 0) + 1, false) FROM ${table}`,
      );
    }
    // Checked before COMMIT: a copy that does not match its source leaves the target as empty as it was.
    return verifyCopy(tx.query, source, tables);
  });
  return report;
}

async function verifyCopy(query: Query, source: TableSnapshot, tables: string[]): Promise<CopyReport> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const expected = source.count(table);
    const [row] = await query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
    if (row!.n !== expected) throw copyFailed(`${table} holds ${row!.n} rows, the source ${expected}`);
    counts[table] = expected;
  }

  const verdict = await verifyChain(auditEntries(query));
  if (!verdict.ok) throw copyFailed(`the copied log does not verify: ${verdict.message}`);
  let sourceHead = "0".repeat(64);
  for (const batch of source.rows("audit_log", 10_000)) if (batch.length) sourceHead = batch[batch.length - 1]!.hash as string;
  if (verdict.head !== sourceHead) throw copyFailed("the copied log does not end at the source's head");

  const [checkpoint] = await query<{ size: number; root: Buffer }>("SELECT size, root FROM log_checkpoints ORDER BY size DESC LIMIT 1");
  if (checkpoint) {
    const subtree = async (level: number, index: number) => {
      const [row] = await query<{ hash: Buffer }>("SELECT hash FROM log_tree WHERE level = $1 AND idx = $2", [level, index]);
      if (!row) throw copyFailed(`the copied tree lacks subtree ${level}/${index}`);
      return row.hash;
    };
    const root = await treeHash(subtree, checkpoint.size);
    if (!Buffer.from(root).equals(checkpoint.root))
      throw copyFailed(`the copied tree does not give the root of checkpoint ${checkpoint.size}`);
  }

  const sourceDigest = createHash("sha256");
  const sourceCerts: string[] = [];
  for (const batch of source.rows("certificates", 10_000))
    for (const r of batch) sourceCerts.push(certKey(r.serial, r.sha256, r.status, r.revoked_at));
  for (const k of sourceCerts.sort()) sourceDigest.update(k);
  const copiedDigest = createHash("sha256");
  const copied = (await query<Row>("SELECT serial, sha256, status, revoked_at FROM certificates")).map((r) =>
    certKey(r.serial, r.sha256, r.status, r.revoked_at),
  );
  for (const k of copied.sort()) copiedDigest.update(k);
  if (sourceDigest.digest("hex") !== copiedDigest.digest("hex")) throw copyFailed("the copied certificates differ from the source's");

  return { tables: counts, log: { entries: verdict.entries, head: verdict.head, checkpoint: checkpoint?.size ?? null } };
}

async function* sourceEntries(source: TableSnapshot): AsyncIterable<AuditEntry[]> {
  for (const batch of source.rows("audit_log", 10_000)) {
    yield batch.map((r) => ({
      seq: r.seq as number,
      at: new Date(r.at as string),
      actor: r.actor as string,
      action: r.action as string,
      subject: (r.subject as string | null) ?? null,
      serial: (r.serial as string | null) ?? null,
      profile: (r.profile as string | null) ?? null,
      policyHash: (r.policy_hash as string | null) ?? null,
      details: JSON.parse(r.details as string) as Record<string, unknown>,
      prevHash: r.prev_hash as string,
      hash: r.hash as string,
    }));
  }
}

async function* auditEntries(query: Query): AsyncIterable<AuditEntry[]> {
  let after = 0;
  for (;;) {
    const rows = await query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 10000", [after]);
    if (rows.length === 0) return;
    const entries = rows.map(auditFromRow);
    yield entries;
    after = entries[entries.length - 1]!.seq;
  }
}

function certKey(serial: unknown, sha256: unknown, status: unknown, revokedAt: unknown): string {
  const at = revokedAt === null || revokedAt === undefined ? "" : new Date(revokedAt as string | Date).toISOString();
  return `${String(serial)}|${String(sha256)}|${String(status)}|${at}\n`;
}

function copyFailed(why: string): AppError {
  return new AppError("log_damaged", `The copy does not match its source: ${why}`);
}

function rank(table: string): number {
  const i = ORDER.indexOf(table);
  return i < 0 ? ORDER.length : i;
}

/** Roots before the intermediates that name them as parent. */
function parentsFirst(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => Number(a.parent_id !== null) - Number(b.parent_id !== null));
}

/** A source row in the target's terms: positions for tables paged by insertion order, the log's scope column. */
function targetRow(table: string, row: Row): Row {
  const out: Row = { ...row };
  delete out._pos;
  if (table === "dps_enrollments" || table === "dps_registrations") out.pos = row._pos;
  if (table === "audit_log") {
    const details = JSON.parse(row.details as string) as Record<string, unknown>;
    out.id_scope = typeof details.idScope === "string" ? details.idScope : null;
  }
  return out;
}

async function insertRows(query: Query, table: string, columns: string[], rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  const used = columns.filter((c) => rows.some((r) => c in r));
  const values: unknown[] = [];
  const tuples = rows.map((r) => `(${used.map((c) => (values.push(r[c] ?? null), `$${values.length}`)).join(", ")})`);
  await query(`INSERT INTO ${table} (${used.join(", ")}) VALUES ${tuples.join(", ")}`, values);
}

async function columnsByTable(query: Query): Promise<Map<string, string[]>> {
  const rows = await query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY table_name, ordinal_position`,
  );
  const out = new Map<string, string[]>();
  for (const r of rows) {
    if (PG_ONLY.has(r.table_name)) continue;
    out.set(r.table_name, [...(out.get(r.table_name) ?? []), r.column_name]);
  }
  return out;
}
