import { createHash } from "node:crypto";
import type { AuditEntry, AuditInput } from "../store/records.js";

/** The chain starts from 32 zero bytes so the first entry is hashed like every other. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * Canonical encoding of an entry: JSON of a fixed key order with nested objects' keys
 * sorted, so the same entry always hashes the same no matter which store wrote it.
 */
export function canonicalEntry(seq: number, prevHash: string, input: AuditInput): string {
  return JSON.stringify([
    "dpki-audit-v1",
    seq,
    input.at.toISOString(),
    input.actor,
    input.action,
    input.subject ?? null,
    input.serial ?? null,
    input.profile ?? null,
    input.policyHash ?? null,
    sortKeys(input.details ?? {}),
    prevHash,
  ]);
}

export function chainHash(seq: number, prevHash: string, input: AuditInput): string {
  return createHash("sha256")
    .update(canonicalEntry(seq, prevHash, input))
    .digest("hex");
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export type ChainVerdict =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; seq: number; problem: "altered" | "removed" | "reordered" | "broken_link"; message: string };

/**
 * Walks the log from the start. Reports the first entry whose content no longer matches
 * its hash (altered), whose sequence number skips (removed) or goes back (reordered), or
 * whose link to the previous entry is broken.
 */
export async function verifyChain(batches: AsyncIterable<AuditEntry[]>): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for await (const batch of batches) {
    for (const entry of batch) {
      if (entry.seq !== expectedSeq) {
        const problem = entry.seq < expectedSeq ? "reordered" : "removed";
        const message =
          problem === "removed"
            ? `Entry ${expectedSeq} is missing: the log jumps from ${expectedSeq - 1} to ${entry.seq}`
            : `Entry ${entry.seq} is out of order after entry ${expectedSeq - 1}`;
        return { ok: false, entries: count, seq: problem === "removed" ? expectedSeq : entry.seq, problem, message };
      }
      if (entry.prevHash !== prev) {
        return {
          ok: false,
          entries: count,
          seq: entry.seq,
          problem: "broken_link",
          message: `Entry ${entry.seq} does not link to entry ${entry.seq - 1}: an entry before it was removed, reordered or rewritten`,
        };
      }
      const recomputed = chainHash(entry.seq, entry.prevHash, entry);
      if (recomputed !== entry.hash) {
        return {
          ok: false,
          entries: count,
          seq: entry.seq,
          problem: "altered",
          message: `Entry ${entry.seq} was altered: its content no longer matches its hash`,
        };
      }
      prev = entry.hash;
      expectedSeq++;
      count++;
    }
  }
  return { ok: true, entries: count, head: prev };
}
