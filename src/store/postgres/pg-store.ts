import { AppError } from "../../errors.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { isUniqueViolation, type PgDb, type PgTx } from "./pg-db.js";
import { certValues, insertCertificatesChained } from "./pg-chained-insert.js";
import { FEED_ACTIONS } from "../hub-feed-actions.js";
import type { RevocationReason } from "../../../ca/revocation-reason.js";
import type { AuditFilter, CertificateFilter, Page, PageRequest, Store } from "../store.js";
import {
  REFUSAL_ACTIONS,
  type AuditEntry,
  type AuditInput,
  type CaRecord,
  type CertificateRecord,
  type CrlRecord,
  type RevokedSerial,
} from "../records.js";

type Row = Record<string, unknown>;

const BATCH = 10_000;

const CERT_COLUMNS =
  "serial, sha256, issuer_ca_id, subject, common_name, sans, not_before, not_after, profile, requester, scope, status, revoked_at, revocation_reason, der, created_at";

/** The CA, certificate, CRL and audit-log store on PostgreSQL. */
export class PgStore implements Store {
  constructor(private readonly pg: PgDb) {}

  async probe(): Promise<void> {
    await this.pg.probe();
  }

  async close(): Promise<void> {
    await this.pg.close();
  }

  async listCas(): Promise<CaRecord[]> {
    const rows = await this.pg.query("SELECT * FROM cas ORDER BY created_at, CASE kind WHEN 'root' THEN 0 ELSE 1 END, id");
    return rows.map(caFromRow);
  }

  async insertCas(cas: CaRecord[], audit: AuditInput[]): Promise<void> {
    await this.pg.write(async (tx) => {
      for (const ca of cas) await insertCa(tx, ca);
      for (const entry of audit) tx.audit(entry);
      tx.changed("ca");
    });
  }

