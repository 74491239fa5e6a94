import { CheckpointError, parseCheckpoint, type Checkpoint } from "../../../tlog/checkpoint.js";
import { HASH_SIZE, nodeHash, rangeHash, type SubtreeHashes } from "../../../tlog/merkle.js";
import { NoteError, openNote, type NoteVerifier } from "../../../tlog/note.js";
import { decodeTile, TileError, tilePath, tilesForSize, tileSubtrees, TILE_HEIGHT, TILE_WIDTH, type TileRef } from "../../../tlog/tiles.js";
import { AppError } from "../../errors.js";
import { readEntries, type CopiedEntries, type LogSource } from "./log-copy.js";

/**
 * What an auditor's offline check of a log copy concludes. `forged`: the checkpoint is not the
 * log key's; `inconsistent`: it commits to another tree than the copy holds; `rewritten`: the
 * copy does not extend a checkpoint seen before; `bad_tile`: the entries are intact but a hash
 * tile is not theirs. The others name the first entry (seq, 1-based; index, 0-based) found bad.
 */
export type CopyVerdict =
  | { ok: true; origin: string; size: number; root: string; message: string }
  | {
      ok: false;
      problem: "forged" | "inconsistent" | "rewritten" | "truncated" | "altered" | "removed" | "reordered" | "broken_link" | "bad_tile";
      size?: number;
      seq?: number;
      index?: number;
      message: string;
    };

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

class MissingLeaves extends Error {}

