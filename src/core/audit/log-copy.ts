import * as crypto from "node:crypto";
import { HASH_SIZE, leafHash } from "../../../tlog/merkle.js";
import { BundleError, decodeEntryBundle, tilePath, tileWidthAt, TILE_WIDTH, type TileRef } from "../../../tlog/tiles.js";
import { GENESIS_HASH } from "../../store/audit-chain.js";

/**
 * Where a copy of the log is read from: an export directory, a tlog-tiles server, anything
 * serving the C2SP layout. Reads return null for what is not there; a partial tile may come
 * from a wider one (tilePrefix), as tlog-tiles lets clients fall back on it.
 */
export interface LogSource {
  /** Named in messages: a directory or a URL. */
  readonly where: string;
  checkpoint(): Promise<string | null>;
  read(ref: TileRef): Promise<Uint8Array | null>;
  /** The log key's certificates from the roots (a PEM bundle), null when the copy holds none. */
  keyCertificates(): Promise<string | null>;
}

/**
 * The entries of a copy as the checkpoint's tree places them: leaf i is the i-th entry of the
 * bundles, whatever it claims to be, so a removed or moved entry shows as a mismatch there.
 */
export interface CopiedEntries {
  size: number;
  /** Leaf hashes by position, 32 bytes each; zero where `present` is 0. */
  leaves: Buffer;
  present: Uint8Array;
  /** The sequence number each entry claims (its canonical encoding's second element); 0 where none can be read. */
  claimedSeq: Float64Array;
  /** The first position whose entry breaks the hash chain (seq ≠ position + 1, or prevHash ≠ the hash of the one before); -1 when none. */
  chainBreak: number;
  /** Damage found while reading bundles: the bundle, the first position it concerns and what it is. */
  damage: Array<{ bundle: number; index: number; message: string }>;
}

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

/** Bundles fetched ahead of the one being hashed: a server answers several at once. */
const READ_AHEAD = 8;

/** Reads the entry bundles a tree of `size` is served as, in order. */
export async function readEntries(source: LogSource, size: number): Promise<CopiedEntries> {
  const copy: CopiedEntries = {
    size,
    leaves: Buffer.alloc(size * HASH_SIZE),
    present: new Uint8Array(size),
    claimedSeq: new Float64Array(size),
    chainBreak: -1,
    damage: [],
  };
  const bundles = Math.ceil(size / TILE_WIDTH);
  const pending: Array<Promise<{ ref: TileRef; bytes: Uint8Array | null }>> = [];
  const fetch = (index: number) => {
    if (index < bundles) pending.push(readBundle(source, index, tileWidthAt(size, "entries", index)));
  };
  for (let i = 0; i < READ_AHEAD; i++) fetch(i);
  let prevHash = GENESIS_HASH;
  for (let n = 0; n < bundles; n++) {
    const { ref, bytes } = await pending.shift()!;
    fetch(n + READ_AHEAD);
    const first = n * TILE_WIDTH;
    if (!bytes) {
      copy.damage.push({ bundle: n, index: first, message: `${tilePath(ref)} is missing` });
      if (copy.chainBreak < 0) copy.chainBreak = first;
      continue;
    }
    let entries: Buffer[];
    try {
      entries = decodeEntryBundle(bytes);
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      entries = err.decoded;
      copy.damage.push({ bundle: n, index: first + entries.length, message: `${tilePath(ref)} cannot be read: ${err.message}` });
    }
    if (entries.length !== ref.width && !copy.damage.some((d) => d.bundle === n)) {
      copy.damage.push({
        bundle: n,
        index: first + Math.min(entries.length, ref.width),
        message: `${tilePath(ref)} holds ${entries.length} entries, not ${ref.width}`,
      });
    }
    for (let k = 0; k < Math.min(entries.length, ref.width); k++) {
      const i = first + k;
      const entry = entries[k]!;
      leafHash(entry).copy(copy.leaves, i * HASH_SIZE);
      copy.present[i] = 1;
      const fields = chainFields(entry);
      copy.claimedSeq[i] = fields?.seq ?? 0;
      if (copy.chainBreak < 0 && (!fields || fields.seq !== i + 1 || fields.prevHash !== prevHash)) copy.chainBreak = i;
      prevHash = sha256Hex(entry);
    }
    if (entries.length < ref.width && copy.chainBreak < 0) copy.chainBreak = first + entries.length;
  }
  return copy;
}

async function readBundle(source: LogSource, index: number, width: number): Promise<{ ref: TileRef; bytes: Uint8Array | null }> {
  const ref: TileRef = { level: "entries", index, width };
  return { ref, bytes: await source.read(ref) };
}

const HEAD = Buffer.from('["dpki-audit-v1",');

/**
 * The chain link of an entry's canonical encoding, `["dpki-audit-v1",seq,…,"prevHash"]`, read
 * from its two ends: verifying a million entries must not parse a million JSON documents.
 */
function chainFields(entry: Buffer): { seq: number; prevHash: string } | null {
  if (entry.length < HEAD.length + 70 || !entry.subarray(0, HEAD.length).equals(HEAD)) return null;
  const comma = entry.indexOf(0x2c, HEAD.length);
  const seqText = entry.toString("latin1", HEAD.length, comma);
  if (!/^[1-9][0-9]*$/.test(seqText)) return null;
  const end = entry.length;
  if (entry[end - 1] !== 0x5d || entry[end - 2] !== 0x22 || entry[end - 67] !== 0x22 || entry[end - 68] !== 0x2c) return null;
  // Not checked for hex here: it is compared with the hash of the entry before, which is.
  return { seq: Number(seqText), prevHash: entry.toString("latin1", end - 66, end - 2) };
}

/** Node 20 before 20.12 lacks the one-shot `crypto.hash`. */
const sha256Hex: (data: Buffer) => string =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "hex")
    : (data) => crypto.createHash("sha256").update(data).digest("hex");
