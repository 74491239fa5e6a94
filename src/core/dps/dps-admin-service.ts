import { randomBytes } from "node:crypto";
import type { DpsStore } from "../../store/dps-store.js";
import type { Page } from "../../store/store.js";
import type { AuditInput } from "../../store/records.js";
import type { EnrollmentKind, EnrollmentRecord, HubRecord, ScopeRecord } from "../../store/dps-records.js";
import type { Clock } from "../../clock.js";
import type { PolicySet } from "../../policy/policy-set.js";
import { AppError } from "../../errors.js";
import { deriveDeviceKey } from "../sas/sas.js";
import { isRegistrationId } from "./dps-allowlist.js";
import { MAX_PAGE, pageLimit } from "../page-limit.js";
import { clip } from "../clip.js";
import { attestationSpec, checkedEnrollment, checkedHub, ID_SCOPE, invalid } from "./enrollment-rules.js";
import {
  auditView,
  enrollmentView,
  hubView,
  registrationView,
  scopeView,
  type DerivedKeyView,
  type AttestationInput,
  type EnrollmentInput,
  type EnrollmentView,
  type EnrollmentWithKeys,
  type HubInput,
  type HubView,
  type RegistrationQuery,
  type RegistrationView,
  type ScopeInput,
  type ScopeView,
} from "./dps-views.js";

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;

/** Managing scopes, hubs, enrollments, groups and registrations. Every change is logged. */
export class DpsAdminService {
  constructor(
    private readonly store: DpsStore,
    private readonly policies: PolicySet,
    private readonly clock: Clock,
  ) {}

  // ---- scopes ----------------------------------------------------------------------------

  async createScope(input: ScopeInput, actor: string): Promise<ScopeView> {
    const idScope = input.idScope ?? `0ne${randomBytes(4).toString("hex").toUpperCase()}`;
    if (!ID_SCOPE.test(idScope)) throw invalid(`ID scope "${clip(idScope)}" is invalid: use 1-63 letters, digits and -`);
    const description = input.description ?? "";
    if (description.length > 256) throw invalid("Cannot accept description: it is longer than 256 characters");
    const now = this.clock.now();
    const scope: ScopeRecord = { idScope, description, createdAt: now };
    await this.store.insertScope(scope, this.audit(now, actor, "dps.scope.create", idScope, { idScope, description }));
    return scopeView(scope);
  }

  async listScopes(): Promise<ScopeView[]> {
    return (await this.store.listScopes()).map(scopeView);
  }

  async getScope(idScope: string): Promise<ScopeView & { hubs: number; enrollments: number; groups: number; registrations: number }> {
    const scope = await this.scope(idScope);
    return { ...scopeView(scope), ...(await this.store.scopeContents(scope.idScope)) };
  }

  async deleteScope(idScope: string, force: boolean, actor: string): Promise<void> {
    const scope = await this.scope(idScope);
    const contents = await this.store.scopeContents(scope.idScope);
    const total = contents.hubs + contents.enrollments + contents.groups + contents.registrations;
    if (total > 0 && !force) {
      throw new AppError(
        "conflict",
        `ID scope ${scope.idScope} still holds ${contents.hubs} hubs, ${contents.enrollments} enrollments, ${contents.groups} groups and ${contents.registrations} registrations; pass force to delete it all`,
        contents,
      );
    }
    const now = this.clock.now();
    await this.store.deleteScope(
      scope.idScope,
      this.audit(now, actor, "dps.scope.delete", scope.idScope, { idScope: scope.idScope, ...contents }),
    );
  }

  // ---- hubs ------------------------------------------------------------------------------

  async createHub(idScope: string, input: HubInput, actor: string): Promise<HubView> {
    const scope = await this.scope(idScope);
    if (input.name === undefined) throw invalid("Cannot create hub: name is required");
    if (input.hostName === undefined) throw invalid("Cannot create hub: hostName is required");
    const now = this.clock.now();
    const hub = checkedHub({
      idScope: scope.idScope,
      name: input.name,
      hostName: input.hostName,
      weight: input.weight ?? 1,
      region: input.region ?? null,
      enabled: input.enabled ?? true,
      createdAt: now,
      updatedAt: now,
    });
    await this.store.insertHub(hub, this.audit(now, actor, "dps.hub.create", `${hub.idScope}/${hub.name}`, hubView(hub)));
    return hubView(hub);
  }

