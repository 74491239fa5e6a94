import type { RevocationReason } from "../../ca/revocation-reason.js";
import type { AuditInput, CaRecord, CertificateRecord } from "./records.js";

/** A certificate for a new root signed by an older root, so devices that trust only the old root accept the new chain. */
export interface CrossCertificateRecord {
  /** The CA the certificate is for (the new root). */
  caId: string;
  /** The CA that signed it (the old root). */
  issuerCaId: string;
  serial: string;
  certDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

/** An issuing CA taken out of service: none of its certificates is good any more. */
export interface CaRevocationRecord {
  caId: string;
  revokedAt: Date;
  reason: RevocationReason;
  revokedBy: string;
}

/** A delegated OCSP responder certificate (id-kp-OCSPSigning, nocheck) issued by one intermediate. */
export interface OcspSignerRecord {
  serial: string;
  issuerCaId: string;
  /** Key provider reference of the responder key. */
  keyRef: string;
  certDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

/** A renewed certificate's predecessor, revoked as `superseded` once its grace period ends. */
export interface SupersessionRecord {
  oldSerial: string;
  newSerial: string;
  supersedeAt: Date;
  /** When the old certificate was actually revoked (null while pending). */
  doneAt: Date | null;
  createdAt: Date;
}

export interface CaRotation {
  /** New CA records (a new root, if any, then the new intermediate). */
  cas: CaRecord[];
  crossCertificates: CrossCertificateRecord[];
  /** The intermediate that becomes the active issuer; every other intermediate is retired. */
  activate: string;
  audit: AuditInput[];
}

/**
 * Persistence of credential lifecycle state: CA rollover and revocation, OCSP responder
 * certificates, and pending supersessions of renewed certificates. Each method is one atomic
 * domain operation; state changes commit with their audit entries.
 */
export interface LifecycleStore {
  /** Inserts the new CAs and cross certificates and makes `activate` the only active intermediate, in one transaction. */
  rotateCa(rotation: CaRotation): Promise<void>;
  listCrossCertificates(): Promise<CrossCertificateRecord[]>;
  /** The latest notAfter among an issuer's certificates (revoked ones too: they must be answered for until they expire), or null. */
  lastCertificateExpiry(issuerCaId: string): Promise<Date | null>;

  /**
   * Records the CA as revoked and revokes every good certificate it issued with `reason`, each
   * with its own log entry, plus `audit` for the CA itself: all in one transaction. Throws
   * already_revoked when the CA was revoked before.
   */
  revokeCa(
    revocation: CaRevocationRecord,
    audit: AuditInput,
    certificateAudit: (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) => AuditInput,
  ): Promise<{ revoked: number }>;
  caRevocations(): Promise<CaRevocationRecord[]>;

  insertOcspSigner(signer: OcspSignerRecord, audit: AuditInput): Promise<void>;
  /** The responder certificate of an issuer that stays valid longest, or null. */
  latestOcspSigner(issuerCaId: string): Promise<OcspSignerRecord | null>;

  /** Schedules the supersession of `oldSerial`; replaces a pending one for the same certificate. */
  scheduleSupersession(record: SupersessionRecord, audit: AuditInput): Promise<void>;
  /** The pending (not yet done) supersession of a certificate, or null. */
  pendingSupersession(oldSerial: string): Promise<SupersessionRecord | null>;
  /** Pending supersessions due at `now`, oldest first. */
  dueSupersessions(now: Date, limit: number): Promise<SupersessionRecord[]>;
  /**
   * Revokes the old certificate as `superseded` at its supersedeAt and marks the supersession
   * done, with the audit entry, in one transaction. A certificate revoked meanwhile for another
   * reason only marks it done. Returns the revoked certificate, or null when there was nothing to revoke.
   */
  completeSupersession(oldSerial: string, now: Date, audit: (cert: CertificateRecord) => AuditInput): Promise<CertificateRecord | null>;
}
