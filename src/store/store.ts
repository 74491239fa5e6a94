import type { AuditEntry, AuditInput, CaRecord, CertificateRecord, CertificateStatus, CrlRecord, RevokedSerial } from "./records.js";
import type { RevocationReason } from "../../ca/revocation-reason.js";

export interface CertificateFilter {
  /** "expired" means good and past notAfter; "good" excludes expired. */
  status?: CertificateStatus | "expired";
  /** Case-insensitive substring of the subject. */
  subject?: string;
  profile?: string;
  issuerCaId?: string;
  /** Good certificates whose notAfter falls before this instant. */
  expiringBefore?: Date;
  /** Only certificates of this ID scope (case-insensitive). */
  scope?: string;
}

export interface AuditFilter {
  since?: Date;
  serial?: string;
  action?: string;
  actor?: string;
  /** Only refused attempts (REFUSAL_ACTIONS) and the counts of those the log bounded away. */
  refusals?: boolean;
  /** Case-insensitive text in the subject, actor, action, serial or details (JSON as stored). */
  text?: string;
  /**
   * Only entries of this ID scope: those naming it (`details.idScope`) and those about its
   * certificates. CA-level entries belong to no scope.
   */
  scope?: string;
  /** "newest" walks back from the latest entry (cursors then point backwards); oldest first otherwise. */
  order?: "oldest" | "newest";
}

export interface Page<T> {
  items: T[];
  /** Pass back as `after` to read the next page; null when there is none. */
  nextCursor: string | null;
}

export interface PageRequest {
  after?: string | null;
  limit: number;
}

/**
 * The persistence boundary. Every method is one atomic domain operation: the state change
 * and its audit entries commit together or not at all. Implementations (SQLite now,
 * PostgreSQL later) must pass test/store/store-contract.ts; nothing engine-specific leaks out.
 * Methods never hold a transaction across an await: callers sign first, then write.
 */
export interface Store {
  close(): Promise<void>;
  /** Reads the database enough to tell it is usable; throws store_damaged when it is not. */
  probe(): Promise<void>;

  // CAs
  listCas(): Promise<CaRecord[]>;
  /** Inserts CA records (e.g. root + intermediate) with their audit entries. */
  insertCas(cas: CaRecord[], audit: AuditInput[]): Promise<void>;
  /** Marks one intermediate active and every other intermediate retired. */
  activateCa(id: string, audit: AuditInput): Promise<void>;

  // Certificates
  /** Inserts issued certificates, each with its audit entry, in one transaction. Throws AppError("conflict") on a serial clash, inserting none. */
  insertCertificates(items: Array<{ cert: CertificateRecord; audit: AuditInput }>): Promise<void>;
  getCertificate(key: { serial: string } | { sha256: string }): Promise<CertificateRecord | null>;
  listCertificates(filter: CertificateFilter, page: PageRequest, now: Date): Promise<Page<CertificateRecord>>;
  /** Revokes a good certificate. Throws not_found or already_revoked, changing nothing. */
  revokeCertificate(serial: string, reason: RevocationReason, at: Date, audit: AuditInput): Promise<CertificateRecord>;
  /** Every revoked certificate of one issuer, in batches (a CRL may list a million). */
  revokedSerials(issuerCaId: string): AsyncIterable<RevokedSerial[]>;
  countCertificates(): Promise<number>;
  /** How many certificates of one issuer are revoked; only ever grows, so a CRL listing fewer is stale. */
  countRevoked(issuerCaId: string): Promise<number>;

  // CRLs
  latestCrl(issuerCaId: string): Promise<CrlRecord | null>;
  /** The latest CRL's number alone: cheap enough to ask on every check. */
  latestCrlNumber(issuerCaId: string): Promise<bigint | null>;
  /** Stores a signed CRL. Throws conflict when its number is not above the latest one. */
  insertCrl(crl: CrlRecord, audit: AuditInput): Promise<void>;

  // Audit log
  listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>>;
  /** All entries in sequence order (after `afterSeq`, when given), in batches, for verification. */
  auditEntries(afterSeq?: number): AsyncIterable<AuditEntry[]>;
  appendAudit(audit: AuditInput): Promise<AuditEntry>;
}
