import type { RevocationReason } from "../../../ca/revocation-reason.js";
import type { AuditFilter, CertificateFilter, PageRequest, Store } from "../store.js";
import type { AuditInput, CaRecord, CertificateRecord, CrlRecord } from "../records.js";
import type { SqliteWriter } from "./sqlite-writer.js";
import { withAuditDefaults, type AuditDefaults } from "../audit-defaults.js";

/**
 * A store whose certificate inserts commit on the writer thread (servers and batches), while
 * everything else goes to the store it wraps: the one write that is both frequent and slow
 * (an fsync per batch) leaves the thread that answers requests. One-shot commands use the
 * plain store; `src/app.ts` chooses.
 */
export class WriterThreadStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly writer: SqliteWriter,
    /** What the main connection's appender fills in: applied here, as the writer thread cannot ask. */
    private readonly auditDefaults?: () => AuditDefaults,
  ) {}

  insertCertificates(items: Array<{ cert: CertificateRecord; audit: AuditInput }>): Promise<void> {
    const defaults = this.auditDefaults;
    return this.writer.insertCertificates(
      defaults ? items.map(({ cert, audit }) => ({ cert, audit: withAuditDefaults(audit, defaults) })) : items,
    );
  }

  /** Lets queued inserts commit before the main connection closes. */
  async close(): Promise<void> {
    await this.writer.close();
    await this.inner.close();
  }

  probe = () => this.inner.probe();
  listCas = () => this.inner.listCas();
  insertCas = (cas: CaRecord[], audit: AuditInput[]) => this.inner.insertCas(cas, audit);
  activateCa = (id: string, audit: AuditInput) => this.inner.activateCa(id, audit);
  getCertificate = (key: { serial: string } | { sha256: string }) => this.inner.getCertificate(key);
  listCertificates = (filter: CertificateFilter, page: PageRequest, now: Date) => this.inner.listCertificates(filter, page, now);
  revokeCertificate = (serial: string, reason: RevocationReason, at: Date, audit: AuditInput) =>
    this.inner.revokeCertificate(serial, reason, at, audit);
  revokedSerials = (issuerCaId: string) => this.inner.revokedSerials(issuerCaId);
  countCertificates = () => this.inner.countCertificates();
  countRevoked = (issuerCaId: string) => this.inner.countRevoked(issuerCaId);
  latestCrl = (issuerCaId: string) => this.inner.latestCrl(issuerCaId);
  latestCrlNumber = (issuerCaId: string) => this.inner.latestCrlNumber(issuerCaId);
  insertCrl = (crl: CrlRecord, audit: AuditInput) => this.inner.insertCrl(crl, audit);
  listAudit = (filter: AuditFilter, page: PageRequest) => this.inner.listAudit(filter, page);
  auditEntries = (afterSeq?: number) => this.inner.auditEntries(afterSeq);
  appendAudit = (audit: AuditInput) => this.inner.appendAudit(audit);
}
