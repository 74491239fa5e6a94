import type { RevocationReason } from "../../ca/revocation-reason.js";

/** Plain records the store keeps. Times are Date (UTC); binary is Uint8Array; ids are strings. */

export interface CaRecord {
  id: string;
  kind: "root" | "intermediate";
  parentId: string | null;
  /** Opaque reference understood by the key provider. */
  keyRef: string;
  keyAlgorithm: string;
  certDer: Uint8Array;
  subject: string;
  subjectKeyId: string; // hex
  notBefore: Date;
  notAfter: Date;
  /** The active intermediate signs new certificates; retired ones still sign CRLs. */
  status: "active" | "retired";
  createdAt: Date;
}

export type CertificateStatus = "good" | "revoked";

export interface CertificateRecord {
  serial: string; // lowercase hex, no leading zeros beyond what DER needs
  sha256: string; // lowercase hex thumbprint of the DER
  issuerCaId: string;
  subject: string;
  commonName: string | null;
  subjectAltNames: string[]; // "dns:x", "ip:1.2.3.4", …
  notBefore: Date;
  notAfter: Date;
  profile: string;
  requester: string;
  /** The DPS ID scope the certificate belongs to (its device's, or the issuing token's); null for none. */
  scope: string | null;
  status: CertificateStatus;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  der: Uint8Array;
  createdAt: Date;
}

/** What a caller hands the store for one log entry; the store adds seq and the chain hashes. */
export interface AuditInput {
  at: Date;
  actor: string;
  action: string;
  subject?: string | null;
  serial?: string | null;
  profile?: string | null;
  policyHash?: string | null;
  details?: Record<string, unknown>;
  /**
   * Where the change or refusal came from: the client address the server saw, `local` for this
   * installation's own work. Stored as `details.source`, so the entry's encoding is the one it
   * always was. Undefined: the appender fills it in (and policyHash) from what it was given; null: none.
   */
  source?: string | null;
}

/**
 * Actions of entries that record a refused attempt rather than a change: each is appended in a
 * transaction of its own, and bounded per source (see the README's log section).
 */
export const REFUSAL_ACTIONS = ["auth.deny", "cert.refuse", "dps.register.refuse", "sas.issue.refuse"] as const;
export type RefusalAction = (typeof REFUSAL_ACTIONS)[number];

export interface AuditEntry {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subject: string | null;
  serial: string | null;
  profile: string | null;
  policyHash: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface CrlRecord {
  issuerCaId: string;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
  der: Uint8Array;
}

export interface RevokedSerial {
  serial: string;
  revokedAt: Date;
  reason: RevocationReason | null;
}
