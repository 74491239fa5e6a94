import type { AssignedRevoked, AuditCheckStore, EntryRef, KeyFacts, LiveCertificate, SharedKey } from "../audit-check-store.js";
import type { PgDb } from "./pg-db.js";

type Row = Record<string, unknown>;

const BATCH = 5_000;
/** How far below the highest certificate id with key facts a certificate may still commit late. */
const LATE_COMMITS = 100_000;

/** The audit checks' queries on PostgreSQL (migration 0013-certificate-keys). */
export class PgAuditCheckStore implements AuditCheckStore {
  constructor(private readonly pg: PgDb) {}

  async certificatesWithoutKeyFacts(limit: number): Promise<Array<{ serial: string; der: Uint8Array }>> {
    // Ids are given out before commit, so with several writers a lower one can commit after a
    // higher one got its facts: the ids just below the highest with facts are looked at again
    // (far more than the certificates in flight at once), the rest of the table not.
    const rows = await this.pg.query<{ serial: string; der: Buffer }>(
      `SELECT c.serial, c.der FROM certificates c
       WHERE c.id > (SELECT coalesce(max(certificate_id), 0) - ${LATE_COMMITS} FROM certificate_keys)
         AND NOT EXISTS (SELECT 1 FROM certificate_keys k WHERE k.certificate_id = c.id)
       ORDER BY c.id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ serial: r.serial, der: new Uint8Array(r.der) }));
  }

  async recordKeyFacts(facts: Array<{ serial: string } & KeyFacts>): Promise<void> {
    if (facts.length === 0) return;
    await this.pg.query(
      `INSERT INTO certificate_keys (certificate_id, spki_sha256, algorithm, rsa_bits)
       SELECT c.id, f.spki, f.algorithm, f.bits
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS f(serial, spki, algorithm, bits)
       JOIN certificates c ON c.serial = f.serial
       ON CONFLICT (certificate_id) DO NOTHING`,
      [facts.map((f) => f.serial), facts.map((f) => f.spkiSha256), facts.map((f) => f.algorithm), facts.map((f) => f.rsaBits)],
    );
  }

  async *liveCertificates(now: Date): AsyncIterable<LiveCertificate[]> {
    let after = 0;
    for (;;) {
      const rows = await this.pg.query(
        `SELECT c.id, c.serial, c.profile, c.not_before, c.not_after, c.common_name, c.sans, k.spki_sha256, k.algorithm, k.rsa_bits
         FROM certificates c LEFT JOIN certificate_keys k ON k.certificate_id = c.id
         WHERE c.status = 'good' AND c.not_after > $1 AND c.id > $2 ORDER BY c.id LIMIT $3`,
        [now, after, BATCH],
      );
      if (rows.length === 0) return;
      yield rows.map(liveFromRow);
      after = rows[rows.length - 1]!.id as number;
      if (rows.length < BATCH) return;
    }
  }

  async sharedKeys(now: Date, limit: number): Promise<{ total: number; keys: SharedKey[] }> {
    const [count] = await this.pg.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 ${SHARED}) shared`, [now]);
    const total = count!.n;
    const rows =
      total === 0
        ? []
        : await this.pg.query<{ spki: string; serials: string[] }>(
            `SELECT k.spki_sha256 AS spki, array_agg(c.serial ORDER BY c.id) AS serials ${SHARED} ORDER BY min(c.id) LIMIT $2`,
            [now, limit],
          );
    return { total, keys: rows.map((r) => ({ spkiSha256: r.spki, serials: r.serials })) };
  }

