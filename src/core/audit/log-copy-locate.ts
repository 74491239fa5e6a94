import { HASH_SIZE, nodeHash, rangeHash, type SubtreeHashes } from "../../../tlog/merkle.js";
import { TileError, TILE_WIDTH } from "../../../tlog/tiles.js";
import type { CopiedEntries, CopyVerdict } from "./log-copy.js";

/**
 * Where a copy of the log goes wrong, once its entries do not give the signed root: the walk
 * down the tree from that root, through the copy's hash tiles, to the first entry that differs,
 * and what happened to it.
 */

/** A subtree the copy cannot give: an entry of it is missing. */
export class MissingLeaves extends Error {}

/** Largest power of two below n (n ≥ 2): where RFC 6962 splits a tree. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of a range, or null when an entry of it (or a tile it needs) is missing or unreadable. */
export async function tryRange(hashes: SubtreeHashes, start: number, size: number): Promise<Buffer | null> {
  try {
    return await rangeHash(hashes, start, size);
  } catch (err) {
    if (err instanceof MissingLeaves || err instanceof TileError || err instanceof RangeError) return null;
    throw err;
  }
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

export async function locate(
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
export function chainBroken(entries: CopiedEntries, i: number): Exclude<CopyVerdict, { ok: true }> {
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