  async activateCa(id: string, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      if ((await tx.query("SELECT id FROM cas WHERE id = $1", [id])).length === 0) throw new AppError("not_found", `No CA with id ${id}`);
      await activate(tx, id);
      tx.audit(audit);
      tx.changed("ca");
    });
  }

  async insertCertificates(items: Array<{ cert: CertificateRecord; audit: AuditInput }>): Promise<void> {
    if (items.length === 0) return;
    try {
      // Entries the hub feed follows need it in their transaction; issuance entries (all there are in practice) do not.
      const chained =
        !items.some(({ audit }) => FEED_ACTIONS.has(audit.action)) &&
        (await insertCertificatesChained(this.pg.query.bind(this.pg), items, this.pg.appendOptions));
      if (!chained) {
        await this.pg.write(async (tx) => {
          const cols: unknown[][] = Array.from({ length: 16 }, () => []);
          for (const { cert } of items) certValues(cert).forEach((v, i) => cols[i]!.push(v));
          await tx.query(
            `INSERT INTO certificates (${CERT_COLUMNS})
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
               $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[], $15::bytea[],
               $16::timestamptz[])`,
            cols,
          );
          for (const { audit } of items) tx.audit(audit);
        });
      }
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "Serial number or thumbprint already in use");
      throw err;
    }
  }

  async getCertificate(key: { serial: string } | { sha256: string }): Promise<CertificateRecord | null> {
    const rows =
      "serial" in key
        ? await this.pg.query("SELECT * FROM certificates WHERE serial = $1", [key.serial])
        : await this.pg.query("SELECT * FROM certificates WHERE sha256 = $1", [key.sha256]);
    return rows[0] ? certFromRow(rows[0]) : null;
  }

  async listCertificates(filter: CertificateFilter, page: PageRequest, now: Date): Promise<Page<CertificateRecord>> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => (args.push(v), `$${args.length}`);
    if (filter.status === "revoked") where.push("status = 'revoked'");
    if (filter.status === "good") where.push("status = 'good'", `not_after > ${arg(now)}`);
    if (filter.status === "expired") where.push("status = 'good'", `not_after <= ${arg(now)}`);
    if (filter.subject) where.push(`strpos(lower(subject), lower(${arg(filter.subject)})) > 0`);
    if (filter.profile) where.push(`profile = ${arg(filter.profile)}`);
    if (filter.issuerCaId) where.push(`issuer_ca_id = ${arg(filter.issuerCaId)}`);
    if (filter.scope) where.push(`lower(scope) = lower(${arg(filter.scope)})`);
    if (filter.expiringBefore) where.push("status = 'good'", `not_after > ${arg(now)}`, `not_after <= ${arg(filter.expiringBefore)}`);
    if (page.after) where.push(`id > ${arg(decodeCursor(page.after))}`);
    const sql = `SELECT * FROM certificates ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id LIMIT ${arg(page.limit + 1)}`;
    const rows = await this.pg.query(sql, args);
    const more = rows.length > page.limit;
    const items = rows.slice(0, page.limit);
    return { items: items.map(certFromRow), nextCursor: more ? encodeCursor(items[items.length - 1]!.id as number) : null };
  }

  async revokeCertificate(serial: string, reason: RevocationReason, at: Date, audit: AuditInput): Promise<CertificateRecord> {
    const { result } = await this.pg.write(async (tx) => {
      // The row lock of the UPDATE orders racing revocations: the second sees it revoked.
      const [row] = await tx.query(
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND status = 'good' RETURNING *",
        [at, reason, serial],
      );
      if (!row) {
        const [existing] = await tx.query("SELECT revoked_at, revocation_reason FROM certificates WHERE serial = $1", [serial]);
        if (!existing) throw new AppError("not_found", `No certificate with serial ${serial}`);
        const revokedAt = (existing.revoked_at as Date | null)?.toISOString() ?? null;
        throw new AppError("already_revoked", `Certificate ${serial} was already revoked at ${revokedAt} (${existing.revocation_reason})`, {
          revokedAt,
          reason: existing.revocation_reason,
        });
      }
      tx.audit(audit);
      tx.changed("revocation");
      return certFromRow(row);
    });
    return result;
  }

  async *revokedSerials(issuerCaId: string): AsyncIterable<RevokedSerial[]> {
    let after = "";
    for (;;) {
      const rows = await this.pg.query<{ serial: string; revoked_at: Date; revocation_reason: string | null }>(
        'SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer_ca_id = $1 AND status = \'revoked\' AND serial COLLATE "C" > $2 ORDER BY serial COLLATE "C" LIMIT $3',
        [issuerCaId, after, BATCH],
      );
      if (rows.length === 0) return;
      yield rows.map((r) => ({ serial: r.serial, revokedAt: r.revoked_at, reason: r.revocation_reason as RevocationReason | null }));
      after = rows[rows.length - 1]!.serial;
      if (rows.length < BATCH) return;
    }
  }

  async countCertificates(): Promise<number> {
    return (await this.pg.query<{ n: number }>("SELECT count(*) AS n FROM certificates"))[0]!.n;
  }

  async countRevoked(issuerCaId: string): Promise<number> {
    const rows = await this.pg.query<{ n: number }>(
      "SELECT count(*) AS n FROM certificates WHERE issuer_ca_id = $1 AND status = 'revoked'",
      [issuerCaId],
    );
    return rows[0]!.n;
  }

  async latestCrlNumber(issuerCaId: string): Promise<bigint | null> {
    const [row] = await this.pg.query<{ n: string | null }>("SELECT max(number)::text AS n FROM crls WHERE issuer_ca_id = $1", [
      issuerCaId,
    ]);
    return row?.n == null ? null : BigInt(row.n);
  }

  async latestCrl(issuerCaId: string): Promise<CrlRecord | null> {
    const [row] = await this.pg.query(
      "SELECT issuer_ca_id, number::text AS number, this_update, next_update, entries, der FROM crls WHERE issuer_ca_id = $1 ORDER BY crls.number DESC LIMIT 1",
      [issuerCaId],
    );
    return row
      ? {
          issuerCaId: row.issuer_ca_id as string,
          number: BigInt(row.number as string),
          thisUpdate: row.this_update as Date,
          nextUpdate: row.next_update as Date,
          entries: row.entries as number,
          der: new Uint8Array(row.der as Buffer),
        }
      : null;
  }

  async insertCrl(crl: CrlRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        // One publisher per issuer at a time, across nodes: a lower number can never commit after a higher one.
        await tx.query("SELECT pg_advisory_xact_lock(hashtext('dpki-crl:' || $1))", [crl.issuerCaId]);
        const [latest] = await tx.query<{ n: string | null }>("SELECT max(number)::text AS n FROM crls WHERE issuer_ca_id = $1", [
          crl.issuerCaId,
        ]);
        if (latest?.n != null && BigInt(latest.n) >= crl.number) {
          throw new AppError("conflict", `CRL number ${crl.number} is not above the latest (${latest.n})`);
        }
        await tx.query("INSERT INTO crls (issuer_ca_id, number, this_update, next_update, entries, der) VALUES ($1, $2, $3, $4, $5, $6)", [
          crl.issuerCaId,
          crl.number.toString(),
          crl.thisUpdate,
          crl.nextUpdate,
          crl.entries,
          Buffer.from(crl.der),
        ]);
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", `CRL number ${crl.number} exists already`);
      throw err;
    }
  }

  async listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => (args.push(v), `$${args.length}`);
    if (filter.since) where.push(`at >= ${arg(filter.since)}`);
    if (filter.serial) where.push(`serial = ${arg(filter.serial)}`);
    if (filter.action) where.push(`action = ${arg(filter.action)}`);
    if (filter.actor) where.push(`actor = ${arg(filter.actor)}`);
    if (filter.refusals) where.push(`action = ANY(${arg([...REFUSAL_ACTIONS])}::text[])`);
    if (filter.text) {
      where.push(
        `strpos(lower(coalesce(subject, '') || ' ' || actor || ' ' || action || ' ' || coalesce(serial, '') || ' ' || details), ${arg(filter.text.toLowerCase())}) > 0`,
      );
    }
    if (filter.scope) {
      const scope = arg(filter.scope);
      where.push(
        `((id_scope IS NOT NULL AND lower(id_scope) = lower(${scope})) OR serial IN (SELECT serial FROM certificates WHERE lower(scope) = lower(${scope})))`,
      );
    }
    const newest = filter.order === "newest";
    if (page.after) where.push(`seq ${newest ? "<" : ">"} ${arg(decodeCursor(page.after))}`);
    const sql = `SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq ${newest ? "DESC" : ""} LIMIT ${arg(page.limit + 1)}`;
    const rows = await this.pg.query(sql, args);
    const more = rows.length > page.limit;
    const items = rows.slice(0, page.limit).map(auditFromRow);
    return { items, nextCursor: more ? encodeCursor(items[items.length - 1]!.seq) : null };
  }

  async *auditEntries(afterSeq = 0): AsyncIterable<AuditEntry[]> {
    let after = afterSeq;
    for (;;) {
      const rows = await this.pg.query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", [after, BATCH]);
      if (rows.length === 0) return;
      const entries = rows.map(auditFromRow);
      yield entries;
      after = entries[entries.length - 1]!.seq;
      if (rows.length < BATCH) return;
    }
  }

  async appendAudit(audit: AuditInput): Promise<AuditEntry> {
    const { entries } = await this.pg.write(async (tx) => tx.audit(audit));
    // The caller's entry is the last: a policy change, when there is one, goes before it.
    return entries[entries.length - 1]!;
  }
}

