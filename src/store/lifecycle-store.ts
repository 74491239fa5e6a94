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

/** IoT Hub shared access policy rights (RegistryReadWrite is RegistryRead + RegistryWrite). */
export const HUB_RIGHTS = ["RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"] as const;
export type HubRight = (typeof HUB_RIGHTS)[number];

/** A hub's shared access policy: a key pair whose tokens carry `skn` = the policy name. */
export interface HubPolicyRecord {
  idScope: string;
  /** The hub's name (as in dps_hubs). */
  hub: string;
  name: string;
  rights: HubRight[];
  primaryKey: string;
  secondaryKey: string;
  createdAt: Date;
  updatedAt: Date;
  /** Last key rotation, or null. */
  rotatedAt: Date | null;
}

/**
 * A scope's rules for SAS tokens issued on demand by the device endpoint: how long they may
 * live, which key signs them, and whether devices may sign hub tokens with their own key.
 */
export interface SasPolicyRecord {
  idScope: string;
  /** Longest lifetime of a token issued on demand, seconds; longer requests are clamped to it. */
  maxTtlSeconds: number;
  /** Lifetime when the device asks for none, seconds (≤ maxTtlSeconds). */
  defaultTtlSeconds: number;
  /**
   * Whether a device's own symmetric key may sign its hub tokens. When false the hub refuses
   * those (device-auth reason key_name), the key is only an onboarding credential for DPS, and
   * hub tokens come from the device endpoint, signed with `signingPolicy`.
   */
  deviceKeys: boolean;
  /** The hub shared access policy (by name, on the device's hub, with DeviceConnect) whose key signs tokens issued on demand; null: the device's own key. */
  signingPolicy: string | null;
  updatedAt: Date;
  updatedBy: string;
}

/** An individual enrollment or group revoked as a whole: its devices are refused everywhere. */
export interface EnrollmentBlockRecord {
  idScope: string;
  kind: "individual" | "group";
  id: string;
  blockedAt: Date;
  reason: string;
  blockedBy: string;
}

/** What the hub API needs of a device's registration. */
export interface DeviceRegistration {
  idScope: string;
  registrationId: string;
  enrollmentKind: "individual" | "group";
  enrollmentId: string;
  status: "assigned" | "failed" | "disabled";
  /** Host name of the assigned hub. */
  assignedHub: string | null;
  deviceId: string | null;
  attestation: { method: "symmetricKey" | "x509"; thumbprint?: string };
  issuedSerial: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type HubChangeKind = "assigned" | "unassigned" | "disabled" | "enabled" | "revoked" | "credentialsChanged" | "policyKeysRotated";

/** One entry of a hub's change feed. */
export interface HubChangeRecord {
  seq: number;
  idScope: string;
  /** Hub name. */
  hub: string;
  kind: HubChangeKind;
  deviceId: string | null;
  registrationId: string | null;
  details: Record<string, unknown>;
  /** The issuance-log entry that caused it. */
  auditSeq: number;
  at: Date;
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
  /** Marks a root retired (no longer a trust anchor in service) with its log entry, in one transaction. */
  retireRoot(caId: string, audit: AuditInput): Promise<void>;
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

  // Hub shared access policies (removed with their hub)
  insertHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void>;
  /** Replaces a policy found by (idScope, hub, name); not_found when there is none. */
  replaceHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void>;
  deleteHubPolicy(idScope: string, hub: string, name: string, audit: AuditInput): Promise<void>;
  getHubPolicy(idScope: string, hub: string, name: string): Promise<HubPolicyRecord | null>;
  listHubPolicies(idScope: string, hub: string): Promise<HubPolicyRecord[]>;

  // SAS tokens on demand (removed with their scope)
  /** The scope's SAS policy, or null when none was set (the defaults apply). */
  getSasPolicy(idScope: string): Promise<SasPolicyRecord | null>;
  /** Sets the scope's SAS policy with its log entry, in one transaction; not_found when the scope does not exist. */
  putSasPolicy(policy: SasPolicyRecord, audit: AuditInput): Promise<void>;

  // Devices, as the hub API sees them
  /** The registration of `deviceId` assigned to the hub with host name `hubHost`, or null. */
  registrationByDevice(idScope: string, hubHost: string, deviceId: string): Promise<DeviceRegistration | null>;
  registration(idScope: string, registrationId: string): Promise<DeviceRegistration | null>;
  /**
   * The certificates dpki issued to a device: those issued at its registrations (requester
   * `dps:<scope>/<registration id>`) and every renewal descending from them, newest first.
   */
  deviceCertificates(idScope: string, registrationId: string, limit: number): Promise<CertificateRecord[]>;
  /** Whether a certificate is one of the device's (see deviceCertificates). */
  isDeviceCertificate(idScope: string, registrationId: string, serial: string): Promise<boolean>;

  // Enrollment revocation cascade
  /**
   * In one transaction: blocks the enrollment, sets its provisioning status to disabled,
   * revokes every good certificate of its devices (each with a log entry from
   * `certificateAudit`), and appends `audit` with the counts.
   */
  revokeEnrollment(
    block: EnrollmentBlockRecord,
    audit: AuditInput,
    certificateAudit: (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) => AuditInput,
  ): Promise<{ devices: number; certificatesRevoked: number }>;
  enrollmentBlock(idScope: string, kind: "individual" | "group", id: string): Promise<EnrollmentBlockRecord | null>;

  // Hub change feed, derived from the issuance log
  /** Turns issuance-log entries not yet seen into hub changes; returns how many entries it read. */
  catchUpHubFeed(maxEntries: number): Promise<number>;
  hubChanges(idScope: string, hub: string, afterSeq: number, limit: number): Promise<HubChangeRecord[]>;
  /** The newest change seq of a hub (0 when none). */
  lastHubChange(idScope: string, hub: string): Promise<number>;
}
