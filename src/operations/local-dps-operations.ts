import type { Services } from "../app.js";
import type { EnrollmentInput, HubInput, ScopeInput } from "../core/dps/dps-views.js";
import type { DpsOperations, EnrollmentUpdateOptions, PageQuery, RegistrationListQuery, ScopeDetailView } from "./dps-operations.js";
import type { EnrollmentKind } from "../store/dps-records.js";
import { AppError } from "../errors.js";

/**
 * DpsOperations on in-process services, acting as `actor`. `scope` confines it to one ID scope
 * (an API token's scope): other scopes do not exist for it, and scopes cannot be created or deleted.
 */
export class LocalDpsOperations implements DpsOperations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
    private readonly scope: string | null = null,
  ) {}

  private get admin() {
    return this.services.dps.admin;
  }

  /** The scope as asked, when this caller may see it; not_found otherwise (its existence is not revealed). */
  private allowed(idScope: string): string {
    if (this.scope !== null && this.scope.toLowerCase() !== idScope.toLowerCase())
      throw new AppError("not_found", `No ID scope ${idScope.slice(0, 64)}`);
    return idScope;
  }

  private unscoped(what: string): void {
    if (this.scope !== null) throw new AppError("forbidden", `A token confined to scope ${this.scope} may not ${what}`);
  }

  async scopeCreate(input: ScopeInput) {
    this.unscoped("create scopes");
    return this.admin.createScope(input, this.actor);
  }

  async scopeList() {
    const all = await this.admin.listScopes();
    return this.scope === null ? all : all.filter((s) => s.idScope.toLowerCase() === this.scope!.toLowerCase());
  }

  async scopeGet(idScope: string): Promise<ScopeDetailView> {
    return this.admin.getScope(this.allowed(idScope));
  }

  async scopeDelete(idScope: string, force: boolean) {
    this.unscoped("delete scopes");
    await this.admin.deleteScope(idScope, force, this.actor);
  }

  async hubCreate(idScope: string, input: HubInput) {
    return this.admin.createHub(this.allowed(idScope), input, this.actor);
  }

  async hubList(idScope: string) {
    return this.admin.listHubs(this.allowed(idScope));
  }

  async hubGet(idScope: string, name: string) {
    return this.admin.getHub(this.allowed(idScope), name);
  }

  async hubUpdate(idScope: string, name: string, input: HubInput) {
    return this.admin.updateHub(this.allowed(idScope), name, input, this.actor);
  }

  async hubDelete(idScope: string, name: string) {
    await this.admin.deleteHub(this.allowed(idScope), name, this.actor);
  }

  async enrollmentCreate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput) {
    return this.admin.createEnrollment(this.allowed(idScope), kind, id, input, this.actor);
  }

  async enrollmentList(idScope: string, kind: EnrollmentKind, query: PageQuery) {
    return this.admin.listEnrollments(this.allowed(idScope), kind, query.after, query.limit);
  }

  async enrollmentGet(idScope: string, kind: EnrollmentKind, id: string) {
    return this.admin.getEnrollment(this.allowed(idScope), kind, id);
  }

  async enrollmentUpdate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput, options: EnrollmentUpdateOptions) {
    return this.admin.updateEnrollment(this.allowed(idScope), kind, id, input, options, this.actor);
  }

  async enrollmentDelete(idScope: string, kind: EnrollmentKind, id: string) {
    await this.admin.deleteEnrollment(this.allowed(idScope), kind, id, this.actor);
  }

  async groupDeriveKey(idScope: string, groupId: string, registrationId: string) {
    return this.admin.deriveKey(this.allowed(idScope), groupId, registrationId);
  }

  async registrationList(idScope: string, query: RegistrationListQuery) {
    return this.admin.listRegistrations(this.allowed(idScope), {
      status: query.status,
      assignedHub: query.hub,
      enrollmentKind: query.enrollmentKind,
      enrollmentId: query.enrollmentId,
      after: query.after,
      limit: query.limit,
    });
  }

  async registrationGet(idScope: string, registrationId: string) {
    return this.admin.getRegistration(this.allowed(idScope), registrationId);
  }

  async registrationDelete(idScope: string, registrationId: string) {
    await this.admin.deleteRegistration(this.allowed(idScope), registrationId, this.actor);
  }
}
