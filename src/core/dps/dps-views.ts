/**
 * What DPS management takes (CLI and API alike) and what it shows: never keys, except once at
 * creation. Records (src/store/dps-records.ts) are what is stored; views are what callers see.
 */
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { RegistrationFilter } from "../../store/dps-store.js";
import type {
  AllocationSpec,
  Allowlists,
  EnrollmentKind,
  EnrollmentRecord,
  HubRecord,
  RegistrationRecord,
  RegistrationStatus,
  ReprovisionSpec,
  ScopeRecord,
} from "../../store/dps-records.js";

export interface ScopeInput {
  /** Chosen by the caller, or generated as `0ne` + 8 hex digits. */
  idScope?: string;
  description?: string;
}

export interface HubInput {
  name?: string;
  hostName?: string;
  weight?: number;
  region?: string | null;
  enabled?: boolean;
}

export type AttestationInput =
  | { type: "symmetricKey"; primaryKey?: string; secondaryKey?: string }
  /** Individual: the device certificate(s) as PEM, or their SHA-256 thumbprints. Group: CA certificate(s) as PEM. */
  | { type: "x509"; certificates?: string[]; thumbprints?: string[]; caCertificates?: string[] };

export interface EnrollmentInput {
  attestation?: AttestationInput;
  provisioningStatus?: "enabled" | "disabled";
  allowlists?: Partial<Allowlists>;
  profile?: string;
  allocation?: Partial<AllocationSpec>;
  reprovision?: Partial<ReprovisionSpec>;
  deviceId?: string | null;
  initialTwin?: Record<string, unknown> | null;
  capabilities?: { iotEdge?: boolean };
}

export interface ScopeView {
  idScope: string;
  description: string;
  createdAt: string;
}

export interface HubView {
  idScope: string;
  name: string;
  hostName: string;
  weight: number;
  region: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export type AttestationView =
  | { type: "symmetricKey" }
  | { type: "x509"; thumbprints: string[] }
  | { type: "x509"; caCertificates: Array<{ subject: string; sha256: string; notAfter: string }> };

export interface EnrollmentView {
  idScope: string;
  /** Individual enrollments. */
  registrationId?: string;
  /** Enrollment groups. */
  groupId?: string;
  attestation: AttestationView;
  provisioningStatus: "enabled" | "disabled";
  allowlists: Allowlists;
  profile: string;
  allocation: AllocationSpec;
  reprovision: ReprovisionSpec;
  deviceId: string | null;
  initialTwin: Record<string, unknown> | null;
  capabilities: { iotEdge: boolean };
  etag: string;
  createdAt: string;
  updatedAt: string;
}

/** Returned once, when symmetric keys are created or regenerated. */
export interface EnrollmentWithKeys {
  enrollment: EnrollmentView;
  keys?: { primaryKey: string; secondaryKey: string };
}

export interface RegistrationView {
  idScope: string;
  registrationId: string;
  status: RegistrationStatus;
  substatus: string | null;
  assignedHub: string | null;
  initialHub: string | null;
  deviceId: string | null;
  enrollment: { kind: EnrollmentKind; id: string };
  attestation: RegistrationRecord["attestation"];
  issuedSerial: string | null;
  errorCode: number | null;
  errorMessage: string | null;
  payload: unknown;
  initialTwin: Record<string, unknown> | null;
  iotEdge: boolean;
  etag: string;
  operationId: string;
  createdAt: string;
  updatedAt: string;
}

export interface RegistrationQuery extends RegistrationFilter {
  after?: string | null;
  limit?: number;
}

export interface DerivedKeyView {
  groupId: string;
  registrationId: string;
  primaryKey: string;
  secondaryKey: string;
}

/** What of an enrollment goes into the log: everything shown, minus bulky certificates. */
export function auditView(view: EnrollmentView): Record<string, unknown> {
  const { createdAt: _c, updatedAt: _u, ...rest } = view;
  return rest;
}

export function scopeView(s: ScopeRecord): ScopeView {
  return { idScope: s.idScope, description: s.description, createdAt: s.createdAt.toISOString() };
}

export function hubView(h: HubRecord): HubView {
  return {
    idScope: h.idScope,
    name: h.name,
    hostName: h.hostName,
    weight: h.weight,
    region: h.region,
    enabled: h.enabled,
    createdAt: h.createdAt.toISOString(),
    updatedAt: h.updatedAt.toISOString(),
  };
}

export function enrollmentView(e: EnrollmentRecord): EnrollmentView {
  let attestation: AttestationView;
  if (e.attestation.type === "symmetricKey") attestation = { type: "symmetricKey" };
  else if ("thumbprints" in e.attestation) attestation = { type: "x509", thumbprints: e.attestation.thumbprints };
  else {
    attestation = {
      type: "x509",
      caCertificates: e.attestation.caCertificates.map((pem) => {
        const c = ParsedCertificate.parse(pem, "enrollment group CA certificate");
        return { subject: c.subject, sha256: c.sha256, notAfter: c.notAfter.toISOString() };
      }),
    };
  }
  return {
    idScope: e.idScope,
    ...(e.kind === "group" ? { groupId: e.id } : { registrationId: e.id }),
    attestation,
    provisioningStatus: e.provisioningStatus,
    allowlists: e.allowlists,
    profile: e.profile,
    allocation: e.allocation,
    reprovision: e.reprovision,
    deviceId: e.deviceId,
    initialTwin: e.initialTwin,
    capabilities: e.capabilities,
    etag: e.etag,
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

export function registrationView(r: RegistrationRecord): RegistrationView {
  return {
    idScope: r.idScope,
    registrationId: r.registrationId,
    status: r.status,
    substatus: r.substatus,
    assignedHub: r.assignedHub,
    initialHub: r.initialHub,
    deviceId: r.deviceId,
    enrollment: { kind: r.enrollmentKind, id: r.enrollmentId },
    attestation: r.attestation,
    issuedSerial: r.issuedSerial,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    payload: r.payload,
    initialTwin: r.initialTwin,
    iotEdge: r.iotEdge,
    etag: r.etag,
    operationId: r.operationId,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}
