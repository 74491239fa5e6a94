import { randomBytes } from "node:crypto";
import { isRevocationReason, type RevocationReason } from "../../../ca/revocation-reason.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { EnrollmentKind, EnrollmentRecord } from "../../store/dps-records.js";
import type { LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { Store } from "../../store/store.js";
import type { HubPolicyService } from "../hub-api/hub-policy-service.js";
import { certRevokedAudit } from "../issuance/certificate-service.js";
import {
  changeKeys,
  createSasToken,
  deriveDeviceKey,
  encodeUriComponentStrict,
  KEY_CHANGES,
  keyFingerprint,
  type KeyChange,
} from "../sas/sas.js";

/** What a key rotation touches. */
export type RotationTarget =
  | { kind: "enrollment"; idScope: string; registrationId: string }
  | { kind: "group"; idScope: string; groupId: string }
  | { kind: "hubPolicy"; idScope: string; hub: string; policy: string };

/** Which key to regenerate (or swap both); `confirm` accepts refusing the devices still using it. */
export interface RotationChange {
  key: KeyChange;
  confirm?: boolean;
}

export interface KeyRotationResult {
  target: RotationTarget;
  key: KeyChange;
  /** The regenerated key, shown this once (none after a swap: both keys were known before). */
  primaryKey?: string;
  secondaryKey?: string;
  /** Registrations that last authenticated with the regenerated key: refused from now on. */
  registrationsRefused: number;
  rotatedAt: string;
}

export interface EnrollmentRevocationResult {
  idScope: string;
  kind: EnrollmentKind;
  id: string;
  reason: RevocationReason;
  revokedAt: string;
  /** Registrations of the enrollment; each is refused from now on. */
  devices: number;
  certificatesRevoked: number;
}

/** Which SAS token to mint. Keys never leave the server: only the token is returned. */
export type MintRequest =
  /** A DPS registration token: sr `{scope}/registrations/{id}` (raw, as the SDK sends it), skn `registration`. */
  | { kind: "registration"; registrationId: string; groupId?: string }
  /** A hub device token: sr = encoded `{hub host}/devices/{deviceId}[/modules/{m}]`, no skn, from the device's key. */
  | { kind: "device"; registrationId?: string; deviceId?: string; groupId?: string; hub?: string; moduleId?: string }
  /** A hub policy token: sr = the hub host (or a device under it), skn = the policy. */
  | { kind: "policy"; hub: string; policy: string; deviceId?: string };

export interface MintOptions {
  /** se, seconds since the epoch. */
  expiry: number;
  /** Sign with the secondary key instead of the primary. */
  secondary?: boolean;
}

export interface MintedTokenView {
  token: string;
  /** sr exactly as in the token. */
  resource: string;
  keyName: string | null;
  expiry: string;
  expiresAt: string;
}

/**
 * Symmetric-key credentials of enrollments, groups and hub policies: key rotation (secondary →
 * primary, a fresh secondary, both valid in the overlap, logged, old keys never shown again),
 * revocation of a whole enrollment or group (its devices and their certificates, in one logged
 * transaction), and SAS tokens minted from stored keys.
 */
export class CredentialService {
  constructor(
    private readonly deps: {
      dps: DpsStore;
      lifecycle: LifecycleStore;
      hubPolicies: HubPolicyService;
      store: Store;
      clock: Clock;
    },
  ) {}

  /**
   * Regenerates one named key while the other keeps working, or swaps them (Azure's two-key
   * model). Regenerating a key that registrations last authenticated with refuses those devices,
   * so it needs `confirm` when there are any; the count is in the refusal and the result.
   */
  async rotate(target: RotationTarget, change: RotationChange, actor: string): Promise<KeyRotationResult> {
    if (!KEY_CHANGES.includes(change.key)) {
      throw new AppError("invalid_argument", `Name the key to change: primary, secondary or swap (not "${String(change.key)}")`);
    }
    if (target.kind === "hubPolicy") {
      const rotated = await this.deps.hubPolicies.rotatePolicyKeys(target.idScope, target.hub, target.policy, change.key, actor);
      return { target, key: change.key, ...rotated.keys, registrationsRefused: 0, rotatedAt: rotated.policy.rotatedAt! };
    }
    const kind: EnrollmentKind = target.kind === "group" ? "group" : "individual";
    const id = target.kind === "group" ? target.groupId : target.registrationId;
    const current = await this.enrollment(target.idScope, kind, id);
    if (current.attestation.type !== "symmetricKey") {
      throw new AppError(
        "invalid_argument",
        `${describe(current)} uses X.509 attestation: it has no keys to rotate (update its certificates instead)`,
      );
    }
    if (await this.deps.lifecycle.enrollmentBlock(current.idScope, kind, current.id)) {
      throw new AppError("already_revoked", `${describe(current)} was revoked; its keys cannot be rotated`);
    }
    const keys = current.attestation;
    const refused =
      change.key === "swap" ? 0 : await this.registrationsUsing(current, change.key === "primary" ? 0 : 1, keys[`${change.key}Key`]);
    if (refused > 0 && !change.confirm) {
      throw new AppError(
        "confirmation_required",
        `${describe(current)}: ${refused} registration${refused === 1 ? "" : "s"} last authenticated with its ${change.key} key ` +
          `and will be refused once it is regenerated; confirm to go ahead`,
        { registrationsRefused: refused, key: change.key },
      );
    }
    const now = this.deps.clock.now();
    const nextKeys = changeKeys(keys, change.key, kind === "group" ? 64 : 32);
    const next: EnrollmentRecord = {
      ...current,
      attestation: nextKeys,
      etag: Buffer.from(`"${randomBytes(16).toString("hex")}"`).toString("base64"),
      updatedAt: now,
    };
    await this.deps.dps.replaceEnrollment(next, current.etag, {
      at: now,
      actor,
      action: "key.rotate",
      subject: `${current.idScope}/${current.id}`,
      details: { target: target.kind, idScope: current.idScope, kind, id: current.id, key: change.key, registrationsRefused: refused },
    });
    return {
      target,
      key: change.key,
      ...(change.key === "primary" ? { primaryKey: nextKeys.primaryKey } : {}),
      ...(change.key === "secondary" ? { secondaryKey: nextKeys.secondaryKey } : {}),
      registrationsRefused: refused,
      rotatedAt: now.toISOString(),
    };
  }

  /**
   * Registrations whose latest authentication used `key`. Registrations recorded before key
   * fingerprints were kept are counted by slot.
   */
  private async registrationsUsing(enrollment: EnrollmentRecord, slot: number, key: string): Promise<number> {
    const keyId = keyFingerprint(key);
    let count = 0;
    let after: string | undefined;
    do {
      const page = await this.deps.dps.listRegistrations(
        enrollment.idScope,
        { enrollmentKind: enrollment.kind, enrollmentId: enrollment.id },
        { limit: 500, after },
      );
      for (const reg of page.items) {
        const used = reg.attestation;
        if (used.method !== "symmetricKey") continue;
        if (used.keyId !== undefined ? used.keyId === keyId : used.keyIndex === slot) count++;
      }
      after = page.nextCursor ?? undefined;
    } while (after);
    return count;
  }

  /** Revokes an individual enrollment or a group: blocked for good, disabled, and every certificate of its devices revoked. */
  async revokeEnrollment(
    idScope: string,
    kind: EnrollmentKind,
    id: string,
    reason: string,
    actor: string,
  ): Promise<EnrollmentRevocationResult> {
    if (!isRevocationReason(reason)) throw new AppError("invalid_argument", `Unknown revocation reason "${reason}"`);
    const enrollment = await this.enrollment(idScope, kind, id);
    const now = this.deps.clock.now();
    const { devices, certificatesRevoked } = await this.deps.lifecycle.revokeEnrollment(
      { idScope: enrollment.idScope, kind, id: enrollment.id, blockedAt: now, reason, blockedBy: actor },
      {
        at: now,
        actor,
        action: "enrollment.revoke",
        subject: `${enrollment.idScope}/${enrollment.id}`,
        details: { idScope: enrollment.idScope, kind, id: enrollment.id, reason, provisioningStatus: "disabled" },
      },
      (cert) =>
        certRevokedAudit(cert, reason, actor, now, {
          cascade: `${kind === "group" ? "group" : "enrollment"}:${enrollment.idScope}/${enrollment.id}`,
        }),
    );
    return { idScope: enrollment.idScope, kind, id: enrollment.id, reason, revokedAt: now.toISOString(), devices, certificatesRevoked };
  }

  /** Mints a SAS token from stored keys, logged (never the token or key). */
  async mint(idScope: string, request: MintRequest, options: MintOptions, actor: string): Promise<MintedTokenView> {
    const slot = options.secondary ? 1 : 0;
    let resource: string;
    let keyName: string | null;
    let key: string;
    let target: Record<string, unknown>;
    switch (request.kind) {
      case "registration": {
        const { enrollment, registrationId } = await this.keySource(idScope, request.registrationId, request.groupId);
        key = deviceKey(enrollment, registrationId, slot);
        resource = `${enrollment.idScope}/registrations/${registrationId}`;
        keyName = "registration";
        target = { registrationId, enrollment: `${enrollment.kind}:${enrollment.id}` };
        break;
      }
      case "device": {
        const reg = request.registrationId
          ? await this.deps.lifecycle.registration(idScope, request.registrationId)
          : request.deviceId && request.hub
            ? await this.deps.lifecycle.registrationByDevice(idScope, await this.hubHost(idScope, request.hub), request.deviceId)
            : null;
        const registrationId = request.registrationId ?? reg?.registrationId;
        if (!registrationId) throw new AppError("invalid_argument", "Name the device: registrationId, or deviceId with hub");
        const { enrollment } = await this.keySource(
          idScope,
          registrationId,
          request.groupId ?? (reg?.enrollmentKind === "group" ? reg.enrollmentId : undefined),
        );
        key = deviceKey(enrollment, registrationId, slot);
        const host = request.hub ? await this.hubHost(idScope, request.hub) : reg?.assignedHub;
        if (!host) throw new AppError("invalid_argument", `Device ${registrationId} is not assigned to a hub yet: name the hub`);
        const deviceId = request.deviceId ?? reg?.deviceId ?? enrollment.deviceId ?? registrationId;
        resource = encodeUriComponentStrict(`${host}/devices/${deviceId}${request.moduleId ? `/modules/${request.moduleId}` : ""}`);
        keyName = null;
        target = { registrationId, deviceId, hub: host, enrollment: `${enrollment.kind}:${enrollment.id}` };
        break;
      }
      case "policy": {
        const policy = await this.deps.hubPolicies.policy(idScope, request.hub, request.policy);
        const host = await this.hubHost(idScope, policy.hub);
        key = slot ? policy.secondaryKey : policy.primaryKey;
        resource = request.deviceId ? encodeUriComponentStrict(`${host}/devices/${request.deviceId}`) : host;
        keyName = policy.name;
        target = { hub: policy.hub, policy: policy.name, ...(request.deviceId ? { deviceId: request.deviceId } : {}) };
        break;
      }
      default:
        throw new AppError("invalid_argument", `Unknown token kind "${(request as { kind: string }).kind}"`);
    }
    if (!Number.isSafeInteger(options.expiry) || options.expiry <= 0)
      throw new AppError("invalid_argument", "Cannot accept expiry: it must be seconds since the epoch");
    const token = createSasToken({ resourceUri: resource, key, keyName, expiry: options.expiry });
    const now = this.deps.clock.now();
    const expiresAt = new Date(options.expiry * 1000).toISOString().replace(/\.000Z$/, "Z");
    await this.deps.store.appendAudit({
      at: now,
      actor,
      action: "sas.mint",
      subject: `${idScope}/${request.kind}`,
      details: { idScope, kind: request.kind, ...target, keyName, key: slot ? "secondary" : "primary", expiresAt },
    });
    return { token, resource, keyName, expiry: String(options.expiry), expiresAt };
  }

  /** The enrollment holding a device's key: its individual enrollment, else the named (or registered) group. */
  private async keySource(
    idScope: string,
    registrationId: string,
    groupId: string | undefined,
  ): Promise<{ enrollment: EnrollmentRecord; registrationId: string }> {
    let enrollment: EnrollmentRecord | null = null;
    if (groupId) enrollment = await this.enrollment(idScope, "group", groupId);
    else {
      enrollment = await this.deps.dps.getEnrollment(idScope, "individual", registrationId);
      if (!enrollment) {
        const reg = await this.deps.lifecycle.registration(idScope, registrationId);
        if (reg) enrollment = await this.deps.dps.getEnrollment(reg.idScope, reg.enrollmentKind, reg.enrollmentId);
      }
    }
    if (!enrollment)
      throw new AppError(
        "not_found",
        `No individual enrollment or registration for ${registrationId} in scope ${idScope}: for a device of an enrollment group that has not registered yet, name the group (CLI --group, API groupId)`,
      );
    if (enrollment.attestation.type !== "symmetricKey")
      throw new AppError("invalid_argument", `${describe(enrollment)} uses X.509 attestation: it has no keys`);
    // Derived keys use the registration id as the device sends it; a registered device's stored id is that.
    const reg = await this.deps.lifecycle.registration(enrollment.idScope, registrationId);
    return { enrollment, registrationId: reg?.registrationId ?? registrationId };
  }

  private async enrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentRecord> {
    const e = await this.deps.dps.getEnrollment(idScope, kind, id);
    if (!e)
      throw new AppError("not_found", `No ${kind === "group" ? "enrollment group" : "individual enrollment"} ${id} in scope ${idScope}`);
    return e;
  }

  private async hubHost(idScope: string, hub: string): Promise<string> {
    const record = await this.deps.dps.getHub(idScope, hub);
    if (!record) throw new AppError("not_found", `No hub ${hub} in scope ${idScope}`);
    return record.hostName;
  }
}

function deviceKey(enrollment: EnrollmentRecord, registrationId: string, slot: number): string {
  const att = enrollment.attestation;
  if (att.type !== "symmetricKey") throw new AppError("invalid_argument", `${describe(enrollment)} uses X.509 attestation: it has no keys`);
  const key = slot ? att.secondaryKey : att.primaryKey;
  return enrollment.kind === "group" ? deriveDeviceKey(key, registrationId) : key;
}

function describe(e: EnrollmentRecord): string {
  return `${e.kind === "group" ? "Enrollment group" : "Individual enrollment"} ${e.id}`;
}
