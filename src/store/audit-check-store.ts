/**
 * What the audit checks (src/core/audit/audit-check-service.ts) read, as queries the store can
 * answer without handing every certificate to the caller. The key facts are derived data, like
 * the log tree: read from each certificate's DER once, after it commits, and never changed.
 */

/** A certificate's public key as the checks judge it. */
export interface KeyFacts {
  /** SHA-256 (hex) of the DER SubjectPublicKeyInfo: equal for certificates sharing a key; null when unreadable. */
  spkiSha256: string | null;
  /** P-256, P-384, P-521, RSA, Ed25519; another curve's or algorithm's OID; `unreadable` when the DER could not be read. */
  algorithm: string;
  /** RSA modulus size; null for other keys. */
  rsaBits: number | null;
}

/** A good, unexpired certificate with what the profile and key checks need (no DER). */
export interface LiveCertificate {
  serial: string;
  profile: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string | null;
  /** "dns:x", "ip:1.2.3.4", … */
  subjectAltNames: string[];
  /** Null when the certificate committed after the key facts were last caught up. */
  key: KeyFacts | null;
}

export interface SharedKey {
  spkiSha256: string;
  /** The good, unexpired certificates holding it, in issuance order. */
  serials: string[];
}

/** A DPS registration still assigned whose certificate (the last issued at registration) is revoked. */
export interface AssignedRevoked {
  idScope: string;
  registrationId: string;
  assignedHub: string | null;
  deviceId: string | null;
  serial: string;
  revokedAt: Date;
  revocationReason: string | null;
}

/** One log entry's number and action, for pointing a finding at what it is about. */
export interface EntryRef {
  seq: number;
  action: string;
  serial: string | null;
  subject: string | null;
}

export interface AuditCheckStore {
  /** Certificates whose key facts are not recorded yet, in commit order, at most `limit`. */
  certificatesWithoutKeyFacts(limit: number): Promise<Array<{ serial: string; der: Uint8Array }>>;
  /** Records key facts (idempotent: facts already recorded are kept). */
  recordKeyFacts(facts: Array<{ serial: string } & KeyFacts>): Promise<void>;
  /** Good, unexpired certificates at `now`, with their key facts, in batches. */
  liveCertificates(now: Date): AsyncIterable<LiveCertificate[]>;
  /**
   * Keys held by more than one good, unexpired certificate (a certificate awaiting supersession
   * by its renewal does not count): how many such keys, and the first `limit` of them.
   */
  sharedKeys(now: Date, limit: number): Promise<{ total: number; keys: SharedKey[] }>;
  /**
   * Registrations still assigned with a revoked certificate, other than one revoked as superseded
   * by a renewal (the device holds the successor): how many, and the first `limit`.
   */
  assignedWithRevokedCertificate(limit: number): Promise<{ total: number; items: AssignedRevoked[] }>;
  /** The log entries naming any of these serials, in log order. */
  entriesAboutSerials(serials: readonly string[]): Promise<EntryRef[]>;
  /** The log entries of these actions whose subject is one of `subjects` (compared case-insensitively, as DPS ids are), in log order. */
  entriesAboutSubjects(actions: readonly string[], subjects: readonly string[]): Promise<EntryRef[]>;
  /** The log entries of `action` whose `details.<field>` is one of `values`, each with the value it matched, in log order. */
  entriesByDetail(action: string, field: string, values: readonly string[]): Promise<Array<EntryRef & { value: string }>>;
}
