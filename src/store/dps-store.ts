import type { AuditInput } from "./records.js";
import type { Page, PageRequest } from "./store.js";
import type { EnrollmentKind, EnrollmentRecord, HubRecord, RegistrationRecord, RegistrationStatus, ScopeRecord } from "./dps-records.js";

export interface RegistrationFilter {
  status?: RegistrationStatus;
  /** Host name of the assigned hub. */
  assignedHub?: string;
  enrollmentKind?: EnrollmentKind;
  enrollmentId?: string;
}

/**
 * Persistence of the device-provisioning domain. Every method is one atomic domain operation:
 * the change and its audit entries commit together or not at all. Lookups by id are
 * case-insensitive. Writes throw AppError not_found / already_exists / conflict, changing nothing.
 */
export interface DpsStore {
  // Scopes
  insertScope(scope: ScopeRecord, audit: AuditInput): Promise<void>;
  getScope(idScope: string): Promise<ScopeRecord | null>;
  listScopes(): Promise<ScopeRecord[]>;
  /** Counts of what the scope holds, so a delete can refuse unless forced. */
  scopeContents(idScope: string): Promise<{ hubs: number; enrollments: number; groups: number; registrations: number }>;
  /** Deletes the scope and everything in it. */
  deleteScope(idScope: string, audit: AuditInput): Promise<void>;

  // Hubs
  insertHub(hub: HubRecord, audit: AuditInput): Promise<void>;
  /** Replaces a hub found by (idScope, name); the name itself may not change. */
  replaceHub(hub: HubRecord, audit: AuditInput): Promise<void>;
  deleteHub(idScope: string, name: string, audit: AuditInput): Promise<void>;
  getHub(idScope: string, name: string): Promise<HubRecord | null>;
  listHubs(idScope: string): Promise<HubRecord[]>;

  // Individual enrollments and enrollment groups
  insertEnrollment(enrollment: EnrollmentRecord, audit: AuditInput): Promise<void>;
  /** Replaces an enrollment when its stored etag equals `ifEtag`; conflict otherwise. */
  replaceEnrollment(enrollment: EnrollmentRecord, ifEtag: string, audit: AuditInput): Promise<void>;
  deleteEnrollment(idScope: string, kind: EnrollmentKind, id: string, audit: AuditInput): Promise<void>;
  getEnrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentRecord | null>;
  listEnrollments(idScope: string, kind: EnrollmentKind, page: PageRequest): Promise<Page<EnrollmentRecord>>;
  /** Every group of a scope using one attestation type (the registration path scans them). */
  groupsByAttestation(idScope: string, type: "symmetricKey" | "x509"): Promise<EnrollmentRecord[]>;

  // Registrations
  getRegistration(idScope: string, registrationId: string): Promise<RegistrationRecord | null>;
  listRegistrations(idScope: string, filter: RegistrationFilter, page: PageRequest): Promise<Page<RegistrationRecord>>;
  /** Inserts or replaces registrations, each with its audit entry, in one transaction. */
  saveRegistrations(items: Array<{ registration: RegistrationRecord; audit: AuditInput }>): Promise<void>;
  deleteRegistration(idScope: string, registrationId: string, audit: AuditInput): Promise<void>;
}