  async listHubs(idScope: string): Promise<HubView[]> {
    const scope = await this.scope(idScope);
    return (await this.store.listHubs(scope.idScope)).map(hubView);
  }

  async getHub(idScope: string, name: string): Promise<HubView> {
    return hubView(await this.hub(idScope, name));
  }

  async updateHub(idScope: string, name: string, input: HubInput, actor: string): Promise<HubView> {
    const hub = await this.hub(idScope, name);
    if (input.name !== undefined && input.name.toLowerCase() !== hub.name.toLowerCase()) throw invalid("A hub cannot be renamed");
    const now = this.clock.now();
    const next = checkedHub({
      ...hub,
      hostName: input.hostName ?? hub.hostName,
      weight: input.weight ?? hub.weight,
      region: input.region !== undefined ? input.region : hub.region,
      enabled: input.enabled ?? hub.enabled,
      updatedAt: now,
    });
    await this.store.replaceHub(
      next,
      this.audit(now, actor, "dps.hub.update", `${hub.idScope}/${hub.name}`, changes(hubView(hub), hubView(next))),
    );
    return hubView(next);
  }

  async deleteHub(idScope: string, name: string, actor: string): Promise<void> {
    const hub = await this.hub(idScope, name);
    const users: string[] = [];
    for (const kind of ["individual", "group"] as const) {
      await this.eachEnrollment(hub.idScope, kind, (e) => {
        if (e.allocation.hubs.some((h) => h.toLowerCase() === hub.name.toLowerCase())) users.push(`${kind}:${e.id}`);
      });
    }
    if (users.length > 0) {
      throw new AppError(
        "conflict",
        `Hub ${hub.name} is linked to ${users.slice(0, 5).join(", ")}${users.length > 5 ? ", …" : ""}; unlink it first`,
        {
          linkedTo: users,
        },
      );
    }
    const now = this.clock.now();
    await this.store.deleteHub(hub.idScope, hub.name, this.audit(now, actor, "dps.hub.delete", `${hub.idScope}/${hub.name}`, hubView(hub)));
  }

  // ---- enrollments and groups -------------------------------------------------------------

  async createEnrollment(
    idScope: string,
    kind: EnrollmentKind,
    id: string,
    input: EnrollmentInput,
    actor: string,
  ): Promise<EnrollmentWithKeys> {
    const scope = await this.scope(idScope);
    if (!isRegistrationId(id))
      throw invalid(
        `${kind === "group" ? "Group id" : "Registration id"} "${clip(id)}" is invalid: use 1-128 of A-Z a-z 0-9 - . _ : ending in a letter, digit or -`,
      );
    if (!input.attestation) throw invalid(`Cannot create ${kindName(kind)}: attestation is required (symmetricKey or x509)`);
    const now = this.clock.now();
    const { spec: attestation, keys } = attestationSpec(kind, input.attestation, null);
    const record = await checkedEnrollment(
      {
        idScope: scope.idScope,
        kind,
        id,
        attestation,
        provisioningStatus: input.provisioningStatus ?? "enabled",
        allowlists: { registrationIds: [], hardwareIds: [], sourceCidrs: [], ...input.allowlists },
        profile: input.profile ?? "device",
        allocation: {
          policy: "hashed",
          hubs: [],
          webhookUrl: null,
          webhookTimeoutMs: DEFAULT_WEBHOOK_TIMEOUT_MS,
          regionNetworks: [],
          ...input.allocation,
        },
        reprovision: { updateHubAssignment: true, migrateDeviceData: true, ...input.reprovision },
        deviceId: input.deviceId ?? null,
        initialTwin: input.initialTwin ?? null,
        capabilities: { iotEdge: input.capabilities?.iotEdge ?? false },
        etag: newEtag(),
        createdAt: now,
        updatedAt: now,
      },
      this.policies,
      (idScope) => this.store.listHubs(idScope),
    );
    const view = enrollmentView(record);
    await this.store.insertEnrollment(
      record,
      this.audit(now, actor, `dps.${kind === "group" ? "group" : "enrollment"}.create`, `${record.idScope}/${id}`, auditView(view)),
    );
    return keys ? { enrollment: view, keys } : { enrollment: view };
  }

