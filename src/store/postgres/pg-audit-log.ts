import { GENESIS_HASH, hashEntry } from "../audit-chain.js";
import { withAuditDefaults, type AuditDefaults } from "../audit-defaults.js";
import type { AuditEntry, AuditInput } from "../records.js";
import type { Query } from "./pg-query.js";

export interface AppendOptions {
  /** The policy hash and source put on entries whose callers leave them undefined. */
  defaults?: () => AuditDefaults;
  /** A `policy.change` entry before the first entry under a policy hash other than the last one logged, as SqliteDb writes it. */
  announcePolicyChanges?: boolean;
}

/**
 * Appends log entries to the chain inside the caller's transaction. The head row is locked
 * first (SELECT … FOR UPDATE), so appends from every connection of every node follow one
 * another: each batch links to the head as committed, and seq follows commit order, so a
 * reader always sees a gapless prefix of the log. Hashes are computed exactly as on SQLite
 * (audit-chain.ts), so `dpki audit verify` and the Merkle tree do not depend on the engine.
 */
export async function appendEntries(query: Query, inputs: AuditInput[], options: AppendOptions = {}): Promise<AuditEntry[]> {
  const [head] = await query<{ seq: number; hash: string; at: Date | null; policy_hash: string | null }>(
    "SELECT seq, hash, at, policy_hash FROM audit_head WHERE id = 1 FOR UPDATE",
  );
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  let lastAt = head?.at ?? null;
  let lastPolicy = head?.policy_hash ?? null;
  const expanded: AuditInput[] = [];
  for (const given of inputs) {
    const input = withAuditDefaults(given, options.defaults);
    const logged = seq + expanded.length > 0;
    if (options.announcePolicyChanges && input.policyHash && logged && lastPolicy && lastPolicy !== input.policyHash) {
      expanded.push({
        at: input.at,
        actor: "system:policy",
        action: "policy.change",
        policyHash: input.policyHash,
        details: { previousPolicyHash: lastPolicy },
      });
    }
    if (input.policyHash) lastPolicy = input.policyHash;
    expanded.push(input);
  }
  const entries: AuditEntry[] = [];
  const cols: unknown[][] = Array.from({ length: 12 }, () => []);
  for (let input of expanded) {
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
     UPDATE audit_head SET seq = $13, hash = $14, at = $15, policy_hash = $16 WHERE id = 1`,
    [...cols, seq, prevHash, lastAt, lastPolicy],
  );
  return entries;
}
