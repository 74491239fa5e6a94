import type { TileRef } from "../tlog/tiles.js";
import type { LogCheckpointView } from "./operations.js";

/**
 * Reading the verifiable log as an auditor copies it: a signed checkpoint, its tiles and entry
 * bundles (C2SP tlog-tiles), consistency proofs. Backed by the services locally and by the HTTP
 * API with --server, like Operations.
 */
export interface LogOperations {
  /** A signed checkpoint of the whole log and its verifier key, signing a new one when entries were added. */
  checkpoint(): Promise<LogCheckpointView>;
  /** The bytes of a hash tile or an entry bundle; not_found when the log has not reached it. */
  tile(ref: TileRef): Promise<Uint8Array>;
  /** An RFC 9162 consistency proof between two sizes, with the log's roots at both. */
  consistency(from: number, to: number): Promise<LogConsistencyView>;
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
