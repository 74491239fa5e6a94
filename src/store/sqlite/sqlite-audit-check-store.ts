import type Database from "better-sqlite3";
import type { AssignedRevoked, AuditCheckStore, EntryRef, KeyFacts, LiveCertificate, SharedKey } from "../audit-check-store.js";
import type { SqliteDb } from "./sqlite-db.js";

type Row = Record<string, unknown>;

const BATCH = 5_000;
/** Bound parameters per IN list, well under SQLite's limit of 32766. */
const IN_CHUNK = 500;

/** The audit checks' queries on SQLite. */
export class SqliteAuditCheckStore implements AuditCheckStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(private readonly sqlite: SqliteDb) {
    this.db = sqlite.db;
    this.stmts = {
      // Certificate ids only grow (rows are never deleted), so "after the last one with facts" is every certificate without.
      withoutFacts: this.db.prepare(
        `SELECT serial, der FROM certificates
         WHERE id > (SELECT coalesce(max(certificate_id), 0) FROM certificate_keys) ORDER BY id LIMIT ?`,
      ),
      recordFacts: this.db.prepare(
        `INSERT OR IGNORE INTO certificate_keys (certificate_id, spki_sha256, algorithm, rsa_bits)
         SELECT id, ?, ?, ? FROM certificates WHERE serial = ?`,
      ),
      live: this.db.prepare(
        `SELECT c.id, c.serial, c.profile, c.not_before, c.not_after, c.common_name, c.sans, k.spki_sha256, k.algorithm, k.rsa_bits
         FROM certificates c LEFT JOIN certificate_keys k ON k.certificate_id = c.id
         WHERE c.status = 'good' AND c.not_after > ? AND c.id > ? ORDER BY c.id LIMIT ?`,
      ),
      sharedCount: this.db.prepare(`SELECT count(*) AS n FROM (SELECT 1 ${SHARED} )`),
      shared: this.db.prepare(
        `SELECT k.spki_sha256 AS spki, group_concat(c.serial, ',' ORDER BY c.id) AS serials ${SHARED} ORDER BY min(c.id) LIMIT ?`,
      ),
      assignedRevokedCount: this.db.prepare(`SELECT count(*) AS n ${ASSIGNED_REVOKED}`),
      assignedRevoked: this.db.prepare(
        `SELECT r.id_scope, r.registration_id, r.assigned_hub, r.device_id, c.serial, c.revoked_at, c.revocation_reason
         ${ASSIGNED_REVOKED} ORDER BY c.revoked_at, r.id_scope, r.registration_id LIMIT ?`,
      ),
    };
  }

  async certificatesWithoutKeyFacts(limit: number): Promise<Array<{ serial: string; der: Uint8Array }>> {
    return (this.stmts.withoutFacts.all(limit) as Row[]).map((r) => ({ serial: r.serial as string, der: new Uint8Array(r.der as Buffer) }));
  }

  async recordKeyFacts(facts: Array<{ serial: string } & KeyFacts>): Promise<void> {
    this.sqlite.write(() => {
      for (const f of facts) this.stmts.recordFacts.run(f.spkiSha256, f.algorithm, f.rsaBits, f.serial);
    });
  }

  async *liveCertificates(now: Date): AsyncIterable<LiveCertificate[]> {
    let after = 0;
    for (;;) {
      const rows = this.stmts.live.all(now.toISOString(), after, BATCH) as Row[];
      if (rows.length === 0) return;
      yield rows.map(liveFromRow);
      after = rows[rows.length - 1]!.id as number;
      if (rows.length < BATCH) return;
    }
  }

  async sharedKeys(now: Date, limit: number): Promise<{ total: number; keys: SharedKey[] }> {
    const at = now.toISOString();
    const total = (this.stmts.sharedCount.get(at) as { n: number }).n;
    const keys = total === 0 ? [] : (this.stmts.shared.all(at, limit) as Row[]);
    return { total, keys: keys.map((r) => ({ spkiSha256: r.spki as string, serials: (r.serials as string).split(",") })) };
  }

  async assignedWithRevokedCertificate(limit: number): Promise<{ total: number; items: AssignedRevoked[] }> {
    const total = (this.stmts.assignedRevokedCount.get() as { n: number }).n;
    const rows = total === 0 ? [] : (this.stmts.assignedRevoked.all(limit) as Row[]);
    return {
      total,
      items: rows.map((r) => ({
        idScope: r.id_scope as string,
        registrationId: r.registration_id as string,
        assignedHub: (r.assigned_hub as string | null) ?? null,
        deviceId: (r.device_id as string | null) ?? null,
        serial: r.serial as string,
        revokedAt: new Date(r.revoked_at as string),
        revocationReason: (r.revocation_reason as string | null) ?? null,
      })),
    };
  }

  async entriesAboutSerials(serials: readonly string[]): Promise<EntryRef[]> {
    return this.inChunks(serials, (marks) => `SELECT ${ENTRY_REF} FROM audit_log WHERE serial IN (${marks})`, []);
  }

  async entriesAboutSubjects(actions: readonly string[], subjects: readonly string[]): Promise<EntryRef[]> {
    const actionMarks = actions.map(() => "?").join(", ");
    return this.inChunks(
      subjects,
      (marks) => `SELECT ${ENTRY_REF} FROM audit_log WHERE action IN (${actionMarks}) AND subject COLLATE NOCASE IN (${marks})`,
      actions,
    );
  }

  async entriesByDetail(action: string, field: string, values: readonly string[]): Promise<Array<EntryRef & { value: string }>> {
    // The field is a name from the calling code, never from a request; checked so it stays a plain JSON path.
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(field)) throw new RangeError(`Not a details field name: ${field}`);
    const path = `json_extract(details, '$.${field}')`;
    const rows = this.rowsInChunks(
      values,
      (marks) => `SELECT ${ENTRY_REF}, ${path} AS value FROM audit_log WHERE action = ? AND ${path} IN (${marks})`,
      [action],
    );
    return rows.map((r) => ({ ...entryRef(r), value: String(r.value) }));
  }

  private inChunks(values: readonly string[], sql: (marks: string) => string, leading: readonly string[]): EntryRef[] {
    return this.rowsInChunks(values, sql, leading).map(entryRef);
  }

  private rowsInChunks(values: readonly string[], sql: (marks: string) => string, leading: readonly string[]): Row[] {
    const out: Row[] = [];
    for (let i = 0; i < values.length; i += IN_CHUNK) {
      const chunk = values.slice(i, i + IN_CHUNK);
      out.push(...(this.db.prepare(sql(chunk.map(() => "?").join(", "))).all(...leading, ...chunk) as Row[]));
    }
    return out.sort((a, b) => (a.seq as number) - (b.seq as number));
  }
}

/** Keys of more than one good, unexpired certificate, those on their way out by a renewal left aside. */
const SHARED = `FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id
  WHERE k.spki_sha256 IS NOT NULL AND c.status = 'good' AND c.not_after > ?
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
    notBefore: new Date(r.not_before as string),
    notAfter: new Date(r.not_after as string),
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
