import type { Store } from "../../store/store.js";
import type { LifecycleStore, SasPolicyRecord } from "../../store/lifecycle-store.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { Clock } from "../../clock.js";
import { AppError, ERROR_TABLE, toAppError } from "../../errors.js";
import type { RefusalLog } from "../audit/refusal-log.js";
import { AttestationError, type AttestationRefusal } from "../attestation/attestor.js";
import { clip } from "../clip.js";
import type { DeviceRequest, DpsService } from "./dps-service.js";
import type { HubService } from "../hub-api/hub-service.js";
import { deviceStanding, refusalMessage } from "../hub-api/device-standing.js";
import { coversResource, createSasToken, deriveDeviceKey, encodeUriComponentStrict, parseSasToken } from "../sas/sas.js";
import type { DeviceAuthReason } from "../hub-api/hub-api-types.js";

/** What a device may ask for; everything else is decided by the scope's policy. */
export interface SasTokenRequest {
  /** Wanted lifetime in seconds; over the policy's maximum it is clamped to it. Default: the policy's default. */
  ttlSeconds?: number;
}

/** The answer: a hub device token, never the key that signed it. */
export interface IssuedSasToken {
  sasToken: string;
  expiresAt: string;
  /** The lifetime given, seconds (the request's, clamped to the policy's maximum). */
  ttlSeconds: number;
  assignedHub: string;
  deviceId: string;
  /** skn: the hub policy that signed, or null for the device's own key. */
  keyName: string | null;
}

export interface SasPolicyView {
  idScope: string;
  maxTtlSeconds: number;
  defaultTtlSeconds: number;
  deviceKeys: boolean;
  signingPolicy: string | null;
  /** When it was last set and by whom; null while the defaults apply. */
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface SasPolicyChange {
  maxTtlSeconds?: number;
  defaultTtlSeconds?: number;
  deviceKeys?: boolean;
  /** A hub policy name, or null to sign with devices' own keys. */
  signingPolicy?: string | null;
}

/** Without a policy of its own a scope issues tokens for up to a day, an hour by default, signed with the device's key. */
export const DEFAULT_SAS_POLICY = { maxTtlSeconds: 86_400, defaultTtlSeconds: 3600, deviceKeys: true, signingPolicy: null } as const;

/** A token lives at least a minute (clock skew would eat a shorter one) and at most a year. */
const MIN_TTL_SECONDS = 60;
const MAX_TTL_SECONDS = 365 * 86_400;

type Credential = "x509" | "dpsSas" | "hubSas";

/**
 * SAS tokens on demand: a device that proves itself to the device endpoint (its certificate
 * over mTLS, a DPS registration token, or the hub token it holds now) gets a fresh hub device
 * token for the hub it is assigned to, signed with the key that hub's device-auth checks, for a
 * lifetime bounded by its scope's policy. Issuing changes nothing, but each issue is a log entry
 * (`sas.issue`, never the token) and each refusal a bounded refusal entry (`sas.issue.refuse`).
 */
export class SasOnDemandService {
  constructor(
    private readonly deps: {
      store: Store;
      dps: DpsStore;
      lifecycle: LifecycleStore;
      registrations: DpsService;
      hubs: HubService;
      clock: Clock;
      refusals?: RefusalLog;
    },
  ) {}

  /** A fresh token for the device, or a typed refusal (logged). */
  async issue(request: DeviceRequest, wanted: SasTokenRequest): Promise<IssuedSasToken> {
    try {
      return await this.issueChecked(request, wanted);
    } catch (err) {
      const error = toAppError(err);
      const status = ERROR_TABLE[error.code].status;
      if (status >= 400 && status < 500) await this.refused(request, error);
      throw err;
    }
  }

  /** Logs a refused request: what the device claimed and where from, never what it presented. */
  async refused(request: { idScope: string; registrationId: string; sourceAddress: string }, error: AppError): Promise<void> {
    const idScope = clip(request.idScope, 64);
    const registrationId = clip(request.registrationId, 128);
    const reason = error instanceof AttestationError ? error.reason : undefined;
    await this.deps.refusals?.record({
      action: "sas.issue.refuse",
      actor: `dps:${idScope}/${registrationId}`,
      source: request.sourceAddress || null,
      code: error.code,
      message: error.message,
      subject: `${idScope}/${registrationId}`,
      details: { idScope, registrationId, ...(reason ? { reason } : {}) },
    });
  }

