import * as crypto from "node:crypto";

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proofs over SHA-256: leaf = H(0x00 ‖ entry),
 * node = H(0x01 ‖ left ‖ right), the tree over n leaves split at the largest power of two
 * below n. Proofs are built from a source of subtree hashes, so a log that stores its complete
 * subtrees (tiles) answers in O(log n) without rehashing entries.
 */
export const HASH_SIZE = 32;

export function leafHash(entry: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(entry.length + 1);
  input[0] = 0;
  input.set(entry, 1);
  return sha256(input);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) return sha256(Buffer.concat([NODE_PREFIX, left, right]));
  // One scratch buffer: hashing is synchronous, so no other call can see it half written.
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return sha256(NODE_INPUT);
}

/** The hash of an empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT: Buffer = crypto.createHash("sha256").digest();

const NODE_PREFIX = Buffer.from([1]);
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

/**
 * Verifying a log hashes every entry and every node: the one-shot `crypto.hash` (Node 20.12+)
 * costs about half of a Hash object per call. Older Node 20 releases lack it.
 */
const sha256: (data: Buffer) => Buffer =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "buffer") as Buffer
    : (data) => crypto.createHash("sha256").update(data).digest();

/** Largest power of two strictly below n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Hash of a complete, aligned subtree: leaves [index·2^level, (index+1)·2^level). A log keeps
 * these (level 0 = leaf hashes); everything else is combined from them.
 */
export type SubtreeHashes = (level: number, index: number) => Buffer | Promise<Buffer>;

/** Subtree hashes of leaf hashes held in memory: a verifier rebuilding the tree from entries alone. */
export function memorySubtrees(leafHashes: readonly Buffer[]): SubtreeHashes {
  const levels: Buffer[][] = [[...leafHashes]];
  return (level, index) => {
    for (let l = levels.length; l <= level; l++) {
      const below = levels[l - 1]!;
      levels.push(Array.from({ length: Math.floor(below.length / 2) }, (_, i) => nodeHash(below[2 * i]!, below[2 * i + 1]!)));
    }
    const h = levels[level]![index];
    if (!h) throw new RangeError(`No complete subtree ${level}/${index}`);
    return h;
  };
}

/** MTH(D[start : start+size]) for a range whose every complete part the source can give. */
export async function rangeHash(hashes: SubtreeHashes, start: number, size: number): Promise<Buffer> {
  if (size === 0) return EMPTY_ROOT;
  // A power-of-two range starting on its own boundary is one stored subtree.
  if ((size & (size - 1)) === 0 && start % size === 0) return hashes(Math.log2(size), start / size);
  const k = split(size);
  return nodeHash(await rangeHash(hashes, start, k), await rangeHash(hashes, start + k, size - k));
}

export async function treeHash(hashes: SubtreeHashes, size: number): Promise<Buffer> {
  return rangeHash(hashes, 0, size);
}

/** RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves. */
export async function inclusionProof(hashes: SubtreeHashes, index: number, size: number): Promise<Buffer[]> {
  if (!(index >= 0 && index < size)) throw new RangeError(`Leaf ${index} is not in a tree of ${size}`);
  const path: Buffer[] = [];
  let start = 0;
  let n = size;
  let m = index;
  // Walk down from the root, collecting the sibling of each subtree holding the leaf; the proof lists them bottom-up.
  while (n > 1) {
    const k = split(n);
    if (m < k) {
      path.push(await rangeHash(hashes, start + k, n - k));
      n = k;
    } else {
      path.push(await rangeHash(hashes, start, k));
      start += k;
      m -= k;
      n -= k;
    }
  }
  return path.reverse();
}

/** RFC 9162 §2.1.4.1: proof that the tree of `oldSize` leaves is a prefix of the tree of `newSize`. */
export async function consistencyProof(hashes: SubtreeHashes, oldSize: number, newSize: number): Promise<Buffer[]> {
  if (!(oldSize >= 0 && oldSize <= newSize)) throw new RangeError(`Cannot prove size ${oldSize} against size ${newSize}`);
  if (oldSize === 0 || oldSize === newSize) return [];
  const proof: Buffer[] = [];
  // SUBPROOF(m, D[start:start+n], b), iteratively; collected top-down, listed bottom-up.
  let start = 0;
  let n = newSize;
  let m = oldSize;
  let complete = true;
  while (m !== n) {
    const k = split(n);
    if (m <= k) {
      proof.push(await rangeHash(hashes, start + k, n - k));
      n = k;
    } else {
      proof.push(await rangeHash(hashes, start, k));
      start += k;
      m -= k;
      n -= k;
      complete = false;
    }
  }
  if (!complete) proof.push(await rangeHash(hashes, start, m));
  return proof.reverse();
}

/** RFC 9162 §2.1.3.2: does `proof` bind `leaf` at `index` to `root` of a tree of `size`? */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree of `size1` (root1) is a prefix of the tree of `size2` (root2)? */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  // Every tree extends the empty one: a proof from size 0 proves nothing, so none is accepted.
  if (size1 === 0) return false;
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (proof.length === 0) return false;
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) return false;
  let path = [...proof];
  // A first tree that is a complete subtree of the second is its own first proof node.
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}
