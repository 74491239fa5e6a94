import type { AttestationUsed, EnrollmentKind, EnrollmentRecord, RegistrationRecord } from "../../store/dps-records.js";
import { AppError } from "../../errors.js";

/** What a device presented, and where the attestor may look for enrollments that could match. */
export interface AttestationContext {
  /** The ID scope as canonically stored. */
  idScope: string;
  /** The registration id exactly as the device sent it (derived keys are case-sensitive on it). */
  registrationId: string;
  now: Date;
  /** The Authorization header as sent, if any. */
  authorization: string | null;
  /** DER certificates the TLS client presented, leaf first; empty when none. */
  clientCertificates: Uint8Array[];
  enrollments: EnrollmentLookup;
}

/**
 * Candidate enrollments. An individual enrollment wins over every group: when one exists for
 * the registration id, groups are not consulted.
 */
export interface EnrollmentLookup {
  individual: EnrollmentRecord | null;
  /** The scope's enrollment groups using one attestation type. */
  groups(type: "symmetricKey" | "x509"): Promise<EnrollmentRecord[]>;
  /** The device's existing registration (renewal path). */
  registration: RegistrationRecord | null;
  enrollment(kind: EnrollmentKind, id: string): Promise<EnrollmentRecord | null>;
}

/** Details of a presented X.509 certificate, in the shape of DPS `x509.certificateInfo`. */
export interface CertificateInfo {
  subjectName: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  issuerName: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  serialNumber: string;
  version: number;
}

/** The constraints an attestor proved: which enrollment the device belongs to, and how it proved it. */
export interface Attestation {
  enrollment: EnrollmentRecord;
  used: AttestationUsed;
  certificate?: CertificateInfo;
}

/**
 * One way for a device to prove its identity. An attestor only checks credentials against
 * enrollments and reports what it proved; it never signs, allocates or writes anything.
 * Refusals throw AttestationError.
 */
export interface Attestor {
  readonly method: AttestationUsed["method"];
  /** Whether the request carries this attestor's kind of credential. */
  applies(context: AttestationContext): boolean;
  attest(context: AttestationContext): Promise<Attestation>;
}

export type AttestationRefusal =
  | "no_credential"
  | "malformed"
  | "signature"
  | "expired"
  | "resource"
  | "key_name"
  | "no_enrollment"
  | "wrong_method"
  | "subject"
  | "not_yet_valid"
  | "untrusted"
  | "revoked";

/** A refused credential: becomes 401 on the device endpoint with the message (never key material). */
export class AttestationError extends AppError {
  constructor(
    readonly reason: AttestationRefusal,
    message: string,
  ) {
    super("unauthorized", message, { reason });
  }
}