  async assignedWithRevokedCertificate(limit: number): Promise<{ total: number; items: AssignedRevoked[] }> {
    const [count] = await this.pg.query<{ n: number }>(`SELECT count(*) AS n ${ASSIGNED_REVOKED}`);
    const total = count!.n;
    const rows =
      total === 0
        ? []
        : await this.pg.query(
            `SELECT r.id_scope, r.registration_id, r.assigned_hub, r.device_id, c.serial, c.revoked_at, c.revocation_reason
             ${ASSIGNED_REVOKED} ORDER BY c.revoked_at, r.id_scope, r.registration_id LIMIT $1`,
            [limit],
          );
    return {
      total,
      items: rows.map((r) => ({
        idScope: r.id_scope as string,
        registrationId: r.registration_id as string,
        assignedHub: (r.assigned_hub as string | null) ?? null,
        deviceId: (r.device_id as string | null) ?? null,
        serial: r.serial as string,
        revokedAt: r.revoked_at as Date,
        revocationReason: (r.revocation_reason as string | null) ?? null,
      })),
    };
  }

  async entriesAboutSerials(serials: readonly string[]): Promise<EntryRef[]> {
    if (serials.length === 0) return [];
    const rows = await this.pg.query(`SELECT ${ENTRY_REF} FROM audit_log WHERE serial = ANY($1::text[]) ORDER BY seq`, [[...serials]]);
    return rows.map(entryRef);
  }

  async entriesAboutSubjects(actions: readonly string[], subjects: readonly string[]): Promise<EntryRef[]> {
    if (subjects.length === 0 || actions.length === 0) return [];
    const rows = await this.pg.query(
      `SELECT ${ENTRY_REF} FROM audit_log
       WHERE action = ANY($1::text[]) AND lower(subject) = ANY(SELECT lower(s) FROM unnest($2::text[]) s) ORDER BY seq`,
      [[...actions], [...subjects]],
    );
    return rows.map(entryRef);
  }

  async entriesByDetail(action: string, field: string, values: readonly string[]): Promise<Array<EntryRef & { value: string }>> {
    // The field is a name from the calling code, never from a request; checked so it stays a plain JSON key.
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(field)) throw new RangeError(`Not a details field name: ${field}`);
    if (values.length === 0) return [];
    // details is the JSON text as written; read as json (not jsonb, which refuses an escaped NUL).
    const rows = await this.pg.query(
      `SELECT ${ENTRY_REF}, details::json ->> $2 AS value FROM audit_log
       WHERE action = $1 AND details::json ->> $2 = ANY($3::text[]) ORDER BY seq`,
      [action, field, [...values]],
    );
    return rows.map((r) => ({ ...entryRef(r), value: String(r.value) }));
  }
}

/** Keys of more than one good, unexpired certificate, those on their way out by a renewal left aside. */
const SHARED = `FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id
  WHERE k.spki_sha256 IS NOT NULL AND c.status = 'good' AND c.not_after > $1
    AND NOT EXISTS (SELECT 1 FROM certificate_supersessions s WHERE s.old_serial = c.serial AND s.done_at IS NULL)
  GROUP BY k.spki_sha256 HAVING count(*) > 1`;

/** Registrations whose latest registration certificate is revoked, a renewal's superseded predecessor excepted. */
const ASSIGNED_REVOKED = `FROM dps_registrations r JOIN certificates c ON c.serial = r.issued_serial
  WHERE r.status = 'assigned' AND c.status = 'revoked'
    AND NOT (c.revocation_reason = 'superseded' AND EXISTS (SELECT 1 FROM certificate_supersessions s WHERE s.old_serial = c.serial))`;

const ENTRY_REF = "seq, action, serial, subject";

function entryRef(r: Row): EntryRef {
  return {
    seq: r.seq as number,
    action: r.action as string,
    serial: (r.serial as string | null) ?? null,
    subject: (r.subject as string | null) ?? null,
  };
}

function liveFromRow(r: Row): LiveCertificate {
  return {
    serial: r.serial as string,
    profile: r.profile as string,
    notBefore: r.not_before as Date,
    notAfter: r.not_after as Date,
    commonName: (r.common_name as string | null) ?? null,
    subjectAltNames: JSON.parse(r.sans as string) as string[],
    key:
      r.algorithm === null
        ? null
        : {
            spkiSha256: (r.spki_sha256 as string | null) ?? null,
            algorithm: r.algorithm as string,
            rsaBits: (r.rsa_bits as number | null) ?? null,
          },
  };
}
