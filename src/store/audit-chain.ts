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
  return (
    `["dpki-audit-v1",${json(seq)},${json(at)},${json(input.actor)},${json(input.action)},${json(input.subject ?? null)},` +
    `${json(input.serial ?? null)},${json(input.profile ?? null)},${json(input.policyHash ?? null)},` +
    `${sortedJson(input.details ?? {})},${json(prevHash)}]`
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
 * `JSON.stringify` of `value` with every object's keys sorted — the order a sorted copy of the
 * object enumerates in, so integer-like keys first in numeric order, as hashes have always been
 * made. Iterative: any stored entry, however deeply nested, can be hashed and verified.
 */
function sortedJson(value: unknown): string {
  const out: string[] = [];
  type Frame = { items: unknown[]; i: number } | { object: Record<string, unknown>; keys: string[]; i: number; first: boolean };
  const stack: Frame[] = [];
  const write = (v: unknown, inArray: boolean): void => {
    if (v instanceof Date) v = v.toJSON();
    if (v === undefined || typeof v === "function" || typeof v === "symbol") {
      if (inArray) out.push("null");
    } else if (v === null || typeof v !== "object") {
      out.push(JSON.stringify(v));
    } else if (Array.isArray(v)) {
      out.push("[");
      stack.push({ items: v, i: 0 });
    } else {
      out.push("{");
      stack.push({ object: v as Record<string, unknown>, keys: canonicalKeys(v), i: 0, first: true });
    }
  };
  write(value, false);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if ("items" in top) {
      if (top.i < top.items.length) {
        if (top.i > 0) out.push(",");
        write(top.items[top.i++], true);
      } else {
        out.push("]");
        stack.pop();
      }
      continue;
    }
    let wrote = false;
    while (top.i < top.keys.length) {
      const key = top.keys[top.i++]!;
      const v = top.object[key];
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      if (!top.first) out.push(",");
      top.first = false;
      out.push(JSON.stringify(key), ":");
      write(v, false);
      wrote = true;
      break;
    }
    if (!wrote) {
      out.push("}");
      stack.pop();
    }
  }
  return out.join("");
}

const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

/** Sorted keys in the order an object built from them enumerates: array indices first, ascending. */
function canonicalKeys(object: object): string[] {
  const sorted = Object.keys(object).sort();
  const isIndex = (k: string) => ARRAY_INDEX.test(k) && Number(k) < 2 ** 32 - 1;
  const indices = sorted.filter(isIndex).sort((a, b) => Number(a) - Number(b));
  return indices.length === 0 ? sorted : [...indices, ...sorted.filter((k) => !isIndex(k))];
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
