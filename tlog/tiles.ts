import { HASH_SIZE, rangeHash, memorySubtrees, type SubtreeHashes } from "./merkle.js";

/**
 * C2SP tlog-tiles: a log served as static files. A tile at level L holds up to 256 consecutive
 * hashes of tree level 8·L (level 0: leaf hashes); an entry bundle holds up to 256 entries,
 * each prefixed with its length as a big-endian uint16. Full tiles never change; the rightmost
 * tile of each level is partial (1–255 wide) and named with `.p/<W>`.
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Entries longer than this do not fit a bundle's two-byte length prefix. */
export const MAX_ENTRY_SIZE = 0xffff;

export interface TileRef {
  /** The tile's level (0 holds leaf hashes), or "entries" for an entry bundle. */
  level: number | "entries";
  index: number;
  /** How many hashes (or entries) it holds: 256 for a full tile, 1–255 for a partial one. */
  width: number;
}

export class TileError extends Error {}

/** The tile's path under the log's prefix, e.g. `tile/0/x001/x234/067.p/5` or `tile/entries/000`. */
export function tilePath(t: TileRef): string {
  let n = t.index;
  let digits = String(n % 1000).padStart(3, "0");
  while (n >= 1000) {
    n = Math.floor(n / 1000);
    digits = `x${String(n % 1000).padStart(3, "0")}/${digits}`;
  }
  return `tile/${t.level}/${digits}${t.width < TILE_WIDTH ? `.p/${t.width}` : ""}`;
}

/** Parses a tile path (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`); only the canonical spelling is accepted. */
export function parseTilePath(path: string): TileRef {
  const parts = path.split("/");
  if (parts.length < 3 || parts[0] !== "tile") throw new TileError(`Not a tile path: ${JSON.stringify(path)}`);
  const levelText = parts[1]!;
  let level: TileRef["level"];
  if (levelText === "entries") level = "entries";
  else if (/^(0|[1-9][0-9]?)$/.test(levelText) && Number(levelText) <= 63) level = Number(levelText);
  else throw new TileError(`Not a tile path: the level must be 0 to 63 or "entries", not ${JSON.stringify(levelText)}`);
  let width = TILE_WIDTH;
  let elements = parts.slice(2);
  const last = elements[elements.length - 2];
  if (last?.endsWith(".p")) {
    const w = elements[elements.length - 1]!;
    if (!/^[1-9][0-9]{0,2}$/.test(w) || Number(w) >= TILE_WIDTH) {
      throw new TileError(`Not a tile path: a partial tile's width must be 1 to 255, not ${JSON.stringify(w)}`);
    }
    width = Number(w);
    elements = [...elements.slice(0, -2), last.slice(0, -2)];
  }
  let index = 0;
  elements.forEach((e, i) => {
    const ok = i < elements.length - 1 ? /^x[0-9]{3}$/.test(e) : /^[0-9]{3}$/.test(e);
    if (!ok) throw new TileError(`Not a tile path: the index must be 3-digit elements, all but the last starting with "x"`);
    index = index * 1000 + Number(e.replace("x", ""));
  });
  if (!Number.isSafeInteger(index)) throw new TileError("Not a tile path: the index is too large");
  const ref = { level, index, width };
  // One tile, one name: "x000/005" or "005.p/256" would be a second URL for the same bytes.
  if (tilePath(ref) !== path) throw new TileError(`Not a canonical tile path: ${JSON.stringify(path)} (it is ${tilePath(ref)})`);
  return ref;
}

/** Hashes of tree level 8·L in a tree of `size` leaves; 0 for levels the tree does not reach. */
function hashesAtLevel(size: number, level: number): number {
  // 256^7 is beyond any safe tree size: no tile of level 7 or more has a hash yet.
  return level >= 7 ? 0 : Math.floor(size / TILE_WIDTH ** level);
}

/** The width of tile `index` at `level` (or of that entry bundle) in a tree of `size`: 0 when it has no hash yet. */
export function tileWidthAt(size: number, level: number | "entries", index: number): number {
  const count = hashesAtLevel(size, level === "entries" ? 0 : level);
  return Math.max(0, Math.min(TILE_WIDTH, count - index * TILE_WIDTH));
}

/**
 * Every tile and entry bundle a tree of `size` is served as: the full tiles of each level and
 * the partial ones of this size. With `since`, only those a copy made at that size lacks (the
 * tiles that were partial then, or did not exist).
 */
