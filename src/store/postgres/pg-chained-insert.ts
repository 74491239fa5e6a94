import { canonicalBody } from "../audit-chain.js";
import { withAuditDefaults } from "../audit-defaults.js";
import type { AuditInput, CertificateRecord } from "../records.js";
import type { AppendOptions } from "./pg-audit-log.js";
import type { Query } from "./pg-query.js";

/**
 * Certificates and their log entries in one statement, chained inside the database: the head
 * row is locked, each entry's seq, time and hash follow from its predecessor's (a recursive
 * CTE calling dpki_entry_hash, the same encoding as audit-chain.ts), the certificates, entries
 * and new head are written, and the statement commits on its own. The head is held for the
 * statement and its commit only, never across a round trip to a node: this is the hot write,
 * and what lets several nodes issue at once without waiting on each other's network. A batch
 * that would need a `policy.change` entry first (the profiles changed) is refused, before it
 * writes anything, with SQLSTATE DP001; the caller appends it through a transaction instead.
 */
const SQL = `WITH RECURSIVE
  head AS (
    SELECT seq, hash, at,
      CASE WHEN $28 AND $27::text IS NOT NULL AND seq > 0 AND policy_hash IS NOT NULL AND policy_hash <> $27
        THEN dpki_policy_changed() END AS refused
    FROM audit_head WHERE id = 1 FOR UPDATE
  ),
  input AS (
    SELECT * FROM unnest($17::timestamptz[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
      $24::text[], $25::text[], $26::text[]) WITH ORDINALITY
      AS t(at, body, actor, action, subject, serial, profile, policy_hash, details, id_scope, n)
  ),
  chain AS (
    SELECT i.n, h.seq + 1 AS seq, greatest(i.at, h.at) AS at, h.hash AS prev_hash,
      dpki_entry_hash(h.seq + 1, greatest(i.at, h.at), i.body, h.hash) AS hash
    FROM head h JOIN input i ON i.n = 1 AND h.refused IS NULL
    UNION ALL
    SELECT i.n, c.seq + 1, greatest(i.at, c.at), c.hash, dpki_entry_hash(c.seq + 1, greatest(i.at, c.at), i.body, c.hash)
    FROM chain c JOIN input i ON i.n = c.n + 1
  ),
  certs AS (
    INSERT INTO certificates (serial, sha256, issuer_ca_id, subject, common_name, sans, not_before, not_after, profile, requester,
      scope, status, revoked_at, revocation_reason, der, created_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
      $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[], $15::bytea[],
      $16::timestamptz[])
  ),
  logged AS (
    INSERT INTO audit_log (seq, at, actor, action, subject, serial, profile, policy_hash, details, prev_hash, hash, id_scope)
    SELECT c.seq, c.at, i.actor, i.action, i.subject, i.serial, i.profile, i.policy_hash, i.details, c.prev_hash, c.hash, i.id_scope
    FROM chain c JOIN input i USING (n)
  ),
  last AS (SELECT seq, at, hash FROM chain ORDER BY n DESC LIMIT 1)
UPDATE audit_head SET seq = last.seq, hash = last.hash, at = last.at, policy_hash = coalesce($27, audit_head.policy_hash)
FROM last WHERE audit_head.id = 1
RETURNING audit_head.seq`;

/**
 * Inserts the batch in one statement; false, writing nothing, when it must go through a
 * transaction instead (entries under more than one policy, or a policy change to announce).
 */
export async function insertCertificatesChained(
  query: Query,
  items: Array<{ cert: CertificateRecord; audit: AuditInput }>,
  options: AppendOptions,
): Promise<boolean> {
  const audits = items.map(({ audit }) => withAuditDefaults(audit, options.defaults));
  const policies = new Set(audits.flatMap((a) => (a.policyHash ? [a.policyHash] : [])));
  if (policies.size > 1) return false;
  const cols: unknown[][] = Array.from({ length: 26 }, () => []);
  for (const [i, { cert }] of items.entries()) {
    const audit = audits[i]!;
    const details = audit.details ?? {};
    const row = [
      ...certValues(cert),
      audit.at.toISOString(),
      canonicalBody(audit),
      audit.actor,
      audit.action,
      audit.subject ?? null,
      audit.serial ?? null,
      audit.profile ?? null,
      audit.policyHash ?? null,
      JSON.stringify(details),
      typeof details.idScope === "string" ? details.idScope : null,
    ];
    row.forEach((v, i) => cols[i]!.push(v));
  }
  try {
    await query(SQL, [...cols, policies.size ? [...policies][0] : null, Boolean(options.announcePolicyChanges)]);
  } catch (err) {
    if ((err as { code?: string }).code === "DP001") return false;
    throw err;
  }
  return true;
}

/** A certificate record as the columns of `certificates`, in their insert order. */
export function certValues(cert: CertificateRecord): unknown[] {
  return [
    cert.serial,
    cert.sha256,
    cert.issuerCaId,
    cert.subject,
    cert.commonName,
    JSON.stringify(cert.subjectAltNames),
    cert.notBefore.toISOString(),
    cert.notAfter.toISOString(),
    cert.profile,
    cert.requester,
    cert.scope ?? null,
    cert.status,
    cert.revokedAt ? cert.revokedAt.toISOString() : null,
    cert.revocationReason,
    Buffer.from(cert.der.buffer, cert.der.byteOffset, cert.der.byteLength),
    cert.createdAt.toISOString(),
  ];
}
