import type { AuditInput } from "./records.js";

/**
 * The Merkle tree over the issuance log (RFC 6962 hashing, tlog/merkle.ts): leaf i is the hash
 * of entry i+1's canonical encoding. The tree is derived data — it can always be rebuilt from the
 * entries — so it is extended after the entries commit, not in their transaction; what binds
 * the operator is the signed checkpoint, and dpki never signs one inconsistent with the last.
 */
export interface CheckpointRecord {
  size: number;
  root: Buffer;
  /** The whole signed note, as served. */
  note: string;
  createdAt: Date;
}

/** The log's signing key: a key provider's reference and its Ed25519 public key. */
export interface LogKeyRecord {
  keyRef: string;
  spki: Uint8Array;
  createdAt: Date;
}

/** The log key certified by one root (one certificate per root that has certified it). */
export interface LogKeyCertificateRecord {
  rootId: string;
  der: Uint8Array;
  createdAt: Date;
}

export interface LogTreeStore {
  logKey(): Promise<LogKeyRecord | null>;
  logKeyCertificates(): Promise<LogKeyCertificateRecord[]>;
  /** Records a root's certificate of the log key, with its log entry; throws conflict when that root certified it already. */
  insertLogKeyCertificate(cert: LogKeyCertificateRecord, audit: AuditInput): Promise<void>;
  /** Records the log key once, with its log entry; throws conflict when one exists, appending nothing. */
  insertLogKey(key: LogKeyRecord, audit: AuditInput): Promise<void>;
  /** How many leaves the tree holds. */
  treeSize(): Promise<number>;
  /**
   * Adds leaf hashes from position `start` (which must be the current size) and every subtree
   * they complete, in one transaction. Throws conflict when another writer got there first.
   */
  appendLeaves(start: number, leafHashes: Buffer[]): Promise<void>;
  /** Hash of the complete subtree of 2^level leaves at `index`; throws not_found when the tree has not reached it. */
  subtreeHash(level: number, index: number): Promise<Buffer>;
  /** `count` consecutive subtree hashes of one level from `index` (a tile's worth); throws not_found when the tree has not reached the last. */
  subtreeHashes(level: number, index: number, count: number): Promise<Buffer[]>;
  insertCheckpoint(checkpoint: CheckpointRecord): Promise<void>;
  latestCheckpoint(): Promise<CheckpointRecord | null>;
}