export function tilesForSize(size: number, since = 0): TileRef[] {
  const out: TileRef[] = [];
  const add = (level: TileRef["level"], count: number) => {
    for (let index = 0; index * TILE_WIDTH < count; index++) {
      const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
      if (since > 0 && tileWidthAt(since, level, index) === width) continue;
      out.push({ level, index, width });
    }
  };
  for (let level = 0; hashesAtLevel(size, level) > 0; level++) add(level, hashesAtLevel(size, level));
  add("entries", size);
  return out;
}

/** A tile's bytes: its hashes, concatenated. */
export function encodeTile(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.some((h) => h.length !== HASH_SIZE)) throw new TileError("A tile holds SHA-256 hashes only");
  return Buffer.concat(hashes);
}

/** The hashes of a tile of `width`; throws when the bytes are not exactly that many hashes. */
export function decodeTile(bytes: Uint8Array, width: number): Buffer[] {
  if (bytes.length !== width * HASH_SIZE) {
    throw new TileError(`A tile of width ${width} is ${width * HASH_SIZE} bytes, not ${bytes.length}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: width }, (_, i) => buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.length > MAX_ENTRY_SIZE) {
      throw new TileError(`An entry of ${entry.length} bytes does not fit an entry bundle (at most ${MAX_ENTRY_SIZE})`);
    }
    const prefix = Buffer.allocUnsafe(2);
    prefix.writeUInt16BE(entry.length);
    parts.push(prefix, Buffer.from(entry.buffer, entry.byteOffset, entry.length));
  }
  return Buffer.concat(parts);
}

/** A bundle that does not decode: the entries before the damage, and where it is. */
export class BundleError extends TileError {
  constructor(
    message: string,
    readonly decoded: Buffer[],
  ) {
    super(message);
  }
}

/** The entries of a bundle, in order; a BundleError (holding the entries before it) where a length runs past the end. */
export function decodeEntryBundle(bytes: Uint8Array): Buffer[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 2 > buf.length) throw new BundleError(`Entry ${entries.length} of the bundle: a length prefix cut short`, entries);
    const length = buf.readUInt16BE(at);
    if (at + 2 + length > buf.length) {
      throw new BundleError(`Entry ${entries.length} of the bundle: ${length} bytes announced, ${buf.length - at - 2} left`, entries);
    }
    entries.push(buf.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return entries;
}

/**
 * The first `width` hashes or entries of a wider tile of the same index (a full one, or a wider
 * partial one): the partial tile of that width, which a log may have deleted once it grew.
 */
export function tilePrefix(t: TileRef, wider: Uint8Array): Buffer {
  const buf = Buffer.from(wider.buffer, wider.byteOffset, wider.length);
  if (t.level !== "entries") return buf.subarray(0, t.width * HASH_SIZE);
  let at = 0;
  for (let i = 0; i < t.width && at + 2 <= buf.length; i++) at += 2 + buf.readUInt16BE(at);
  return buf.subarray(0, Math.min(at, buf.length));
}

/** A hash tile cut from a source of subtree hashes (a log that keeps them, or a tree in memory). */
export async function tileFromSubtrees(hashes: SubtreeHashes, t: TileRef & { level: number }): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let i = 0; i < t.width; i++) out.push(await hashes(TILE_HEIGHT * t.level, t.index * TILE_WIDTH + i));
  return encodeTile(out);
}

/**
 * Subtree hashes read from the hash tiles of a tree of `size`, as a verifier without the log's
 * database computes roots and proofs: a subtree 8·L + r levels high is the Merkle hash of 2^r
 * consecutive hashes of a level-L tile. `readTile` gives a tile's hashes, or null when missing.
 */
export function tileSubtrees(size: number, readTile: (t: TileRef & { level: number }) => Promise<Buffer[] | null>): SubtreeHashes {
  return async (level, index) => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level % TILE_HEIGHT);
    const first = index * span;
    const tileIndex = Math.floor(first / TILE_WIDTH);
    const width = tileWidthAt(size, tileLevel, tileIndex);
    if ((first % TILE_WIDTH) + span > width) throw new RangeError(`No complete subtree ${level}/${index} in a tree of ${size}`);
    const ref = { level: tileLevel, index: tileIndex, width };
    const hashes = await readTile(ref);
    if (!hashes) throw new TileError(`Missing tile ${tilePath(ref)}`);
    const part = hashes.slice(first % TILE_WIDTH, (first % TILE_WIDTH) + span);
    return span === 1 ? part[0]! : rangeHash(memorySubtrees(part), 0, span);
  };
}
