import * as crypto from "node:crypto";
import type { AuditEntry, AuditInput } from "./records.js";

// The log's format lives with the store: a store computes each entry's hash as it appends it, in
// the same transaction as the change, and services verify with the same code.

/** The chain starts from 32 zero bytes so the first entry is hashed like every other. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * Canonical encoding of an entry: JSON of a fixed key order with nested objects' keys
 * sorted, so the same entry always hashes the same no matter which store wrote it.
 */
export function canonicalEntry(seq: number, prevHash: string, input: AuditInput): string {
  return canonicalText(seq, prevHash, input.at.toISOString(), input);
}

export function chainHash(seq: number, prevHash: string, input: AuditInput): string {
  return sha256Hex(canonicalEntry(seq, prevHash, input));
}

/** An entry's chain hash with its time and details as the log stores them, each serialised once. */
export interface HashedEntry {
  hash: string;
  at: string;
  /** JSON in the caller's key order, as the log has always stored it. */
  details: string;
}

export function hashEntry(seq: number, prevHash: string, input: AuditInput): HashedEntry {
  const at = input.at.toISOString();
  return { hash: sha256Hex(canonicalText(seq, prevHash, at, input)), at, details: JSON.stringify(input.details ?? {}) };
}

/**
 * `JSON.stringify(["dpki-audit-v1", seq, at, actor, action, subject, serial, profile,
 * policyHash, sortKeys(details), prevHash])`, written out element by element so the time
 * string the log stores is made once.
 */
function canonicalText(seq: number, prevHash: string, at: string, input: AuditInput): string {
  return `["dpki-audit-v1",${json(seq)},${json(at)},${canonicalBody(input)},${json(prevHash)}]`;
}

/**
 * The part of the canonical encoding that depends on the entry alone (actor through details),
 * for a store that chains entries inside the database: it splices seq, time and the previous
 * hash around it exactly as canonicalText does.
 */
export function canonicalBody(input: AuditInput): string {
  return (
    `${json(input.actor)},${json(input.action)},${json(input.subject ?? null)},` +
    `${json(input.serial ?? null)},${json(input.profile ?? null)},${json(input.policyHash ?? null)},` +
    `${canonicalJson(input.details ?? {})}`
  );
}

/** What JSON.stringify writes for an array element. */
function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** Node 20 before 20.12 lacks the one-shot `crypto.hash`; it saves a Hash object per entry. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === "function"
    ? (text) => crypto.hash("sha256", text, "hex")
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

/**
 * `JSON.stringify(sortKeys(value))` — nested objects' keys sorted — written with an explicit
 * stack instead of recursion, so no stored value, however deep, runs out of call stack and
 * leaves the log unverifiable. Byte for byte what the recursive form wrote: keys in the order a
 * plain object built from the sorted keys enumerates them (integer-like keys first, ascending),
 * members whose value JSON omits left out, such array elements written as null.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  type Frame = { array: unknown[]; index: number } | { object: Record<string, unknown>; keys: string[]; index: number; wrote: boolean };
  const stack: Frame[] = [];
  /** Writes a leaf, or opens a container and leaves it on the stack. */
  const begin = (v: unknown): void => {
    if (Array.isArray(v)) {
      out.push("[");
      stack.push({ array: v, index: 0 });
    } else if (v !== null && typeof v === "object" && !(v instanceof Date)) {
      const sorted = Object.keys(v).sort();
      // Property order of the object sortKeys used to build: the engine puts integer keys first.
      const keys = Object.keys(Object.fromEntries(sorted.map((k) => [k, 0])));
      out.push("{");
      stack.push({ object: v as Record<string, unknown>, keys, index: 0, wrote: false });
    } else {
      out.push(json(v));
    }
  };
  begin(value);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if ("array" in top) {
      if (top.index >= top.array.length) {
        out.push("]");
        stack.pop();
        continue;
      }
      if (top.index > 0) out.push(",");
      const item = top.array[top.index++];
      if (omitted(item)) out.push("null");
      else begin(item);
    } else {
      if (top.index >= top.keys.length) {
        out.push("}");
        stack.pop();
        continue;
      }
      const key = top.keys[top.index++]!;
      const item = top.object[key];
      if (omitted(item)) continue;
      out.push(top.wrote ? "," : "", JSON.stringify(key), ":");
      top.wrote = true;
      begin(item);
    }
  }
  return out.join("");
}

/** Values JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === "function" || typeof v === "symbol";
}

export type ChainVerdict =
  | { ok: true; entries: number; head: string; checkpoint?: { size: number; message: string } }
  | {
      ok: false;
      entries: number;
      seq: number;
      /** `truncated` and `rewritten`: the entries no longer give the latest signed checkpoint. */
      problem: "altered" | "removed" | "reordered" | "broken_link" | "truncated" | "rewritten";
      message: string;
    };

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