export async function insertCa(tx: PgTx, ca: CaRecord): Promise<void> {
  await tx.query(
    `INSERT INTO cas (id, kind, parent_id, key_ref, key_algorithm, cert_der, subject, subject_key_id, not_before, not_after, status, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      ca.id,
      ca.kind,
      ca.parentId,
      ca.keyRef,
      ca.keyAlgorithm,
      Buffer.from(ca.certDer),
      ca.subject,
      ca.subjectKeyId,
      ca.notBefore,
      ca.notAfter,
      ca.status,
      ca.createdAt,
    ],
  );
}

/** Makes one intermediate the active issuer and retires every other. */
export async function activate(tx: PgTx, id: string): Promise<void> {
  await tx.query("UPDATE cas SET status = 'retired' WHERE kind = 'intermediate' AND id <> $1 AND status <> 'retired'", [id]);
  await tx.query("UPDATE cas SET status = 'active' WHERE id = $1", [id]);
}

function caFromRow(row: Row): CaRecord {
  return {
    id: row.id as string,
    kind: row.kind as CaRecord["kind"],
    parentId: (row.parent_id as string | null) ?? null,
    keyRef: row.key_ref as string,
    keyAlgorithm: row.key_algorithm as string,
    certDer: new Uint8Array(row.cert_der as Buffer),
    subject: row.subject as string,
    subjectKeyId: row.subject_key_id as string,
    notBefore: row.not_before as Date,
    notAfter: row.not_after as Date,
    status: row.status as CaRecord["status"],
    createdAt: row.created_at as Date,
  };
}

export function certFromRow(row: Row): CertificateRecord {
  return {
    serial: row.serial as string,
    sha256: row.sha256 as string,
    issuerCaId: row.issuer_ca_id as string,
    subject: row.subject as string,
    commonName: (row.common_name as string | null) ?? null,
    subjectAltNames: JSON.parse(row.sans as string) as string[],
    notBefore: row.not_before as Date,
    notAfter: row.not_after as Date,
    profile: row.profile as string,
    requester: row.requester as string,
    scope: (row.scope as string | null) ?? null,
    status: row.status as CertificateRecord["status"],
    revokedAt: (row.revoked_at as Date | null) ?? null,
    revocationReason: (row.revocation_reason as RevocationReason | null) ?? null,
    der: new Uint8Array(row.der as Buffer),
    createdAt: row.created_at as Date,
  };
}

export function auditFromRow(row: Row): AuditEntry {
  return {
    seq: row.seq as number,
    at: row.at as Date,
    actor: row.actor as string,
    action: row.action as string,
    subject: (row.subject as string | null) ?? null,
    serial: (row.serial as string | null) ?? null,
    profile: (row.profile as string | null) ?? null,
    policyHash: (row.policy_hash as string | null) ?? null,
    details: JSON.parse(row.details as string) as Record<string, unknown>,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  };
}