  async listEnrollments(idScope: string, kind: EnrollmentKind, after?: string | null, limit = 100): Promise<Page<EnrollmentView>> {
    const scope = await this.scope(idScope);
    const page = await this.store.listEnrollments(scope.idScope, kind, { after, limit: pageLimit(limit) });
    return { items: page.items.map(enrollmentView), nextCursor: page.nextCursor };
  }

  async getEnrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentView> {
    return enrollmentView(await this.enrollment(idScope, kind, id));
  }

  /**
   * Applies `input` over the stored enrollment. `regenerateKeys` makes new symmetric keys and
   * returns them (once). `ifMatch` refuses the change when the enrollment's etag differs.
   */
  async updateEnrollment(
    idScope: string,
    kind: EnrollmentKind,
    id: string,
    input: EnrollmentInput,
    options: { regenerateKeys?: boolean; ifMatch?: string },
    actor: string,
  ): Promise<EnrollmentWithKeys> {
    const current = await this.enrollment(idScope, kind, id);
    if (options.ifMatch !== undefined && options.ifMatch !== current.etag) {
      throw new AppError("conflict", `Cannot update ${kindName(kind)} ${id}: it has etag ${current.etag}, not ${options.ifMatch}`);
    }
    let attestation = current.attestation;
    let keys: EnrollmentWithKeys["keys"];
    if (input.attestation || options.regenerateKeys) {
      const requested: AttestationInput = input.attestation ?? { type: "symmetricKey" };
      if (options.regenerateKeys && requested.type !== "symmetricKey") throw invalid("Only symmetric keys can be regenerated");
      const made = attestationSpec(kind, requested, options.regenerateKeys ? null : current.attestation);
      attestation = made.spec;
      keys = made.keys;
    }
    const now = this.clock.now();
    const next = await checkedEnrollment(
      {
        ...current,
        attestation,
        provisioningStatus: input.provisioningStatus ?? current.provisioningStatus,
        allowlists: { ...current.allowlists, ...input.allowlists },
        profile: input.profile ?? current.profile,
        allocation: { ...current.allocation, ...input.allocation },
        reprovision: { ...current.reprovision, ...input.reprovision },
        deviceId: input.deviceId !== undefined ? input.deviceId : current.deviceId,
        initialTwin: input.initialTwin !== undefined ? input.initialTwin : current.initialTwin,
        capabilities: { iotEdge: input.capabilities?.iotEdge ?? current.capabilities.iotEdge },
        etag: newEtag(),
        updatedAt: now,
      },
      this.policies,
      (idScope) => this.store.listHubs(idScope),
    );
    const details = changes(auditView(enrollmentView(current)), auditView(enrollmentView(next)));
    if (keys) details.keysRegenerated = true;
    await this.store.replaceEnrollment(
      next,
      current.etag,
      this.audit(now, actor, `dps.${kind === "group" ? "group" : "enrollment"}.update`, `${next.idScope}/${id}`, details),
    );
    return keys ? { enrollment: enrollmentView(next), keys } : { enrollment: enrollmentView(next) };
  }

  async deleteEnrollment(idScope: string, kind: EnrollmentKind, id: string, actor: string): Promise<void> {
    const e = await this.enrollment(idScope, kind, id);
    const now = this.clock.now();
    await this.store.deleteEnrollment(
      e.idScope,
      kind,
      e.id,
      this.audit(now, actor, `dps.${kind === "group" ? "group" : "enrollment"}.delete`, `${e.idScope}/${e.id}`, { kind, id: e.id }),
    );
  }

