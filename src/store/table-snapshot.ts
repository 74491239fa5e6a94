/**
 * A consistent, read-only view of every table of one database, for `dpki db copy`: the rows as
 * the engine stores them (times as ISO-8601 text, JSON as text, binary as bytes), in insertion
 * order. The copy maps them onto the target's schema table by table; both schemas descend from
 * the same named migrations.
 */
export interface TableSnapshot {
  /** Names of the migrations the source has applied. */
  migrations(): string[];
  /** Tables holding records (not the migrations' own bookkeeping). */
  tables(): string[];
  /** Rows of one table in insertion order, `batch` at a time; `_pos` is each row's insertion position. */
  rows(table: string, batch: number): Iterable<Array<Record<string, unknown>>>;
  count(table: string): number;
  close(): void;
}
