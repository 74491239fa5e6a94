import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import type { RevocationReason } from "../../../ca/revocation-reason.js";
import type { AuditInput, CertificateRecord } from "../records.js";
import type {
  CaRevocationRecord,
  CaRotation,
  CrossCertificateRecord,
  LifecycleStore,
  OcspSignerRecord,
  SupersessionRecord,
} from "../lifecycle-store.js";
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";
import { certFromRow } from "./sqlite-store.js";

type Row = Record<string, unknown>;

/** Credential lifecycle state on the shared SQLite database (tables of migration 0004-lifecycle). */
export class SqliteLifecycleStore implements LifecycleStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(private readonly sqlite: SqliteDb) {
    this.db = sqlite.db;
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      insertCa: db.prepare(
        `INSERT INTO cas (id, kind, parent_id, key_ref, key_algorithm, cert_der, subject, subject_key_id, not_before, not_after, status, created_at)
         VALUES (@id, @kind, @parentId, @keyRef, @keyAlgorithm, @certDer, @subject, @subjectKeyId, @notBefore, @notAfter, @status, @createdAt)`,
      ),
      caById: db.prepare("SELECT id, kind FROM cas WHERE id = ?"),
      retireIntermediates: db.prepare("UPDATE cas SET status = 'retired' WHERE kind = 'intermediate' AND id <> ?"),
      activateCa: db.prepare("UPDATE cas SET status = 'active' WHERE id = ?"),
      insertCross: db.prepare(
        `INSERT INTO ca_cross_certificates (ca_id, issuer_ca_id, serial, cert_der, not_before, not_after, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      listCross: db.prepare("SELECT * FROM ca_cross_certificates ORDER BY created_at, serial"),
      lastExpiry: db.prepare("SELECT max(not_after) AS last FROM certificates WHERE issuer_ca_id = ?"),
      caRevocation: db.prepare("SELECT * FROM ca_revocations WHERE ca_id = ?"),
      insertCaRevocation: db.prepare("INSERT INTO ca_revocations (ca_id, revoked_at, reason, revoked_by) VALUES (?, ?, ?, ?)"),
      listCaRevocations: db.prepare("SELECT * FROM ca_revocations ORDER BY revoked_at"),
      goodOfIssuer: db.prepare(
        "SELECT serial, subject, sha256, profile FROM certificates WHERE issuer_ca_id = ? AND status = 'good' ORDER BY id",
      ),
      revokeCert: db.prepare(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'good'",
      ),
      certBySerial: db.prepare("SELECT * FROM certificates WHERE serial = ?"),
      insertSigner: db.prepare(
        `INSERT INTO ocsp_signers (serial, issuer_ca_id, key_ref, cert_der, not_before, not_after, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      latestSigner: db.prepare("SELECT * FROM ocsp_signers WHERE issuer_ca_id = ? ORDER BY not_after DESC, created_at DESC LIMIT 1"),
      upsertSupersession: db.prepare(
        `INSERT INTO certificate_supersessions (old_serial, new_serial, supersede_at, done_at, created_at) VALUES (?, ?, ?, NULL, ?)
         ON CONFLICT (old_serial) DO UPDATE SET new_serial = excluded.new_serial, supersede_at = excluded.supersede_at, created_at = excluded.created_at
         WHERE certificate_supersessions.done_at IS NULL`,
      ),
      supersession: db.prepare("SELECT * FROM certificate_supersessions WHERE old_serial = ?"),
      pendingSupersession: db.prepare("SELECT * FROM certificate_supersessions WHERE old_serial = ? AND done_at IS NULL"),
      dueSupersessions: db.prepare(
        "SELECT * FROM certificate_supersessions WHERE done_at IS NULL AND supersede_at <= ? ORDER BY supersede_at LIMIT ?",
      ),
      markDone: db.prepare("UPDATE certificate_supersessions SET done_at = ? WHERE old_serial = ? AND done_at IS NULL"),
    };
  }

