import { encodeEntryBundle, tilePath, tileWidthAt, TILE_HEIGHT, TILE_WIDTH, TileError, type TileRef } from "../../../tlog/tiles.js";
import { AppError } from "../../errors.js";
import type { CheckpointRecord, LogTreeStore } from "../../store/log-tree-store.js";
import type { Store } from "../../store/store.js";
import { logLeaf, type LogService } from "./log-service.js";

/**
 * The issuance log as C2SP tlog-tiles resources: the latest signed checkpoint, hash tiles cut
 * from the stored complete subtrees (nothing is rehashed), and entry bundles of the entries'
 * canonical encodings. Tiles go as far as the tree has been caught up, which every signed
 * checkpoint is within.
 */
export class LogTiles {
  constructor(private readonly deps: { store: Store; tree: LogTreeStore; log: LogService }) {}

  /** The latest signed checkpoint; a log that never signed one signs its first. */
  async checkpoint(): Promise<CheckpointRecord> {
    return (await this.deps.tree.latestCheckpoint()) ?? this.deps.log.checkpoint();
  }

  /** The bytes of a hash tile or entry bundle; not_found until the tree has reached all of it. */
  async tile(ref: TileRef): Promise<Buffer> {
    const size = await this.deps.tree.treeSize();
    const width = tileWidthAt(size, ref.level, ref.index);
    if (width < ref.width) {
      throw new AppError("not_found", `No ${tilePath(ref)}: the log's tree holds ${size} entries`, { treeSize: size });
    }
    if (ref.level === "entries") return this.bundle(ref.index, ref.width);
    const hashes = await this.deps.tree.subtreeHashes(TILE_HEIGHT * ref.level, ref.index * TILE_WIDTH, ref.width);
    return Buffer.concat(hashes);
  }

  private async bundle(index: number, width: number): Promise<Buffer> {
    const first = index * TILE_WIDTH + 1;
    const last = first + width - 1;
    const entries: Buffer[] = [];
    // What the store holds for the range, as it is: an entry gone from the table shows as a short bundle, for auditors to see.
    outer: for await (const batch of this.deps.store.auditEntries(first - 1)) {
      for (const entry of batch) {
        if (entry.seq > last) break outer;
        entries.push(logLeaf(entry));
      }
    }
    try {
      return encodeEntryBundle(entries);
    } catch (err) {
      if (err instanceof TileError) throw new AppError("unavailable", `Cannot serve entry bundle ${index}: ${err.message}`);
      throw err;
    }
  }
}
