import { nodeHash } from "../../../tlog/merkle.js";
import { AppError } from "../../errors.js";
import type { CheckpointRecord, LogKeyCertificateRecord, LogKeyRecord, LogTreeStore } from "../log-tree-store.js";
import type { AuditInput } from "../records.js";
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";

type Row = Record<string, unknown>;

/** The log's Merkle tree as rows of complete subtrees (level, index) — the tiles of the log. */
export class SqliteLogTreeStore implements LogTreeStore {
  private readonly stmts;

  constructor(private readonly sqlite: SqliteDb) {
    const db = sqlite.db;
    this.stmts = {
      // Leaves are added without gaps, so the size is the last leaf's index + 1: one index probe.
      size: db.prepare("SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_tree WHERE level = 0"),
      node: db.prepare("SELECT hash FROM log_tree WHERE level = ? AND idx = ?"),
      nodes: db.prepare("SELECT hash FROM log_tree WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx").pluck(),
      insert: db.prepare("INSERT INTO log_tree (level, idx, hash) VALUES (?, ?, ?)"),
      insertCheckpoint: db.prepare("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)"),
      latestCheckpoint: db.prepare("SELECT * FROM log_checkpoints ORDER BY size DESC LIMIT 1"),
      logKey: db.prepare("SELECT * FROM log_key WHERE id = 1"),
      insertLogKey: db.prepare("INSERT INTO log_key (id, key_ref, spki, created_at) VALUES (1, ?, ?, ?)"),
      logKeyCertificates: db.prepare("SELECT * FROM log_key_certificates ORDER BY created_at, root_id"),
      insertLogKeyCertificate: db.prepare("INSERT INTO log_key_certificates (root_id, der, created_at) VALUES (?, ?, ?)"),
    };
  }

  async logKey(): Promise<LogKeyRecord | null> {
    const row = this.stmts.logKey.get() as Row | undefined;
    return row
      ? { keyRef: row.key_ref as string, spki: new Uint8Array(row.spki as Buffer), createdAt: new Date(row.created_at as string) }
      : null;
  }

  async insertLogKey(key: LogKeyRecord, audit: AuditInput): Promise<void> {
    try {
      this.sqlite.write(() => {
        this.stmts.insertLogKey.run(key.keyRef, Buffer.from(key.spki), key.createdAt.toISOString());
        this.sqlite.appendAudit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "The log already has a signing key");
      throw err;
    }
  }

  async logKeyCertificates(): Promise<LogKeyCertificateRecord[]> {
    return (this.stmts.logKeyCertificates.all() as Row[]).map((row) => ({
      rootId: row.root_id as string,
      der: new Uint8Array(row.der as Buffer),
      createdAt: new Date(row.created_at as string),
    }));
  }

  async insertLogKeyCertificate(cert: LogKeyCertificateRecord, audit: AuditInput): Promise<void> {
    try {
      this.sqlite.write(() => {
        this.stmts.insertLogKeyCertificate.run(cert.rootId, Buffer.from(cert.der), cert.createdAt.toISOString());
        this.sqlite.appendAudit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", `Root ${cert.rootId} has certified the log key already`);
      throw err;
    }
  }

  async treeSize(): Promise<number> {
    return (this.stmts.size.get() as { n: number }).n;
  }

  async appendLeaves(start: number, leafHashes: Buffer[]): Promise<void> {
    try {
      this.sqlite.write(() => {
        const size = (this.stmts.size.get() as { n: number }).n;
        if (size !== start) throw new AppError("conflict", `The log tree holds ${size} leaves, not ${start}: another writer extended it`);
        // Each leaf completes the subtrees whose right edge it is: walk up while it is a right child.
        const pending = new Map<string, Buffer>();
        const get = (level: number, idx: number) =>
          pending.get(`${level}/${idx}`) ?? ((this.stmts.node.get(level, idx) as { hash: Buffer } | undefined)?.hash as Buffer);
        leafHashes.forEach((leaf, i) => {
          let level = 0;
          let idx = start + i;
          let hash = leaf;
          for (;;) {
            this.stmts.insert.run(level, idx, hash);
            pending.set(`${level}/${idx}`, hash);
            if (idx % 2 === 0) break;
            hash = nodeHash(get(level, idx - 1), hash);
            level++;
            idx = (idx - 1) / 2;
          }
        });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "Another writer extended the log tree at the same time");
      throw err;
    }
  }

  async subtreeHash(level: number, index: number): Promise<Buffer> {
    const row = this.stmts.node.get(level, index) as { hash: Buffer } | undefined;
    if (!row) throw new AppError("not_found", `The log tree has no complete subtree ${level}/${index} yet`);
    return row.hash;
  }

  async subtreeHashes(level: number, index: number, count: number): Promise<Buffer[]> {
    const rows = this.stmts.nodes.all(level, index, index + count) as Buffer[];
    // Subtrees are stored without gaps: fewer rows than asked means the tree stops short.
    if (rows.length < count) {
      throw new AppError("not_found", `The log tree has no complete subtree ${level}/${index + rows.length} yet`);
    }
    return rows;
  }

  async insertCheckpoint(c: CheckpointRecord): Promise<void> {
    try {
      this.sqlite.write(() => this.stmts.insertCheckpoint.run(c.size, c.root, c.note, c.createdAt.toISOString()));
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", `A checkpoint of size ${c.size} exists already`);
      throw err;
    }
  }

  async latestCheckpoint(): Promise<CheckpointRecord | null> {
    const row = this.stmts.latestCheckpoint.get() as Row | undefined;
    return row
      ? { size: row.size as number, root: row.root as Buffer, note: row.note as string, createdAt: new Date(row.created_at as string) }
      : null;
  }
}
