import { X509Certificate, randomBytes } from "node:crypto";
import type { DpsStore, RegistrationFilter } from "../../store/dps-store.js";
import type { Page } from "../../store/store.js";
import type { AuditInput } from "../../store/records.js";
import type {
  AllocationPolicyName,
  AllocationSpec,
  Allowlists,
  AttestationSpec,
  EnrollmentKind,
  EnrollmentRecord,
  HubRecord,
  RegistrationRecord,
  RegistrationStatus,
  ReprovisionSpec,
  ScopeRecord,
} from "../../store/dps-records.js";
import type { Clock } from "../../clock.js";
import type { PolicySet } from "../../policy/policy-set.js";
import { getProfile } from "../../policy/policy-set.js";
import { AppError } from "../../errors.js";
import { deriveDeviceKey, makeSymmetricKey } from "../sas/sas.js";
import { cidrProblem } from "./cidr.js";
import { isRegistrationId, isRegistrationIdPattern } from "./dps-allowlist.js";
import { MAX_PAGE, pageLimit } from "../page-limit.js";
import { jsonBoundsProblem } from "../json-bounds.js";

// ---------------------------------------------------------------------------------------
// Inputs (CLI and API alike) and views (what is shown; never keys, except once at creation)

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

const POLICIES: readonly AllocationPolicyName[] = ["hashed", "static", "geoLatency", "custom"];
const ID_SCOPE = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
const HUB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IP_HOST = /^\d{1,3}(?:\.\d{1,3}){3}$/;
/** IoT Hub device ids. */
const DEVICE_ID = /^[A-Za-z0-9\-.%_#*?!(),:=@$']{1,128}$/;
const MAX_LIST = 1000;
const MAX_TWIN_BYTES = 32 * 1024;
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
    const hub = validHub({
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
    const next = validHub({
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
    const record = await this.validEnrollment({
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
    });
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
    const next = await this.validEnrollment({
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
    });
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

  /** Checks everything but the attestation (already built) and resolves hub names to the stored spelling. */
  private async validEnrollment(e: EnrollmentRecord): Promise<EnrollmentRecord> {
    if (e.provisioningStatus !== "enabled" && e.provisioningStatus !== "disabled")
      throw invalid("Cannot accept provisioningStatus: it must be enabled or disabled");
    const lists = e.allowlists;
    for (const key of ["registrationIds", "hardwareIds", "sourceCidrs"] as const) {
      if (!Array.isArray(lists[key]) || lists[key].some((v) => typeof v !== "string"))
        throw invalid(`Cannot accept allowlists.${key}: it must be a list of strings`);
      if (lists[key].length > MAX_LIST) throw invalid(`Cannot accept allowlists.${key}: it has more than ${MAX_LIST} entries`);
    }
    const unknownListKeys = Object.keys(lists).filter((k) => !["registrationIds", "hardwareIds", "sourceCidrs"].includes(k));
    if (unknownListKeys.length) throw invalid(`Unknown allowlist ${unknownListKeys.join(", ")}`);
    for (const p of lists.registrationIds)
      if (!isRegistrationIdPattern(p)) throw invalid(`Registration-id pattern "${clip(p)}" is invalid: use the id alphabet with * and ?`);
    for (const h of lists.hardwareIds) if (h.length === 0 || h.length > 128) throw invalid("Hardware ids must be 1-128 characters");
    for (const c of lists.sourceCidrs) {
      const problem = cidrProblem(c);
      if (problem) throw invalid(`Source network ${problem}`);
    }
    getProfile(this.policies, e.profile);

    const a = e.allocation;
    const unknownAllocation = Object.keys(a).filter(
      (k) => !["policy", "hubs", "webhookUrl", "webhookTimeoutMs", "regionNetworks"].includes(k),
    );
    if (unknownAllocation.length) throw invalid(`Unknown allocation setting ${unknownAllocation.join(", ")}`);
    if (!POLICIES.includes(a.policy)) throw invalid(`Allocation policy must be one of ${POLICIES.join(", ")}`);
    if (!Array.isArray(a.hubs) || a.hubs.length > 100)
      throw invalid("Cannot accept allocation.hubs: it must be a list of at most 100 hub names");
    const scopeHubs = await this.store.listHubs(e.idScope);
    const hubs = a.hubs.map((name) => {
      const hub = typeof name === "string" ? scopeHubs.find((h) => h.name.toLowerCase() === name.toLowerCase()) : undefined;
      if (!hub) throw new AppError("not_found", `No hub ${clip(String(name))} in scope ${e.idScope}`);
      return hub.name;
    });
    if (new Set(hubs.map((h) => h.toLowerCase())).size !== hubs.length)
      throw invalid("Cannot accept allocation.hubs: it lists a hub twice");
    if (a.policy === "custom") {
      if (!a.webhookUrl) throw invalid("Custom allocation needs a webhookUrl");
    }
    if (a.webhookUrl !== null) {
      let url: URL | null = null;
      try {
        url = new URL(a.webhookUrl);
      } catch {
        // refused below
      }
      if (!url || url.protocol !== "https:")
        throw invalid(`Cannot accept webhookUrl "${clip(String(a.webhookUrl))}": it must be an https URL`);
    }
    if (!Number.isInteger(a.webhookTimeoutMs) || a.webhookTimeoutMs < 100 || a.webhookTimeoutMs > 60_000) {
      throw invalid("Cannot accept allocation.webhookTimeoutMs: it must be 100-60000");
    }
    if (!Array.isArray(a.regionNetworks) || a.regionNetworks.length > MAX_LIST)
      throw invalid("Cannot accept allocation.regionNetworks: it must be a list");
    for (const n of a.regionNetworks) {
      if (typeof n?.cidr !== "string" || typeof n.region !== "string" || n.region.length === 0 || n.region.length > 64) {
        throw invalid("Cannot accept allocation.regionNetworks: its entries are {cidr, region}");
      }
      const problem = cidrProblem(n.cidr);
      if (problem) throw invalid(`Region network ${problem}`);
    }

    if (typeof e.reprovision.updateHubAssignment !== "boolean" || typeof e.reprovision.migrateDeviceData !== "boolean") {
      throw invalid("Cannot accept reprovision: updateHubAssignment and migrateDeviceData must be true or false");
    }
    if (e.deviceId !== null) {
      if (e.kind === "group") throw invalid("An enrollment group has no device id: each device's is its registration id");
      if (typeof e.deviceId !== "string" || !DEVICE_ID.test(e.deviceId))
        throw invalid(`Device id "${clip(String(e.deviceId))}" is invalid`);
    }
    if (e.initialTwin !== null) {
      if (typeof e.initialTwin !== "object" || Array.isArray(e.initialTwin))
        throw invalid("Cannot accept initialTwin: it must be an object");
      const unbounded = jsonBoundsProblem(e.initialTwin, "initialTwin", { maxBytes: MAX_TWIN_BYTES });
      if (unbounded) throw invalid(unbounded);
    }
    if (typeof e.capabilities.iotEdge !== "boolean") throw invalid("Cannot accept capabilities.iotEdge: it must be true or false");
    return { ...e, allocation: { ...a, hubs } };
  }

  private audit(at: Date, actor: string, action: string, subject: string, details: object): AuditInput {
    return { at, actor, action, subject, details: details as Record<string, unknown> };
  }
}

// ---------------------------------------------------------------------------------------

function attestationSpec(
  kind: EnrollmentKind,
  input: AttestationInput,
  current: AttestationSpec | null,
): { spec: AttestationSpec; keys?: { primaryKey: string; secondaryKey: string } } {
  if (input.type === "symmetricKey") {
    const size = kind === "group" ? 64 : 32;
    const keep = current?.type === "symmetricKey" ? current : null;
    let generated = false;
    const key = (given: string | undefined, kept: string | undefined): string => {
      if (given !== undefined) return given;
      if (kept !== undefined) return kept;
      generated = true;
      return makeSymmetricKey(size);
    };
    const primaryKey = key(input.primaryKey, keep?.primaryKey);
    const secondaryKey = key(input.secondaryKey, keep?.secondaryKey);
    for (const [name, value] of [
      ["primaryKey", primaryKey],
      ["secondaryKey", secondaryKey],
    ] as const) {
      if (typeof value !== "string" || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) || Buffer.from(value, "base64").length < 16) {
        throw invalid(`Cannot accept ${name}: it must be base64 of at least 16 bytes`);
      }
    }
    return { spec: { type: "symmetricKey", primaryKey, secondaryKey }, ...(generated ? { keys: { primaryKey, secondaryKey } } : {}) };
  }
  if (input.type !== "x509") throw invalid("Cannot accept attestation.type: it must be symmetricKey or x509");
  if (kind === "group") {
    const pems = input.caCertificates ?? input.certificates ?? [];
    if (pems.length < 1 || pems.length > 2) throw invalid("An X.509 enrollment group needs one or two CA certificates (PEM)");
    for (const pem of pems) {
      const cert = parseCertificate(pem);
      if (!cert.ca) throw invalid(`Certificate ${cert.subject.replace(/\n/g, ", ")} is not a CA certificate`);
    }
    return { spec: { type: "x509", caCertificates: pems.map((p) => new X509Certificate(p).toString()) } };
  }
  const thumbprints = [
    ...(input.certificates ?? []).map((pem) => parseCertificate(pem).fingerprint256.replace(/:/g, "").toLowerCase()),
    ...(input.thumbprints ?? []).map((t) => t.replace(/:/g, "").toLowerCase()),
  ];
  if (thumbprints.length < 1 || thumbprints.length > 2)
    throw invalid("An X.509 individual enrollment needs one or two device certificates or SHA-256 thumbprints");
  for (const t of thumbprints) if (!/^[0-9a-f]{64}$/.test(t)) throw invalid(`"${clip(t)}" is not a SHA-256 thumbprint (64 hex digits)`);
  return { spec: { type: "x509", thumbprints } };
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new AppError("bad_encoding", "Cannot parse certificate: expected PEM or DER X.509");
  }
}

function validHub(hub: HubRecord): HubRecord {
  if (!HUB_NAME.test(hub.name)) throw invalid(`Hub name "${clip(hub.name)}" is invalid: use 1-63 letters, digits, . _ -`);
  if (!HOST_NAME.test(hub.hostName) && !IP_HOST.test(hub.hostName)) throw invalid(`Host name "${clip(hub.hostName)}" is not a DNS name`);
  if (!Number.isInteger(hub.weight) || hub.weight < 1 || hub.weight > 1000)
    throw invalid("Cannot accept weight: it must be an integer from 1 to 1000");
  if (hub.region !== null && (typeof hub.region !== "string" || hub.region.length === 0 || hub.region.length > 64)) {
    throw invalid("Cannot accept region: it must be 1-64 characters");
  }
  if (typeof hub.enabled !== "boolean") throw invalid("Cannot accept enabled: it must be true or false");
  return hub;
}

function kindName(kind: EnrollmentKind): string {
  return kind === "group" ? "enrollment group" : "individual enrollment";
}

function invalid(message: string): AppError {
  return new AppError("invalid_argument", message);
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
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

/** What of an enrollment goes into the log: everything shown, minus bulky certificates. */
function auditView(view: EnrollmentView): Record<string, unknown> {
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
        const c = new X509Certificate(pem);
        return {
          subject: c.subject.split("\n").join(", "),
          sha256: c.fingerprint256.replace(/:/g, "").toLowerCase(),
          notAfter: new Date(c.validTo).toISOString(),
        };
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
