import { EMPTY_ROOT, verifyConsistency } from "../../../tlog/merkle.js";
import { AppError } from "../../errors.js";

/** A tree size and its root, from a signed checkpoint or as the log states it. */
export interface TreeHead {
  size: number;
  root: Buffer;
}

export interface ConsistencyVerdict {
  consistent: boolean;
  from: { size: number; root: string };
  to: { size: number; root: string };
  /** The base64 proof hashes checked (none for equal sizes or from the empty tree). */
  proof: string[];
  message: string;
}

/**
 * Whether the tree `next` extends the tree `old`, by an RFC 9162 consistency proof between
 * them: the log may not take back or change an entry it once committed to. Every tree extends
 * the empty one; a tree extends one of its own size only by being it.
 */
export function checkExtension(old: TreeHead, next: TreeHead, proof: readonly Buffer[]): ConsistencyVerdict {
  if (old.size > next.size) {
    throw new AppError(
      "invalid_argument",
      `The first checkpoint (size ${old.size}) is larger than the second (size ${next.size}): give the older one first`,
    );
  }
  const consistent = old.size === 0 ? old.root.equals(EMPTY_ROOT) : verifyConsistency(old.size, next.size, proof, old.root, next.root);
  return {
    consistent,
    from: { size: old.size, root: old.root.toString("base64") },
    to: { size: next.size, root: next.root.toString("base64") },
    proof: proof.map((h) => h.toString("base64")),
    message: consistent
      ? old.size === next.size
        ? `Both are the tree of ${old.size} entries, with the same root`
        : `The tree of ${next.size} entries extends the tree of ${old.size}: consistency proof of ${proof.length} hashes verified`
      : old.size === next.size
        ? `INCONSISTENT: two different roots for the tree of ${old.size} entries — the log's history was rewritten`
        : `INCONSISTENT: the tree of ${next.size} entries does not extend the tree of ${old.size} — the log's history was rewritten below ${old.size}`,
  };
}
