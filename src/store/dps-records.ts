/**
 * Records of the device-provisioning (DPS) domain as the store keeps them. Times are Date
 * (UTC). Everything belongs to exactly one ID scope; ids compare case-insensitively, as DPS
 * registration ids do.
 */

/** An ID scope: dpki's tenant, the first segment of every device request path. */
export interface ScopeRecord {
  idScope: string;
  description: string;
  createdAt: Date;
}

/** A hub devices can be assigned to. */
export interface HubRecord {
  idScope: string;
  name: string;
  hostName: string;
  /** Relative share of hashed allocations (1-1000). */
  weight: number;
  region: string | null;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type EnrollmentKind = "individual" | "group";
export type ProvisioningStatus = "enabled" | "disabled";
export type AllocationPolicyName = "hashed" | "static" | "geoLatency" | "custom";

/**
 * How devices of an enrollment prove who they are.
 * - symmetricKey: base64 keys; for a group they are group keys from which each device's key
 *   is derived as HMAC-SHA256(groupKey, registrationId).
 * - x509, individual: SHA-256 thumbprints (lowercase hex) of the device certificate(s).
 * - x509, group: PEM certificates of the root or intermediate CA(s) devices chain to.
 */
export type AttestationSpec =
  | { type: "symmetricKey"; primaryKey: string; secondaryKey: string }
  | { type: "x509"; thumbprints: string[] }
  | { type: "x509"; caCertificates: string[] };

export interface Allowlists {
  /** Glob patterns (`*`, `?`), case-insensitive; empty allows every id. */
  registrationIds: string[];
  /** Values the device must send as `payload.hardwareId`; empty allows any. */
  hardwareIds: string[];
  /** Source networks (CIDR) requests must come from; empty allows any. */
  sourceCidrs: string[];
}

export interface AllocationSpec {
  policy: AllocationPolicyName;
  /** Linked hub names; empty means every enabled hub of the scope. */
  hubs: string[];
  /** custom: the HTTPS webhook receiving DPS AllocationRequests. */
  webhookUrl: string | null;
  webhookTimeoutMs: number;
  /** geoLatency: source network → region, first match wins. */
  regionNetworks: Array<{ cidr: string; region: string }>;
}

/** DPS reprovisionPolicy: what happens when an assigned device registers again. */
export interface ReprovisionSpec {
  updateHubAssignment: boolean;
  migrateDeviceData: boolean;
}

/** Settings shared by individual enrollments and enrollment groups. */
export interface EnrollmentSpec {
  attestation: AttestationSpec;
  provisioningStatus: ProvisioningStatus;
  allowlists: Allowlists;
  /** Certificate profile CSRs sent at registration are issued under. */
  profile: string;
  allocation: AllocationSpec;
  reprovision: ReprovisionSpec;
  /** Individual only: the hub device id (the registration id when null). */
  deviceId: string | null;
  initialTwin: Record<string, unknown> | null;
  capabilities: { iotEdge: boolean };
}

export interface EnrollmentRecord extends EnrollmentSpec {
  idScope: string;
  kind: EnrollmentKind;
  /** The registration id (individual) or the enrollment group id. */
  id: string;
  etag: string;
  createdAt: Date;
  updatedAt: Date;
}

export type RegistrationStatus = "assigned" | "failed" | "disabled";
export type RegistrationSubstatus = "initialAssignment" | "deviceDataMigrated" | "deviceDataReset" | "reprovisionedToInitialAssignment";

/** How a device proved itself at its latest registration (never secrets). */
export interface AttestationUsed {
  method: "symmetricKey" | "x509";
  /** 0 primary, 1 secondary key or certificate. */
  keyIndex?: number;
  /** Fingerprint of the stored key that verified (symmetricKey; see keyFingerprint), to count its users before a rotation. */
  keyId?: string;
  /** SHA-256 of the device certificate (x509). */
  thumbprint?: string;
  /** SHA-256 of the CA certificate the chain ended at (group x509). */
  signingThumbprint?: string;
  /** True when the device presented a certificate dpki issued to it (renewal path). */
  renewal?: boolean;
  /** The presented certificate had expired: accepted only to renew, inside the configured window (flagged in the log). */
  expiredRenewal?: boolean;
}

export interface RegistrationRecord {
  idScope: string;
  registrationId: string;
  enrollmentKind: EnrollmentKind;
  enrollmentId: string;
  status: RegistrationStatus;
  substatus: RegistrationSubstatus | null;
  /** Host name of the assigned hub. */
  assignedHub: string | null;
  /** The first hub ever assigned (for reprovisionedToInitialAssignment). */
  initialHub: string | null;
  deviceId: string | null;
  attestation: AttestationUsed;
  etag: string;
  operationId: string;
  /** Serial (hex) of the latest certificate issued at registration. */
  issuedSerial: string | null;
  errorCode: number | null;
  errorMessage: string | null;
  /** Returned to the device in registrationState.payload (from a custom webhook). */
  payload: unknown;
  initialTwin: Record<string, unknown> | null;
  iotEdge: boolean;
  createdAt: Date;
  updatedAt: Date;
}
