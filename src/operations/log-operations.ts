import type { TileRef } from "../../tlog/tiles.js";

/**
 * The part of Operations for reading the verifiable log as an auditor copies it: its tiles and
 * entry bundles (C2SP tlog-tiles) and consistency proofs. The signed checkpoint a copy starts
 * from is `auditCheckpoint`.
 */
export interface LogOperations {
  /** The bytes of a hash tile or an entry bundle; not_found when the log has not reached it. */
  logTile(ref: TileRef): Promise<Uint8Array>;
  /** An RFC 9162 consistency proof between two sizes, with the log's roots at both. */
  auditConsistency(from: number, to: number): Promise<LogConsistencyView>;
}

export interface LogConsistencyView {
  from: number;
  to: number;
  /** Base64 root hashes of the log's tree at `from` and at `to`. */
  fromRoot: string;
  toRoot: string;
  /** Base64 hashes, the RFC 9162 §2.1.4 proof (empty when the sizes are equal). */
  proof: string[];
}
