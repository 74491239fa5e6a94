import Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";
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

/** The CA, certificate, CRL and audit-log store on SQLite. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(private readonly sqlite: SqliteDb) {
    this.db = sqlite.db;
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      listCas: db.prepare("SELECT * FROM cas ORDER BY created_at, CASE kind WHEN 'root' THEN 0 ELSE 1 END, id"),
      insertCa: db.prepare(
        `INSERT INTO cas (id, kind, parent_id, key_ref, key_algorithm, cert_der, subject, subject_key_id, not_before, not_after, status, created_at)
         VALUES (@id, @kind, @parentId, @keyRef, @keyAlgorithm, @certDer, @subject, @subjectKeyId, @notBefore, @notAfter, @status, @createdAt)`,
      ),
      getCa: db.prepare("SELECT id FROM cas WHERE id = ?"),
      retireIntermediates: db.prepare("UPDATE cas SET status = 'retired' WHERE kind = 'intermediate' AND id <> ?"),
      activateCa: db.prepare("UPDATE cas SET status = 'active' WHERE id = ?"),
      insertCert: db.prepare(
        `INSERT INTO certificates (serial, sha256, issuer_ca_id, subject, common_name, sans, not_before, not_after, profile, requester, scope, status, revoked_at, revocation_reason, der, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      certBySerial: db.prepare("SELECT * FROM certificates WHERE serial = ?"),
      certBySha: db.prepare("SELECT * FROM certificates WHERE sha256 = ?"),
      revoke: db.prepare(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'good'",
      ),
      revokedPage: db.prepare(
        "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer_ca_id = ? AND status = 'revoked' AND serial > ? ORDER BY serial LIMIT ?",
      ),
      countCerts: db.prepare("SELECT count(*) AS n FROM certificates"),
      countRevoked: db.prepare("SELECT count(*) AS n FROM certificates WHERE issuer_ca_id = ? AND status = 'revoked'"),
      latestCrl: db.prepare("SELECT * FROM crls WHERE issuer_ca_id = ? ORDER BY number DESC LIMIT 1"),
      latestCrlNumber: db.prepare("SELECT max(number) AS n FROM crls WHERE issuer_ca_id = ?"),
      insertCrl: db.prepare("INSERT INTO crls (issuer_ca_id, number, this_update, next_update, entries, der) VALUES (?, ?, ?, ?, ?, ?)"),
      auditPage: db.prepare("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"),
    };
  }

  async probe(): Promise<void> {
    this.sqlite.probe();
  }

  async close(): Promise<void> {
    this.sqlite.close();
  }

  async listCas(): Promise<CaRecord[]> {
    return (this.stmts.listCas.all() as Row[]).map(caFromRow);
  }

  async insertCas(cas: CaRecord[], audit: AuditInput[]): Promise<void> {
    this.sqlite.write(() => {
      for (const ca of cas) {
        this.stmts.insertCa.run({
          ...ca,
          certDer: Buffer.from(ca.certDer),
          notBefore: iso(ca.notBefore),
          notAfter: iso(ca.notAfter),
          createdAt: iso(ca.createdAt),
        });
      }
      for (const entry of audit) this.sqlite.appendAudit(entry);
    });
  }

  async activateCa(id: string, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      if (!this.stmts.getCa.get(id)) throw new AppError("not_found", `No CA with id ${id}`);
      this.stmts.retireIntermediates.run(id);
      this.stmts.activateCa.run(id);
      this.sqlite.appendAudit(audit);
    });
  }

  async insertCertificates(items: Array<{ cert: CertificateRecord; audit: AuditInput }>): Promise<void> {
    try {
      this.sqlite.write(() => {
        for (const { cert, audit } of items) {
          this.insertCertificate(cert);
          this.sqlite.appendAudit(audit);
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "Serial number or thumbprint already in use");
      throw err;
    }
  }

  /** Positional binding: a certificate batch is the hottest write, and named binding looks up each key. */
  private insertCertificate(cert: CertificateRecord): void {
    this.stmts.insertCert.run(
      cert.serial,
      cert.sha256,
      cert.issuerCaId,
      cert.subject,
      cert.commonName,
      JSON.stringify(cert.subjectAltNames),
      iso(cert.notBefore),
      iso(cert.notAfter),
      cert.profile,
      cert.requester,
      cert.scope ?? null,
      cert.status,
      cert.revokedAt ? iso(cert.revokedAt) : null,
      cert.revocationReason,
      Buffer.from(cert.der.buffer, cert.der.byteOffset, cert.der.byteLength),
      iso(cert.createdAt),
    );
  }

  async getCertificate(key: { serial: string } | { sha256: string }): Promise<CertificateRecord | null> {
    const row = ("serial" in key ? this.stmts.certBySerial.get(key.serial) : this.stmts.certBySha.get(key.sha256)) as Row | undefined;
    return row ? certFromRow(row) : null;
  }

  async listCertificates(filter: CertificateFilter, page: PageRequest, now: Date): Promise<Page<CertificateRecord>> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status === "revoked") where.push("status = 'revoked'");
    if (filter.status === "good") (where.push("status = 'good'", "not_after > ?"), args.push(iso(now)));
    if (filter.status === "expired") (where.push("status = 'good'", "not_after <= ?"), args.push(iso(now)));
    if (filter.subject) (where.push("instr(lower(subject), lower(?)) > 0"), args.push(filter.subject));
    if (filter.profile) (where.push("profile = ?"), args.push(filter.profile));
    if (filter.issuerCaId) (where.push("issuer_ca_id = ?"), args.push(filter.issuerCaId));
    if (filter.scope) (where.push("scope = ? COLLATE NOCASE"), args.push(filter.scope));
    if (filter.expiringBefore) {
      where.push("status = 'good'", "not_after > ?", "not_after <= ?");
      args.push(iso(now), iso(filter.expiringBefore));
    }
    if (page.after) (where.push("id > ?"), args.push(decodeCursor(page.after)));
    const sql = `SELECT * FROM certificates ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, page.limit + 1) as Row[];
    const more = rows.length > page.limit;
    const items = rows.slice(0, page.limit);
    return {
      items: items.map(certFromRow),
      nextCursor: more ? encodeCursor(items[items.length - 1]!.id as number) : null,
    };
  }

  async revokeCertificate(serial: string, reason: RevocationReason, at: Date, audit: AuditInput): Promise<CertificateRecord> {
    return this.sqlite.write(() => {
      const row = this.stmts.certBySerial.get(serial) as Row | undefined;
      if (!row) throw new AppError("not_found", `No certificate with serial ${serial}`);
      if (row.status === "revoked") {
        throw new AppError("already_revoked", `Certificate ${serial} was already revoked at ${row.revoked_at} (${row.revocation_reason})`, {
          revokedAt: row.revoked_at,
          reason: row.revocation_reason,
        });
      }
      this.stmts.revoke.run(iso(at), reason, serial);
      this.sqlite.appendAudit(audit);
      return certFromRow(this.stmts.certBySerial.get(serial) as Row);
    });
  }

  async *revokedSerials(issuerCaId: string): AsyncIterable<RevokedSerial[]> {
    let after = "";
    for (;;) {
      const rows = this.stmts.revokedPage.raw(true).all(issuerCaId, after, BATCH) as Array<[string, string, string | null]>;
      if (rows.length === 0) return;
      yield rows.map(([serial, revokedAt, reason]) => ({
        serial,
        revokedAt: new Date(revokedAt),
        reason: reason as RevocationReason | null,
      }));
      after = rows[rows.length - 1]![0];
      if (rows.length < BATCH) return;
    }
  }

  async countCertificates(): Promise<number> {
    return (this.stmts.countCerts.get() as { n: number }).n;
  }

  async countRevoked(issuerCaId: string): Promise<number> {
    return (this.stmts.countRevoked.get(issuerCaId) as { n: number }).n;
  }

  async latestCrlNumber(issuerCaId: string): Promise<bigint | null> {
    const n = (this.stmts.latestCrlNumber.get(issuerCaId) as { n: number | null }).n;
    return n === null ? null : BigInt(n);
  }

  async latestCrl(issuerCaId: string): Promise<CrlRecord | null> {
    const row = this.stmts.latestCrl.get(issuerCaId) as Row | undefined;
    return row
      ? {
          issuerCaId: row.issuer_ca_id as string,
          number: BigInt(row.number as number),
          thisUpdate: new Date(row.this_update as string),
          nextUpdate: new Date(row.next_update as string),
          entries: row.entries as number,
          der: new Uint8Array(row.der as Buffer),
        }
      : null;
  }

  async insertCrl(crl: CrlRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      const latest = this.stmts.latestCrl.get(crl.issuerCaId) as Row | undefined;
      if (latest && BigInt(latest.number as number) >= crl.number) {
        throw new AppError("conflict", `CRL number ${crl.number} is not above the latest (${latest.number})`);
      }
      this.stmts.insertCrl.run(
        crl.issuerCaId,
        Number(crl.number),
        iso(crl.thisUpdate),
        iso(crl.nextUpdate),
        crl.entries,
        Buffer.from(crl.der),
      );
      this.sqlite.appendAudit(audit);
    });
  }

  async listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.since) (where.push("at >= ?"), args.push(iso(filter.since)));
    if (filter.serial) (where.push("serial = ?"), args.push(filter.serial));
    if (filter.action) (where.push("action = ?"), args.push(filter.action));
    if (filter.actor) (where.push("actor = ?"), args.push(filter.actor));
    if (filter.refusals) (where.push(`action IN (${REFUSAL_ACTIONS.map(() => "?").join(", ")})`), args.push(...REFUSAL_ACTIONS));
    if (filter.text) {
      where.push(
        "instr(lower(coalesce(subject, '') || ' ' || actor || ' ' || action || ' ' || coalesce(serial, '') || ' ' || details), ?) > 0",
      );
      args.push(filter.text.toLowerCase());
    }
    if (filter.scope) {
      where.push(
        "(json_extract(details, '$.idScope') = ? COLLATE NOCASE OR serial IN (SELECT serial FROM certificates WHERE scope = ? COLLATE NOCASE))",
      );
      args.push(filter.scope, filter.scope);
    }
    const newest = filter.order === "newest";
    if (page.after) (where.push(newest ? "seq < ?" : "seq > ?"), args.push(decodeCursor(page.after)));
    const sql = `SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq ${newest ? "DESC" : ""} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, page.limit + 1) as Row[];
    const more = rows.length > page.limit;
    const items = rows.slice(0, page.limit).map(auditFromRow);
    return { items, nextCursor: more ? encodeCursor(items[items.length - 1]!.seq) : null };
  }

  async *auditEntries(afterSeq = 0): AsyncIterable<AuditEntry[]> {
    let after = afterSeq;
    for (;;) {
      const rows = this.stmts.auditPage.all(after, BATCH) as Row[];
      if (rows.length === 0) return;
      const entries = rows.map(auditFromRow);
      yield entries;
      after = entries[entries.length - 1]!.seq;
      if (rows.length < BATCH) return;
    }
  }

  async appendAudit(audit: AuditInput): Promise<AuditEntry> {
    return this.sqlite.write(() => this.sqlite.appendAudit(audit));
  }
}

function iso(d: Date): string {
  return d.toISOString();
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
    notBefore: new Date(row.not_before as string),
    notAfter: new Date(row.not_after as string),
    status: row.status as CaRecord["status"],
    createdAt: new Date(row.created_at as string),
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
    notBefore: new Date(row.not_before as string),
    notAfter: new Date(row.not_after as string),
    profile: row.profile as string,
    requester: row.requester as string,
    scope: (row.scope as string | null) ?? null,
    status: row.status as CertificateRecord["status"],
    revokedAt: row.revoked_at ? new Date(row.revoked_at as string) : null,
    revocationReason: (row.revocation_reason as RevocationReason | null) ?? null,
    der: new Uint8Array(row.der as Buffer),
    createdAt: new Date(row.created_at as string),
  };
}

function auditFromRow(row: Row): AuditEntry {
  return {
    seq: row.seq as number,
    at: new Date(row.at as string),
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
