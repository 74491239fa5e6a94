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
} from "../../src/core/dps/dps-views.js";
import type {
  DpsOperations,
  EnrollmentUpdateOptions,
  PageQuery,
  RegistrationListQuery,
  ScopeDetailView,
} from "../../src/operations/dps-operations.js";
import type { EnrollmentKind } from "../../src/store/dps-records.js";
import type { Page } from "../../src/store/store.js";
import { queryString, seg, type ApiClient } from "./api-client.js";

/** DpsOperations over the management API (`/v1/scopes/…`), so --server prints what local mode prints. */
export class RemoteDpsOperations implements DpsOperations {
  constructor(private readonly api: ApiClient) {}

  scopeCreate(input: ScopeInput) {
    return this.api.json<ScopeView>("POST", "/v1/scopes", input);
  }
  scopeList() {
    return this.api.json<ScopeView[]>("GET", "/v1/scopes");
  }
  scopeGet(idScope: string) {
    return this.api.json<ScopeDetailView>("GET", scopePath(idScope));
  }
  async scopeDelete(idScope: string, force: boolean) {
    await this.api.call("DELETE", scopePath(idScope) + queryString({ force: force ? "true" : undefined }));
  }

  hubCreate(idScope: string, input: HubInput) {
    return this.api.json<HubView>("POST", `${scopePath(idScope)}/hubs`, input);
  }
  hubList(idScope: string) {
    return this.api.json<HubView[]>("GET", `${scopePath(idScope)}/hubs`);
  }
  hubGet(idScope: string, name: string) {
    return this.api.json<HubView>("GET", `${scopePath(idScope)}/hubs/${seg(name)}`);
  }
  hubUpdate(idScope: string, name: string, input: HubInput) {
    return this.api.json<HubView>("PATCH", `${scopePath(idScope)}/hubs/${seg(name)}`, input);
  }
  async hubDelete(idScope: string, name: string) {
    await this.api.call("DELETE", `${scopePath(idScope)}/hubs/${seg(name)}`);
  }

  enrollmentCreate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput) {
    const body = kind === "group" ? { groupId: id, ...input } : { registrationId: id, ...input };
    return this.api.json<EnrollmentWithKeys>("POST", collection(idScope, kind), body);
  }
  enrollmentList(idScope: string, kind: EnrollmentKind, q: PageQuery) {
    return this.api.json<Page<EnrollmentView>>("GET", collection(idScope, kind) + queryString({ after: q.after, limit: q.limit }));
  }
  enrollmentGet(idScope: string, kind: EnrollmentKind, id: string) {
    return this.api.json<EnrollmentView>("GET", `${collection(idScope, kind)}/${seg(id)}`);
  }
  enrollmentUpdate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput, options: EnrollmentUpdateOptions) {
    const body = { ...input, ...(options.regenerateKeys ? { regenerateKeys: true } : {}) };
    return this.api.json<EnrollmentWithKeys>(
      "PATCH",
      `${collection(idScope, kind)}/${seg(id)}`,
      body,
      options.ifMatch ? { "if-match": options.ifMatch } : {},
    );
  }
  async enrollmentDelete(idScope: string, kind: EnrollmentKind, id: string) {
    await this.api.call("DELETE", `${collection(idScope, kind)}/${seg(id)}`);
  }
  groupDeriveKey(idScope: string, groupId: string, registrationId: string) {
    return this.api.json<DerivedKeyView>("POST", `${collection(idScope, "group")}/${seg(groupId)}/derive-key`, { registrationId });
  }

  registrationList(idScope: string, q: RegistrationListQuery) {
    return this.api.json<Page<RegistrationView>>(
      "GET",
      `${scopePath(idScope)}/registrations` +
        queryString({
          status: q.status,
          hub: q.hub,
          enrollmentKind: q.enrollmentKind,
          enrollmentId: q.enrollmentId,
          after: q.after,
          limit: q.limit,
        }),
    );
  }
  registrationGet(idScope: string, registrationId: string) {
    return this.api.json<RegistrationView>("GET", `${scopePath(idScope)}/registrations/${seg(registrationId)}`);
  }
  async registrationDelete(idScope: string, registrationId: string) {
    await this.api.call("DELETE", `${scopePath(idScope)}/registrations/${seg(registrationId)}`);
  }
}

function scopePath(idScope: string): string {
  return `/v1/scopes/${seg(idScope)}`;
}

function collection(idScope: string, kind: EnrollmentKind): string {
  return `${scopePath(idScope)}/${kind === "group" ? "groups" : "enrollments"}`;
}