/** Largest power of two below n (n ≥ 2): where RFC 6962 splits a tree. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of a range, or null when an entry of it (or a tile it needs) is missing or unreadable. */
async function tryRange(hashes: SubtreeHashes, start: number, size: number): Promise<Buffer | null> {
  try {
    return await rangeHash(hashes, start, size);
  } catch (err) {
    if (err instanceof MissingLeaves || err instanceof TileError || err instanceof RangeError) return null;
    throw err;
  }
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

/**
 * Walks down from the signed root to the first leaf the copy gets wrong. At each node the two
 * children read from the tiles must hash to the node's authentic hash, which makes them
 * authentic too; the walk goes into the first child whose entries do not give its hash. Where
 * the tiles do not hash to the authentic node, they were rewritten too, and only the range is known.
 */
async function firstBadLeaf(
  mine: SubtreeHashes,
  tiles: SubtreeHashes,
  size: number,
  root: Buffer,
): Promise<{ index: number; hash: Buffer } | { start: number; end: number }> {
  let start = 0;
  let n = size;
  let hash = root;
  while (n > 1) {
    const k = split(n);
    const left = await tryRange(tiles, start, k);
    const right = await tryRange(tiles, start + k, n - k);
    if (!left || !right || !nodeHash(left, right).equals(hash)) return { start, end: start + n };
    if (!(await tryRange(mine, start, k))?.equals(left)) {
      n = k;
      hash = left;
    } else {
      start += k;
      n -= k;
      hash = right;
    }
  }
  return { index: start, hash };
}

/** The authentic leaf hash at `index`, read from the tiles down from the signed root; null when they do not authenticate it. */
async function authenticLeaf(tiles: SubtreeHashes, size: number, root: Buffer, index: number): Promise<Buffer | null> {
  let start = 0;
  let n = size;
  let hash = root;
  while (n > 1) {
    const k = split(n);
    const left = await tryRange(tiles, start, k);
    const right = await tryRange(tiles, start + k, n - k);
    if (!left || !right || !nodeHash(left, right).equals(hash)) return null;
    if (index < start + k) {
      n = k;
      hash = left;
    } else {
      start += k;
      n -= k;
      hash = right;
    }
  }
  return hash;
}

async function locate(
  entries: CopiedEntries,
  mine: SubtreeHashes,
  tiles: SubtreeHashes,
  root: Buffer,
  entryRoot: Buffer | null,
): Promise<CopyVerdict> {
  const { size } = entries;
  const leaf = (i: number) => entries.leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  const bad = size === 0 ? { start: 0, end: 0 } : await firstBadLeaf(mine, tiles, size, root);
  const at = (i: number, problem: Exclude<CopyVerdict, { ok: true }>["problem"], message: string): CopyVerdict => ({
    ok: false,
    problem,
    size,
    seq: i + 1,
    index: i,
    message: damageNote(entries, i, message),
  });
  const firstMissing = entries.present.indexOf(0);
  const cutAt = firstMissing >= 0 && entries.present.indexOf(1, firstMissing) < 0 ? firstMissing : -1;
  const cut = (i: number) =>
    at(
      i,
      "truncated",
      `The copy was cut: the checkpoint signed ${size} entries, the copy holds the first ${i} (entry ${i + 1} onwards is missing)`,
    );

  if ("index" in bad) {
    const i = bad.index;
    if (!entries.present[i]) {
      if (cutAt === i) return cut(i);
      return at(i, "removed", `Entry ${i + 1} is missing from the copy`);
    }
    const claimed = entries.claimedSeq[i]! - 1;
    if (claimed >= 0 && claimed !== i && claimed < size && (await authenticLeaf(tiles, size, root, claimed))?.equals(leaf(i))) {
      if (claimed > i && entries.present[claimed] && leaf(claimed).equals(bad.hash)) {
        return at(i, "reordered", `Entries ${i + 1} and ${claimed + 1} were swapped: each stands in the other's place`);
      }
      if (claimed > i) {
        const gap = claimed - i === 1 ? `Entry ${i + 1} was removed` : `Entries ${i + 1} to ${claimed} were removed`;
        return at(i, "removed", `${gap}: entry ${claimed + 1} follows entry ${i}`);
      }
      return at(i, "reordered", `Entry ${claimed + 1} appears again in the place of entry ${i + 1}: the entries were reordered`);
    }
    return at(i, "altered", `Entry ${i + 1} was altered: it no longer hashes to the leaf the signed checkpoint commits to`);
  }

  // The tiles do not lead further down: they were rewritten with the entries, or the checkpoint is another tree's.
  if (cutAt >= 0) return cut(cutAt);
  if (firstMissing >= 0) return at(firstMissing, "removed", `Entry ${firstMissing + 1} is missing from the copy`);
  if (entries.chainBreak >= 0) {
    const broken = chainBroken(entries, entries.chainBreak);
    const range =
      bad.end - bad.start < size
        ? `; the copy's hash tiles were rewritten to match, and the signed root puts the damage among entries ${bad.start + 1} to ${bad.end}`
        : "";
    return { ...broken, size, message: broken.message + range };
  }
  const tileRoot = size === 0 ? null : await tryRange(tiles, 0, size);
  if (bad.start === 0 && bad.end === size) {
    const agree = entryRoot && tileRoot?.equals(entryRoot) ? "; the copy's entries, tiles and hash chain agree with each other" : "";
    return {
      ok: false,
      problem: "inconsistent",
      size,
      message:
        `Checkpoint INCONSISTENT: the signed checkpoint of ${size} entries commits to root ${root.toString("base64")}, ` +
        `which the copy's entries do not give (${entryRoot?.toString("base64") ?? "incomplete"})${agree}: ` +
        `it is a checkpoint of another history of the log, or the copy was rewritten as a whole`,
    };
  }
  return at(
    bad.start,
    "altered",
    `An entry among ${bad.start + 1} to ${bad.end} was altered, and the copy's hash tiles were rewritten to match: ` +
      `the signed root shows it is one of those`,
  );
}

/** The entry at which the hash chain breaks, named as `audit verify` names it. */
function chainBroken(entries: CopiedEntries, i: number): Exclude<CopyVerdict, { ok: true }> {
  const claimed = entries.claimedSeq[i]!;
  const message = !entries.present[i]
    ? `Entry ${i + 1} is missing from the copy`
    : claimed === 0
      ? `Entry ${i + 1} is not a dpki log entry (dpki-audit-v1 canonical encoding)`
      : claimed !== i + 1
        ? `Entry ${i + 1} claims to be entry ${claimed}: the entries were removed or reordered`
        : `Entry ${i + 1} does not link to entry ${i}: one of them was altered`;
  const problem = !entries.present[i] || claimed > i + 1 ? "removed" : claimed !== 0 && claimed < i + 1 ? "reordered" : "broken_link";
  return { ok: false, problem, seq: i + 1, index: i, message: damageNote(entries, i, message) };
}

function damageNote(entries: CopiedEntries, i: number, message: string): string {
  const damage = entries.damage.find((d) => d.bundle === Math.floor(i / TILE_WIDTH));
  return damage ? `${message} (${damage.message})` : message;
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
