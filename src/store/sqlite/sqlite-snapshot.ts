import type { TableSnapshot } from "../table-snapshot.js";
import type { SqliteDb } from "./sqlite-db.js";

/**
 * Every table of a SQLite database inside one read transaction: in WAL mode the reads all see
 * the database as it was when the first one ran, whatever other connections commit meanwhile.
 */
export class SqliteSnapshot implements TableSnapshot {
  constructor(private readonly sqlite: SqliteDb) {
    sqlite.db.exec("BEGIN");
    // A deferred transaction takes its snapshot at the first read.
    sqlite.db.prepare("SELECT count(*) FROM schema_migrations").get();
  }

  migrations(): string[] {
    return (this.sqlite.db.prepare("SELECT name FROM schema_migrations ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  }

  tables(): string[] {
    const rows = this.sqlite.db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
      )
      .all() as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  count(table: string): number {
    return (this.sqlite.db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n;
  }

  *rows(table: string, batch: number): Iterable<Array<Record<string, unknown>>> {
    // WITHOUT ROWID tables (the log tree) have no rowid: their primary key orders them.
    const withoutRowid = /WITHOUT\s+ROWID/i.test(
      (this.sqlite.db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(table) as { sql: string }).sql,
    );
    if (withoutRowid) {
      // Paged by its primary key instead.
      const key = (this.sqlite.db.prepare(`PRAGMA table_info("${table}")`).all() as Array<{ name: string; pk: number }>)
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => `"${c.name}"`);
      const order = key.join(", ");
      const first = this.sqlite.db.prepare(`SELECT * FROM "${table}" ORDER BY ${order} LIMIT ?`);
      const next = this.sqlite.db.prepare(
        `SELECT * FROM "${table}" WHERE (${order}) > (${key.map(() => "?").join(", ")}) ORDER BY ${order} LIMIT ?`,
      );
      let last: unknown[] | undefined;
      for (;;) {
        const rows = (last ? next.all(...last, batch) : first.all(batch)) as Array<Record<string, unknown>>;
        if (rows.length === 0) return;
        yield rows;
        const row = rows[rows.length - 1]!;
        last = key.map((k) => row[k.slice(1, -1)]);
      }
    }
    let after = Number.MIN_SAFE_INTEGER;
    const page = this.sqlite.db.prepare(`SELECT rowid AS _pos, * FROM "${table}" WHERE rowid > ? ORDER BY rowid LIMIT ?`);
    for (;;) {
      const rows = page.all(after, batch) as Array<Record<string, unknown>>;
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1]!._pos as number;
    }
  }

  close(): void {
    if (this.sqlite.db.inTransaction) this.sqlite.db.exec("ROLLBACK");
  }
}
