import { GENESIS_HASH, hashEntry } from "../audit-chain.js";
import type { AuditEntry, AuditInput } from "../records.js";
import type { Query } from "./pg-query.js";

/**
 * Appends log entries to the chain inside the caller's transaction. The head row is locked
 * first (SELECT … FOR UPDATE), so appends from every connection of every node follow one
 * another: each batch links to the head as committed, and seq follows commit order, so a
 * reader always sees a gapless prefix of the log. Hashes are computed exactly as on SQLite
 * (audit-chain.ts), so `dpki audit verify` and the Merkle tree do not depend on the engine.
 */
export async function appendEntries(query: Query, inputs: AuditInput[]): Promise<AuditEntry[]> {
  const [head] = await query<{ seq: number; hash: string; at: Date | null }>(
    "SELECT seq, hash, at FROM audit_head WHERE id = 1 FOR UPDATE",
  );
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  let lastAt = head?.at ?? null;
  const entries: AuditEntry[] = [];
  const cols: unknown[][] = Array.from({ length: 12 }, () => []);
  for (let input of inputs) {
    seq++;
    // Times are settled under the lock: an entry stamped before its predecessor committed takes the predecessor's time.
    if (lastAt && input.at.getTime() < lastAt.getTime()) input = { ...input, at: lastAt };
    const hashed = hashEntry(seq, prevHash, input);
    const entry: AuditEntry = {
      seq,
      at: input.at,
      actor: input.actor,
      action: input.action,
      subject: input.subject ?? null,
      serial: input.serial ?? null,
      profile: input.profile ?? null,
      policyHash: input.policyHash ?? null,
      details: input.details ?? {},
      prevHash,
      hash: hashed.hash,
    };
    const idScope = typeof entry.details.idScope === "string" ? entry.details.idScope : null;
    const row = [seq, hashed.at, entry.actor, entry.action, entry.subject, entry.serial, entry.profile, entry.policyHash];
    row.push(hashed.details, prevHash, hashed.hash, idScope);
    row.forEach((v, i) => cols[i]!.push(v));
    entries.push(entry);
    prevHash = hashed.hash;
    lastAt = input.at;
  }
  await query(
    `WITH added AS (
       INSERT INTO audit_log (seq, at, actor, action, subject, serial, profile, policy_hash, details, prev_hash, hash, id_scope)
       SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
         $9::text[], $10::text[], $11::text[], $12::text[])
     )
     UPDATE audit_head SET seq = $13, hash = $14, at = $15 WHERE id = 1`,
    [...cols, seq, prevHash, lastAt],
  );
  return entries;
}