  private async issueChecked(request: DeviceRequest, wanted: SasTokenRequest): Promise<IssuedSasToken> {
    const scope = await this.deps.dps.getScope(request.idScope);
    if (!scope) throw new AppError("not_found", `Unknown ID scope ${request.idScope}`);
    const idScope = scope.idScope;
    const policy = await this.policyRecord(idScope);
    const ttlSeconds = this.lifetime(wanted.ttlSeconds, policy);

    const hubToken = this.hubToken(request, idScope);
    let credential: Credential;
    if (hubToken) {
      await this.checkHubToken({ ...request, idScope }, hubToken);
      credential = "hubSas";
    } else {
      const admitted = await this.deps.registrations.admit({ ...request, idScope }, {}, { poll: true });
      credential = admitted.attestation.used.method === "symmetricKey" ? "dpsSas" : "x509";
    }

    const reg = await this.deps.lifecycle.registration(idScope, request.registrationId);
    if (!reg || reg.status !== "assigned" || !reg.assignedHub) {
      throw new AppError("not_found", `Registration ${clip(request.registrationId)} is not assigned to a hub: register first`);
    }
    const standing = await deviceStanding(this.deps, reg);
    if (standing.refusal) throw new AppError("forbidden", `${refusalMessage(standing.refusal, reg)}: no SAS token is issued`);
    const enrollment = standing.enrollment!;
    const hub = (await this.deps.dps.listHubs(idScope)).find((h) => h.hostName.toLowerCase() === reg.assignedHub!.toLowerCase());
    if (!hub || !hub.enabled) throw new AppError("forbidden", `Hub ${reg.assignedHub} is disabled or gone: no SAS token is issued`);
    const deviceId = reg.deviceId ?? reg.registrationId;

    let key: string;
    let keyName: string | null;
    if (policy.signingPolicy) {
      const signer = await this.deps.lifecycle.getHubPolicy(idScope, hub.name, policy.signingPolicy);
      if (!signer || !signer.rights.includes("DeviceConnect")) {
        throw new AppError(
          "conflict",
          `Hub ${hub.name} has no shared access policy ${policy.signingPolicy} with DeviceConnect to sign the token: add it (dpki hub policy add) or change the scope's signing policy (dpki sas policy)`,
        );
      }
      key = signer.primaryKey;
      keyName = signer.name;
    } else {
      const att = enrollment.attestation;
      if (att.type !== "symmetricKey") {
        throw new AppError(
          "conflict",
          `Device ${deviceId} attests with X.509 and has no symmetric key to sign with: name a hub policy with DeviceConnect (dpki sas policy --signing-policy NAME)`,
        );
      }
      key = enrollment.kind === "group" ? deriveDeviceKey(att.primaryKey, reg.registrationId) : att.primaryKey;
      keyName = null;
    }

    const now = this.deps.clock.now();
    const expiry = Math.floor(now.getTime() / 1000) + ttlSeconds;
    const sasToken = createSasToken({ resourceUri: encodeUriComponentStrict(`${hub.hostName}/devices/${deviceId}`), key, keyName, expiry });
    const expiresAt = new Date(expiry * 1000).toISOString().replace(/\.000Z$/, "Z");
    await this.deps.store.appendAudit({
      at: now,
      actor: `dps:${idScope}/${reg.registrationId}`,
      action: "sas.issue",
      subject: `${idScope}/${reg.registrationId}`,
      source: request.sourceAddress || null,
      details: {
        idScope,
        registrationId: reg.registrationId,
        deviceId,
        hub: hub.hostName,
        keyName,
        credential,
        ttlSeconds,
        ...(wanted.ttlSeconds !== undefined && wanted.ttlSeconds !== ttlSeconds ? { requestedTtlSeconds: wanted.ttlSeconds } : {}),
        expiresAt,
      },
    });
    return { sasToken, expiresAt, ttlSeconds, assignedHub: hub.hostName, deviceId, keyName };
  }

  /** The request's lifetime: default when absent, refused when not a whole number of at least a minute, clamped to the maximum. */
  private lifetime(wanted: number | undefined, policy: Omit<SasPolicyRecord, "idScope" | "updatedAt" | "updatedBy">): number {
    if (wanted === undefined) return policy.defaultTtlSeconds;
    if (!Number.isSafeInteger(wanted) || wanted < MIN_TTL_SECONDS) {
      throw new AppError("invalid_argument", `ttlSeconds must be a whole number of seconds, at least ${MIN_TTL_SECONDS}`);
    }
    return Math.min(wanted, policy.maxTtlSeconds);
  }

  /** The Authorization token when it is a hub device token (sr under a host, not `{scope}/registrations/…`), else null. */
  private hubToken(request: DeviceRequest, idScope: string): string | null {
    const token = request.authorization;
    if (!token) return null;
    let sr: string;
    try {
      sr = decodeURIComponent(parseSasToken(token).sr);
    } catch {
      return null; // malformed: the registration flow's attestor says why
    }
    return coversResource(`${idScope}/registrations`, sr, true) ? null : token;
  }