  async rotateCa(rotation: CaRotation): Promise<void> {
    try {
      this.sqlite.write(() => {
        for (const ca of rotation.cas) {
          this.stmts.insertCa.run({
            ...ca,
            certDer: Buffer.from(ca.certDer),
            notBefore: ca.notBefore.toISOString(),
            notAfter: ca.notAfter.toISOString(),
            createdAt: ca.createdAt.toISOString(),
          });
        }
        for (const x of rotation.crossCertificates) {
          this.stmts.insertCross.run(
            x.caId,
            x.issuerCaId,
            x.serial,
            Buffer.from(x.certDer),
            x.notBefore.toISOString(),
            x.notAfter.toISOString(),
            x.createdAt.toISOString(),
          );
        }
        const target = this.stmts.caById.get(rotation.activate) as Row | undefined;
        if (!target || target.kind !== "intermediate") throw new AppError("not_found", `No intermediate CA with id ${rotation.activate}`);
        this.stmts.retireIntermediates.run(rotation.activate);
        this.stmts.activateCa.run(rotation.activate);
        for (const entry of rotation.audit) this.sqlite.appendAudit(entry);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "CA id or serial already in use");
      throw err;
    }
  }

  async listCrossCertificates(): Promise<CrossCertificateRecord[]> {
    return (this.stmts.listCross.all() as Row[]).map((row) => ({
      caId: row.ca_id as string,
      issuerCaId: row.issuer_ca_id as string,
      serial: row.serial as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: new Date(row.not_before as string),
      notAfter: new Date(row.not_after as string),
      createdAt: new Date(row.created_at as string),
    }));
  }

  async lastCertificateExpiry(issuerCaId: string): Promise<Date | null> {
    const row = this.stmts.lastExpiry.get(issuerCaId) as { last: string | null };
    return row.last ? new Date(row.last) : null;
  }

  async revokeCa(
    revocation: CaRevocationRecord,
    audit: AuditInput,
    certificateAudit: (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) => AuditInput,
  ): Promise<{ revoked: number }> {
    return this.sqlite.write(() => {
      const ca = this.stmts.caById.get(revocation.caId) as Row | undefined;
      if (!ca) throw new AppError("not_found", `No CA with id ${revocation.caId}`);
      const previous = this.stmts.caRevocation.get(revocation.caId) as Row | undefined;
      if (previous) {
        throw new AppError("already_revoked", `CA ${revocation.caId} was already revoked at ${previous.revoked_at} (${previous.reason})`, {
          revokedAt: previous.revoked_at,
          reason: previous.reason,
        });
      }
      this.stmts.insertCaRevocation.run(revocation.caId, revocation.revokedAt.toISOString(), revocation.reason, revocation.revokedBy);
      const at = revocation.revokedAt.toISOString();
      let revoked = 0;
      for (const cert of this.stmts.goodOfIssuer.all(revocation.caId) as Array<{
        serial: string;
        subject: string;
        sha256: string;
        profile: string;
      }>) {
        this.stmts.revokeCert.run(at, revocation.reason, cert.serial);
        this.sqlite.appendAudit(certificateAudit(cert));
        revoked++;
      }
      this.sqlite.appendAudit({ ...audit, details: { ...audit.details, certificatesRevoked: revoked } });
      return { revoked };
    });
  }

  async caRevocations(): Promise<CaRevocationRecord[]> {
    return (this.stmts.listCaRevocations.all() as Row[]).map((row) => ({
      caId: row.ca_id as string,
      revokedAt: new Date(row.revoked_at as string),
      reason: row.reason as RevocationReason,
      revokedBy: row.revoked_by as string,
    }));
  }

  async insertOcspSigner(signer: OcspSignerRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      this.stmts.insertSigner.run(
        signer.serial,
        signer.issuerCaId,
        signer.keyRef,
        Buffer.from(signer.certDer),
        signer.notBefore.toISOString(),
        signer.notAfter.toISOString(),
        signer.createdAt.toISOString(),
      );
      this.sqlite.appendAudit(audit);
    });
  }

  async latestOcspSigner(issuerCaId: string): Promise<OcspSignerRecord | null> {
    const row = this.stmts.latestSigner.get(issuerCaId) as Row | undefined;
    if (!row) return null;
    return {
      serial: row.serial as string,
      issuerCaId: row.issuer_ca_id as string,
      keyRef: row.key_ref as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: new Date(row.not_before as string),
      notAfter: new Date(row.not_after as string),
      createdAt: new Date(row.created_at as string),
    };
  }

  async scheduleSupersession(record: SupersessionRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      const existing = this.stmts.supersession.get(record.oldSerial) as Row | undefined;
      if (existing?.done_at) {
        throw new AppError("already_revoked", `Certificate ${record.oldSerial} was already superseded at ${existing.done_at}`);
      }
      this.stmts.upsertSupersession.run(
        record.oldSerial,
        record.newSerial,
        record.supersedeAt.toISOString(),
        record.createdAt.toISOString(),
      );
      this.sqlite.appendAudit(audit);
    });
  }

  async pendingSupersession(oldSerial: string): Promise<SupersessionRecord | null> {
    const row = this.stmts.pendingSupersession.get(oldSerial) as Row | undefined;
    return row ? supersessionFromRow(row) : null;
  }

  async dueSupersessions(now: Date, limit: number): Promise<SupersessionRecord[]> {
    return (this.stmts.dueSupersessions.all(now.toISOString(), limit) as Row[]).map(supersessionFromRow);
  }

  async completeSupersession(
    oldSerial: string,
    now: Date,
    audit: (cert: CertificateRecord) => AuditInput,
  ): Promise<CertificateRecord | null> {
    return this.sqlite.write(() => {
      const pending = this.stmts.pendingSupersession.get(oldSerial) as Row | undefined;
      if (!pending) return null;
      const supersedeAt = pending.supersede_at as string;
      if (supersedeAt > now.toISOString()) return null;
      this.stmts.markDone.run(now.toISOString(), oldSerial);
      const changed = this.stmts.revokeCert.run(supersedeAt, "superseded", oldSerial).changes;
      if (changed === 0) return null;
      const cert = certFromRow(this.stmts.certBySerial.get(oldSerial) as Row);
      this.sqlite.appendAudit(audit(cert));
      return cert;
    });
  }
}

function supersessionFromRow(row: Row): SupersessionRecord {
  return {
    oldSerial: row.old_serial as string,
    newSerial: row.new_serial as string,
    supersedeAt: new Date(row.supersede_at as string),
    doneAt: row.done_at ? new Date(row.done_at as string) : null,
    createdAt: new Date(row.created_at as string),
  };
}
