import type {
  DerivedKeyView,
  EnrollmentInput,
  EnrollmentView,
  EnrollmentWithKeys,
  HubInput,
  HubView,
  RegistrationView,
  ScopeInput,
  ScopeView,
} from "../core/dps/dps-views.js";
import type { EnrollmentKind, RegistrationStatus } from "../store/dps-records.js";
import type { Page } from "../store/store.js";

export type ScopeDetailView = ScopeView & { hubs: number; enrollments: number; groups: number; registrations: number };

export interface PageQuery {
  after?: string;
  limit?: number;
}

export interface RegistrationListQuery extends PageQuery {
  status?: RegistrationStatus;
  hub?: string;
  enrollmentKind?: EnrollmentKind;
  enrollmentId?: string;
}

export interface EnrollmentUpdateOptions {
  /** Make new symmetric keys (returned once). */
  regenerateKeys?: boolean;
  /** Refuse the change unless the enrollment's etag is this. */
  ifMatch?: string;
}

/** The part of Operations for device-provisioning management: ID scopes, hubs, enrollments, registrations. */
export interface DpsOperations {
  scopeCreate(input: ScopeInput): Promise<ScopeView>;
  scopeList(): Promise<ScopeView[]>;
  scopeGet(idScope: string): Promise<ScopeDetailView>;
  scopeDelete(idScope: string, force: boolean): Promise<void>;

  hubCreate(idScope: string, input: HubInput): Promise<HubView>;
  hubList(idScope: string): Promise<HubView[]>;
  hubGet(idScope: string, name: string): Promise<HubView>;
  hubUpdate(idScope: string, name: string, input: HubInput): Promise<HubView>;
  hubDelete(idScope: string, name: string): Promise<void>;

  /** Individual enrollments (id = registration id) and enrollment groups (id = group id). */
  enrollmentCreate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput): Promise<EnrollmentWithKeys>;
  enrollmentList(idScope: string, kind: EnrollmentKind, query: PageQuery): Promise<Page<EnrollmentView>>;
  enrollmentGet(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentView>;
  enrollmentUpdate(
    idScope: string,
    kind: EnrollmentKind,
    id: string,
    input: EnrollmentInput,
    options: EnrollmentUpdateOptions,
  ): Promise<EnrollmentWithKeys>;
  enrollmentDelete(idScope: string, kind: EnrollmentKind, id: string): Promise<void>;
  groupDeriveKey(idScope: string, groupId: string, registrationId: string): Promise<DerivedKeyView>;

  registrationList(idScope: string, query: RegistrationListQuery): Promise<Page<RegistrationView>>;
  registrationGet(idScope: string, registrationId: string): Promise<RegistrationView>;
  registrationDelete(idScope: string, registrationId: string): Promise<void>;
}