  /** The hub token the device holds now, checked exactly as its hub checks it. */
  private async checkHubToken(request: DeviceRequest, token: string): Promise<void> {
    const reg = await this.deps.lifecycle.registration(request.idScope, request.registrationId);
    if (!reg?.assignedHub) {
      throw new AttestationError("no_enrollment", `Registration ${clip(request.registrationId)} has no hub whose token could vouch for it`);
    }
    const hub = await this.deps.hubs.resolve({ role: "admin", scope: request.idScope, hub: null }, reg.assignedHub);
    const verdict = await this.deps.hubs.deviceAuth(hub, { deviceId: reg.deviceId ?? reg.registrationId, sasToken: token });
    if (!verdict.allow) throw new AttestationError(attestationRefusal(verdict.reason), `The hub token was refused: ${verdict.message}`);
  }

  // ---- policy ----------------------------------------------------------------------------

  async policy(idScope: string): Promise<SasPolicyView> {
    const scope = await this.deps.dps.getScope(idScope);
    if (!scope) throw new AppError("not_found", `Unknown ID scope ${idScope}`);
    const stored = await this.deps.lifecycle.getSasPolicy(scope.idScope);
    return view(scope.idScope, stored);
  }

  /** Changes the named settings (the rest keep their value), logged as `sas.policy.set`. */
  async setPolicy(idScope: string, change: SasPolicyChange, actor: string): Promise<SasPolicyView> {
    const current = await this.policy(idScope);
    const next = {
      maxTtlSeconds: change.maxTtlSeconds ?? current.maxTtlSeconds,
      defaultTtlSeconds: change.defaultTtlSeconds ?? Math.min(current.defaultTtlSeconds, change.maxTtlSeconds ?? Infinity),
      deviceKeys: change.deviceKeys ?? current.deviceKeys,
      signingPolicy: change.signingPolicy !== undefined ? change.signingPolicy : current.signingPolicy,
    };
    for (const [name, value] of [
      ["maxTtlSeconds", next.maxTtlSeconds],
      ["defaultTtlSeconds", next.defaultTtlSeconds],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < MIN_TTL_SECONDS || value > MAX_TTL_SECONDS) {
        throw new AppError("invalid_argument", `${name} must be whole seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS} (a year)`);
      }
    }
    if (next.defaultTtlSeconds > next.maxTtlSeconds) {
      throw new AppError("invalid_argument", `The default lifetime (${next.defaultTtlSeconds} s) exceeds the maximum (${next.maxTtlSeconds} s)`);
    }
    if (typeof next.deviceKeys !== "boolean") throw new AppError("invalid_argument", "deviceKeys must be true or false");
    if (next.signingPolicy !== null && (typeof next.signingPolicy !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(next.signingPolicy))) {
      throw new AppError("invalid_argument", "signingPolicy must name a hub shared access policy (1-64 of A-Z a-z 0-9 . _ -) or be null");
    }
    if (!next.deviceKeys && next.signingPolicy === null) {
      throw new AppError(
        "invalid_argument",
        "With device keys denied the hub refuses tokens signed with them, so tokens on demand need another key: name a signing policy (--signing-policy NAME)",
      );
    }
    const now = this.deps.clock.now();
    const record: SasPolicyRecord = { idScope: current.idScope, ...next, updatedAt: now, updatedBy: actor };
    await this.deps.lifecycle.putSasPolicy(record, {
      at: now,
      actor,
      action: "sas.policy.set",
      subject: current.idScope,
      details: { idScope: current.idScope, ...next },
    });
    return view(current.idScope, record);
  }

  private async policyRecord(idScope: string): Promise<Omit<SasPolicyRecord, "idScope" | "updatedAt" | "updatedBy">> {
    return (await this.deps.lifecycle.getSasPolicy(idScope)) ?? DEFAULT_SAS_POLICY;
  }
}

/** The hub's refusal reason as a device-endpoint credential refusal. */
function attestationRefusal(reason: DeviceAuthReason): AttestationRefusal {
  switch (reason) {
    case "unknown_device":
    case "disabled":
      return "no_enrollment";
    case "rights":
      return "key_name";
    case "ok":
      return "untrusted";
    default:
      return reason;
  }
}

function view(idScope: string, stored: SasPolicyRecord | null): SasPolicyView {
  const p = stored ?? DEFAULT_SAS_POLICY;
  return {
    idScope,
    maxTtlSeconds: p.maxTtlSeconds,
    defaultTtlSeconds: p.defaultTtlSeconds,
    deviceKeys: p.deviceKeys,
    signingPolicy: p.signingPolicy,
    updatedAt: stored ? stored.updatedAt.toISOString() : null,
    updatedBy: stored ? stored.updatedBy : null,
  };
}
