import { CheckpointError, parseCheckpoint, type Checkpoint } from "../../../tlog/checkpoint.js";
import { HASH_SIZE, nodeHash, rangeHash, type SubtreeHashes } from "../../../tlog/merkle.js";
import { NoteError, openNote, type NoteVerifier } from "../../../tlog/note.js";
import { decodeTile, TileError, tilePath, tilesForSize, tileSubtrees, TILE_HEIGHT, TILE_WIDTH, type TileRef } from "../../../tlog/tiles.js";
import { AppError } from "../../errors.js";
import { readEntries, type CopiedEntries, type CopyVerdict, type LogSource } from "./log-copy.js";
import { chainBroken, locate, MissingLeaves, tryRange } from "./log-copy-locate.js";

export type { CopyVerdict } from "./log-copy.js";

/** Opens a checkpoint note with the log's verifier key; a note that does not open is a forgery. */
export function openCheckpoint(note: string, verifier: NoteVerifier, what = "The checkpoint"): Checkpoint | { forged: string } {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(openNote(note, [verifier]).text);
  } catch (err) {
    if (err instanceof NoteError || err instanceof CheckpointError)
      return { forged: `${what} is not signed by the log key ${verifier.name}: ${err.message}` };
    throw err;
  }
  if (checkpoint.origin !== verifier.name) {
    return { forged: `${what} names the log ${checkpoint.origin}, not ${verifier.name}, whose key signed it` };
  }
  return checkpoint;
}

/**
 * Verifies a copy of the log with nothing but the log's verifier key: the checkpoint's
 * signature, then the Merkle tree recomputed from the entry bundles against its root, the hash
 * tiles against the entries, and the hash chain. When the entries do not give the root, the
 * hash tiles — each checked against the signed root on the way down — lead to the first bad
 * entry. `previous` are checkpoints seen earlier that the copy must extend.
 */
export async function verifyLogCopy(source: LogSource, verifier: NoteVerifier, previous: readonly string[] = []): Promise<CopyVerdict> {
  const note = await source.checkpoint();
  if (note === null) throw new AppError("not_found", `No checkpoint in ${source.where}`);
  const signed = openCheckpoint(note, verifier);
  if ("forged" in signed) return { ok: false, problem: "forged", message: `Checkpoint FORGED: ${signed.forged}` };
  const { size, root } = signed;
  const entries = await readEntries(source, size);
  const mine = levelsOf(entries);
  const tiles = await readTiles(source, size);
  const entryRoot = await tryRange(mine.hashes, 0, size);
  if (entryRoot?.equals(root)) {
    const tile = firstWrongTile(tiles, mine);
    if (tile)
      return { ok: false, problem: "bad_tile", size, message: `The entries give the signed root, but ${tile} does not hold their hashes` };
    if (entries.chainBreak >= 0) return { ...chainBroken(entries, entries.chainBreak), size };
    for (const [i, old] of previous.entries()) {
      const verdict = await extendsPrevious(old, i, verifier, size, mine.hashes);
      if (verdict) return verdict;
    }
    return {
      ok: true,
      origin: signed.origin,
      size,
      root: root.toString("base64"),
      message: `Matches the checkpoint of ${size} entries signed by ${signed.origin}`,
    };
  }
  return locate(
    entries,
    mine.hashes,
    tileSubtrees(size, async (t) => tiles.get(tilePath(t)) ?? null),
    root,
    entryRoot,
  );
}

/** Every level of the tree over the copy's leaves, with where each complete subtree is known. */
function levelsOf(entries: CopiedEntries): { levels: Buffer[]; hashes: SubtreeHashes } {
  const levels = [entries.leaves];
  const present = [entries.present];
  for (let count = Math.floor(entries.size / 2); count >= 1; count = Math.floor(count / 2)) {
    const below = levels[levels.length - 1]!;
    const known = present[present.length - 1]!;
    const level = Buffer.alloc(count * HASH_SIZE);
    const here = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      if (!known[2 * i] || !known[2 * i + 1]) continue;
      nodeHash(
        below.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE),
        below.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE),
      ).copy(level, i * HASH_SIZE);
      here[i] = 1;
    }
    levels.push(level);
    present.push(here);
  }
  return {
    levels,
    hashes: (level, index) => {
      if (!present[level]?.[index]) throw new MissingLeaves();
      return levels[level]!.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
    },
  };
}

/** The copy's hash tiles, by path; a tile that is missing or of the wrong length is left out. */
async function readTiles(source: LogSource, size: number): Promise<Map<string, Buffer[]>> {
  const tiles = new Map<string, Buffer[]>();
  const refs = tilesForSize(size).filter((t): t is TileRef & { level: number } => t.level !== "entries");
  for (let at = 0; at < refs.length; at += 8) {
    await Promise.all(
      refs.slice(at, at + 8).map(async (ref) => {
        const bytes = await source.read(ref);
        if (!bytes) return;
        try {
          tiles.set(tilePath(ref), decodeTile(bytes, ref.width));
        } catch (err) {
          if (!(err instanceof TileError)) throw err;
        }
      }),
    );
  }
  return tiles;
}

/** The first hash tile a tree of this size needs that is missing or not the copy's own hashes. */
function firstWrongTile(tiles: Map<string, Buffer[]>, mine: { levels: Buffer[] }): string | undefined {
  const size = mine.levels[0]!.length / HASH_SIZE;
  for (const ref of tilesForSize(size)) {
    if (ref.level === "entries") continue;
    const path = tilePath(ref);
    const tile = tiles.get(path);
    const start = ref.index * TILE_WIDTH * HASH_SIZE;
    const expected = mine.levels[TILE_HEIGHT * ref.level]!.subarray(start, start + ref.width * HASH_SIZE);
    if (!tile) return `${path} (missing or not ${ref.width} hashes long)`;
    if (!Buffer.concat(tile).equals(expected)) return path;
  }
  return undefined;
}

/** Whether the copy extends checkpoint `note`, seen before: its first entries must still give that root. */
async function extendsPrevious(
  note: string,
  i: number,
  verifier: NoteVerifier,
  size: number,
  mine: SubtreeHashes,
): Promise<CopyVerdict | undefined> {
  const old = openCheckpoint(note, verifier, `Previous checkpoint ${i + 1}`);
  if ("forged" in old) return { ok: false, problem: "forged", message: `Checkpoint FORGED: ${old.forged}` };
  if (old.size > size) {
    return {
      ok: false,
      problem: "truncated",
      size,
      seq: size + 1,
      index: size,
      message: `The log was cut: a checkpoint seen before signed ${old.size} entries, this copy's checkpoint only ${size}`,
    };
  }
  const rootThen = await rangeHash(mine, 0, old.size);
  if (rootThen.equals(old.root)) return undefined;
  return {
    ok: false,
    problem: "rewritten",
    size,
    message:
      `Checkpoint INCONSISTENT with one seen before: the first ${old.size} entries of this copy no longer give the root ` +
      `${old.root.toString("base64")} signed earlier — the log's history was rewritten below it`,
  };
}