  /** A group member's device keys: HMAC-SHA256(groupKey, registrationId), for both group keys. */
  async deriveKey(idScope: string, groupId: string, registrationId: string): Promise<DerivedKeyView> {
    const group = await this.enrollment(idScope, "group", groupId);
    if (group.attestation.type !== "symmetricKey")
      throw invalid(`Enrollment group ${group.id} uses X.509 attestation; it has no keys to derive`);
    if (!isRegistrationId(registrationId)) throw invalid(`Registration id "${clip(registrationId)}" is invalid`);
    return {
      groupId: group.id,
      registrationId,
      primaryKey: deriveDeviceKey(group.attestation.primaryKey, registrationId),
      secondaryKey: deriveDeviceKey(group.attestation.secondaryKey, registrationId),
    };
  }

  // ---- registrations ---------------------------------------------------------------------

  async listRegistrations(idScope: string, query: RegistrationQuery = {}): Promise<Page<RegistrationView>> {
    const scope = await this.scope(idScope);
    const { after, limit, ...filter } = query;
    // Registrations record the hub's host name; operators name hubs by either.
    if (filter.assignedHub) {
      const byName = (await this.store.listHubs(scope.idScope)).find((h) => h.name.toLowerCase() === filter.assignedHub!.toLowerCase());
      if (byName) filter.assignedHub = byName.hostName;
    }
    const page = await this.store.listRegistrations(scope.idScope, filter, { after, limit: pageLimit(limit ?? 100) });
    return { items: page.items.map(registrationView), nextCursor: page.nextCursor };
  }

  async getRegistration(idScope: string, registrationId: string): Promise<RegistrationView> {
    const scope = await this.scope(idScope);
    const reg = await this.store.getRegistration(scope.idScope, registrationId);
    if (!reg) throw new AppError("not_found", `No registration ${registrationId} in scope ${scope.idScope}`);
    return registrationView(reg);
  }

  /** Forgets a device's registration: its next registration is an initial assignment. */
  async deleteRegistration(idScope: string, registrationId: string, actor: string): Promise<void> {
    const reg = await this.getRegistration(idScope, registrationId);
    const now = this.clock.now();
    await this.store.deleteRegistration(
      reg.idScope,
      reg.registrationId,
      this.audit(now, actor, "dps.registration.delete", `${reg.idScope}/${reg.registrationId}`, {
        registrationId: reg.registrationId,
        assignedHub: reg.assignedHub,
      }),
    );
  }

  // ---------------------------------------------------------------------------------------

  private async scope(idScope: string): Promise<ScopeRecord> {
    const scope = await this.store.getScope(idScope);
    if (!scope) throw new AppError("not_found", `No ID scope ${clip(idScope)}`);
    return scope;
  }

  private async hub(idScope: string, name: string): Promise<HubRecord> {
    const scope = await this.scope(idScope);
    const hub = await this.store.getHub(scope.idScope, name);
    if (!hub) throw new AppError("not_found", `No hub ${clip(name)} in scope ${scope.idScope}`);
    return hub;
  }

  private async enrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentRecord> {
    const scope = await this.scope(idScope);
    const e = await this.store.getEnrollment(scope.idScope, kind, id);
    if (!e) throw new AppError("not_found", `No ${kindName(kind)} ${clip(id)} in scope ${scope.idScope}`);
    return e;
  }

  private async eachEnrollment(idScope: string, kind: EnrollmentKind, fn: (e: EnrollmentRecord) => void): Promise<void> {
    let after: string | null = null;
    do {
      const page = await this.store.listEnrollments(idScope, kind, { after, limit: MAX_PAGE });
      page.items.forEach(fn);
      after = page.nextCursor;
    } while (after);
  }

  private audit(at: Date, actor: string, action: string, subject: string, details: object): AuditInput {
    return { at, actor, action, subject, details: details as Record<string, unknown> };
  }
}

// ---------------------------------------------------------------------------------------

function kindName(kind: EnrollmentKind): string {
  return kind === "group" ? "enrollment group" : "individual enrollment";
}

function newEtag(): string {
  return Buffer.from(`"${randomBytes(16).toString("hex")}"`).toString("base64");
}

/** Fields that differ between two views, as {field: {from, to}}. */
function changes(before: object, after: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (key === "updatedAt" || key === "etag") continue;
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out[key] = { from: a[key], to: b[key] };
  }
  return out;
}
