import { nodeHash } from "../../../tlog/merkle.js";
import { AppError } from "../../errors.js";
import type { CheckpointRecord, LogKeyCertificateRecord, LogKeyRecord, LogTreeStore } from "../log-tree-store.js";
import type { AuditInput } from "../records.js";
import { isUniqueViolation, type PgDb } from "./pg-db.js";

/** The log's Merkle tree as rows of complete subtrees (level, index), on PostgreSQL. */
export class PgLogTreeStore implements LogTreeStore {
  constructor(private readonly pg: PgDb) {}

  async logKey(): Promise<LogKeyRecord | null> {
    const [row] = await this.pg.query<{ key_ref: string; spki: Buffer; created_at: Date }>("SELECT * FROM log_key WHERE id = 1");
    return row ? { keyRef: row.key_ref, spki: new Uint8Array(row.spki), createdAt: row.created_at } : null;
  }

  async insertLogKey(key: LogKeyRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        await tx.query("INSERT INTO log_key (id, key_ref, spki, created_at) VALUES (1, $1, $2, $3)", [
          key.keyRef,
          Buffer.from(key.spki),
          key.createdAt,
        ]);
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "The log already has a signing key");
      throw err;
    }
  }

  async logKeyCertificates(): Promise<LogKeyCertificateRecord[]> {
    const rows = await this.pg.query<{ root_id: string; der: Buffer; created_at: Date }>(
      "SELECT * FROM log_key_certificates ORDER BY created_at, root_id",
    );
    return rows.map((row) => ({ rootId: row.root_id, der: new Uint8Array(row.der), createdAt: row.created_at }));
  }

  async insertLogKeyCertificate(cert: LogKeyCertificateRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        await tx.query("INSERT INTO log_key_certificates (root_id, der, created_at) VALUES ($1, $2, $3)", [
          cert.rootId,
          Buffer.from(cert.der),
          cert.createdAt,
        ]);
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", `Root ${cert.rootId} has certified the log key already`);
      throw err;
    }
  }

  async treeSize(): Promise<number> {
    return (await this.pg.query<{ n: number }>(SIZE))[0]!.n;
  }

  async appendLeaves(start: number, leafHashes: Buffer[]): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        // Nodes extend the tree one at a time: the loser of a race sees the winner's size and is refused.
        await tx.query("SELECT pg_advisory_xact_lock(hashtext('dpki-log-tree'))");
        const size = (await tx.query<{ n: number }>(SIZE))[0]!.n;
        if (size !== start) throw new AppError("conflict", `The log tree holds ${size} leaves, not ${start}: another writer extended it`);
        // Each leaf completes the subtrees whose right edge it is: walk up while it is a right child.
        const made = new Map<string, Buffer>();
        const levels: number[] = [];
        const idxs: number[] = [];
        const hashes: Buffer[] = [];
        const get = async (level: number, idx: number): Promise<Buffer> => {
          const mine = made.get(`${level}/${idx}`);
          if (mine) return mine;
          const [row] = await tx.query<{ hash: Buffer }>("SELECT hash FROM log_tree WHERE level = $1 AND idx = $2", [level, idx]);
          return row!.hash;
        };
        for (let i = 0; i < leafHashes.length; i++) {
          let level = 0;
          let idx = start + i;
          let hash = leafHashes[i]!;
          for (;;) {
            made.set(`${level}/${idx}`, hash);
            levels.push(level);
            idxs.push(idx);
            hashes.push(hash);
            if (idx % 2 === 0) break;
            hash = nodeHash(await get(level, idx - 1), hash);
            level++;
            idx = (idx - 1) / 2;
          }
        }
        await tx.query("INSERT INTO log_tree (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])", [
          levels,
          idxs,
          hashes,
        ]);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "Another writer extended the log tree at the same time");
      throw err;
    }
  }

  async subtreeHash(level: number, index: number): Promise<Buffer> {
    const [row] = await this.pg.query<{ hash: Buffer }>("SELECT hash FROM log_tree WHERE level = $1 AND idx = $2", [level, index]);
    if (!row) throw new AppError("not_found", `The log tree has no complete subtree ${level}/${index} yet`);
    return row.hash;
  }

  async subtreeHashes(level: number, index: number, count: number): Promise<Buffer[]> {
    const rows = await this.pg.query<{ hash: Buffer }>(
      "SELECT hash FROM log_tree WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
      [level, index, index + count],
    );
    // Subtrees are stored without gaps: fewer rows than asked means the tree stops short.
    if (rows.length < count) throw new AppError("not_found", `The log tree has no complete subtree ${level}/${index + rows.length} yet`);
    return rows.map((r) => r.hash);
  }

  async insertCheckpoint(c: CheckpointRecord): Promise<void> {
    try {
      await this.pg.query("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)", [
        c.size,
        c.root,
        c.note,
        c.createdAt,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", `A checkpoint of size ${c.size} exists already`);
      throw err;
    }
  }

  async latestCheckpoint(): Promise<CheckpointRecord | null> {
    const [row] = await this.pg.query<{ size: number; root: Buffer; note: string; created_at: Date }>(
      "SELECT * FROM log_checkpoints ORDER BY size DESC LIMIT 1",
    );
    return row ? { size: row.size, root: row.root, note: row.note, createdAt: row.created_at } : null;
  }
}

// Leaves are added without gaps, so the size is the last leaf's index + 1: one index probe.
const SIZE = "SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_tree WHERE level = 0";
