import { X509Certificate } from "node:crypto";
import type { Store } from "../../store/store.js";
import type { CertificateRecord } from "../../store/records.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { EnrollmentRecord, HubRecord } from "../../store/dps-records.js";
import {
  HUB_RIGHTS,
  type DeviceRegistration,
  type HubChangeKind,
  type HubPolicyRecord,
  type HubRight,
  type LifecycleStore,
} from "../../store/lifecycle-store.js";
import { decodeCursor, encodeCursor } from "../../store/cursor.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { changeKeys, deriveDeviceKey, makeSymmetricKey, parseSasToken, verifySasToken, type KeyChange } from "../sas/sas.js";
import type { CredentialStatus } from "../lifecycle/credential-status.js";
import { X509Attestor } from "../attestation/x509.js";
import { pageLimit } from "../page-limit.js";
import { AttestationError, type AttestationContext } from "../attestation/attestor.js";

/** Who is asking: an API principal's role, and for hub tokens the one hub (and scope) they act for. */
export interface HubCaller {
  role: string;
  scope: string | null;
  hub: string | null;
}

/** A hub as the hub API resolved it. */
export interface ResolvedHub {
  idScope: string;
  name: string;
  hostName: string;
  enabled: boolean;
}

export interface HubPolicyView {
  idScope: string;
  hub: string;
  name: string;
  rights: HubRight[];
  createdAt: string;
  updatedAt: string;
  rotatedAt: string | null;
}

/** Returned once, when a policy is created (both keys) or its keys rotated (the new secondary). */
export interface HubPolicyWithKeys {
  policy: HubPolicyView;
  keys: { primaryKey?: string; secondaryKey?: string };
}

export interface HubDeviceCertificate {
  serial: string;
  sha256: string;
  sha1: string;
  notBefore: string;
  notAfter: string;
  status: "good" | "revoked" | "expired";
  revokedAt: string | null;
  revocationReason: string | null;
  /** When this certificate stops being good because it was renewed (grace period end), or null. */
  supersededAt: string | null;
}

export interface HubDeviceView {
  hub: string;
  hostName: string;
  deviceId: string;
  registrationId: string;
  enrollment: { kind: "individual" | "group"; id: string; provisioningStatus: "enabled" | "disabled" | null };
  /** The registration's DPS status. */
  status: "assigned" | "failed" | "disabled";
  /** Whether the device may connect now; when not, `disabledReason` says why. */
  enabled: boolean;
  disabledReason: "registrationDisabled" | "enrollmentDisabled" | "enrollmentRevoked" | "enrollmentDeleted" | null;
  authentication: {
    type: "symmetricKey" | "x509";
    /** x509: SHA-256 thumbprints of the enrolled device certificates (individual) or signing CAs (group). */
    thumbprints: string[];
  };
  /** Certificates dpki issued to the device (at registration and renewals), newest first. */
  certificates: HubDeviceCertificate[];
  assignedAt: string;
  updatedAt: string;
}

export type DeviceAuthReason =
  | "ok"
  | "malformed"
  | "unknown_device"
  | "disabled"
  | "revoked"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "resource"
  | "key_name"
  | "rights"
  | "wrong_method"
  | "subject"
  | "untrusted";

export interface DeviceAuthVerdict {
  allow: boolean;
  reason: DeviceAuthReason;
  message: string;
  deviceId: string | null;
  registrationId: string | null;
  /** How long the hub may reuse this answer; 0 for refusals (a later attempt may succeed). */
  cacheTtlSeconds: number;
  credential?:
    | { type: "sas"; keyName: string | null; keyIndex: number; expiresAt: string }
    | { type: "x509"; sha256: string; serial: string; notAfter: string; issuedByDpki: boolean };
}

export interface DeviceAuthRequest {
  deviceId?: string;
  moduleId?: string;
  /** `SharedAccessSignature sr=…&sig=…[&skn=…]&se=…` exactly as the device sent it. */
  sasToken?: string;
  /** The client certificate chain from the TLS handshake: base64 DER, leaf first. */
  certificateChain?: string[];
}

export interface HubChangeView {
  /** Pass back as `after` to continue after this change. */
  cursor: string;
  at: string;
  kind: HubChangeKind;
  deviceId: string | null;
  registrationId: string | null;
  details: Record<string, unknown>;
}

export interface HubChangesPage {
  items: HubChangeView[];
  /** Where to continue from: the last item's cursor, or the one given when nothing is new. Never null. */
  nextCursor: string;
  /** More changes are waiting beyond this page. */
  more: boolean;
}

export interface HubServiceOptions {
  /** Longest time a hub may cache an `allow`. */
  authCacheTtlMs: number;
  skewMs: number;
}

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9._ ()!*'-]{0,63}$/;
const HUB_CACHE_MS = 2_000;
const FEED_BATCH = 5_000;

/**
 * The hub-facing side of dpki: a hub's shared access policies (managed by operators), and the
 * hub API (called by a hub with a token bound to it): what a device's assignment and
 * credentials are, whether a SAS token or client certificate chain it presents is good right
 * now, and a feed of changes to keep a local copy in sync. Everything is read from the live
 * store, so revocations and disabled enrollments take effect at once.
 */
export class HubService {
  private readonly hubCache = new Map<string, { at: number; hubs: Promise<ResolvedHub[]> }>();
  private readonly attestor: X509Attestor;

  constructor(
    private readonly deps: {
      store: Store;
      dps: DpsStore;
      lifecycle: LifecycleStore;
      status: CredentialStatus;
      clock: Clock;
    },
    private readonly options: HubServiceOptions,
  ) {
    this.attestor = new X509Attestor({
      skewMs: options.skewMs,
      issuedCertificate: (sha256) => deps.store.getCertificate({ sha256 }),
      dpkiCaCertificates: async () => (await deps.store.listCas()).map((ca) => ca.certDer),
    });
  }

  // ---- shared access policies ------------------------------------------------------------

  async createPolicy(
    idScope: string,
    hubName: string,
    input: { name: string; rights: string[] },
    actor: string,
  ): Promise<HubPolicyWithKeys> {
    const hub = await this.hubByName(idScope, hubName);
    const name = policyName(input.name);
    const rights = checkRights(input.rights);
    const now = this.deps.clock.now();
    const record: HubPolicyRecord = {
      idScope: hub.idScope,
      hub: hub.name,
      name,
      rights,
      primaryKey: makeSymmetricKey(32),
      secondaryKey: makeSymmetricKey(32),
      createdAt: now,
      updatedAt: now,
      rotatedAt: null,
    };
    await this.deps.lifecycle.insertHubPolicy(record, {
      at: now,
      actor,
      action: "hub.policy.create",
      subject: `${hub.idScope}/${hub.name}/${name}`,
      details: { idScope: hub.idScope, hub: hub.name, policy: name, rights },
    });
    return { policy: policyView(record), keys: { primaryKey: record.primaryKey, secondaryKey: record.secondaryKey } };
  }

  async listPolicies(idScope: string, hubName: string): Promise<HubPolicyView[]> {
    const hub = await this.hubByName(idScope, hubName);
    return (await this.deps.lifecycle.listHubPolicies(hub.idScope, hub.name)).map(policyView);
  }

  async getPolicy(idScope: string, hubName: string, name: string): Promise<HubPolicyView> {
    return policyView(await this.policy(idScope, hubName, name));
  }

  async updatePolicy(idScope: string, hubName: string, name: string, input: { rights: string[] }, actor: string): Promise<HubPolicyView> {
    const current = await this.policy(idScope, hubName, name);
    const rights = checkRights(input.rights);
    const now = this.deps.clock.now();
    const next = { ...current, rights, updatedAt: now };
    await this.deps.lifecycle.replaceHubPolicy(next, {
      at: now,
      actor,
      action: "hub.policy.update",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { idScope: current.idScope, hub: current.hub, policy: current.name, rights: { from: current.rights, to: rights } },
    });
    return policyView(next);
  }

  async deletePolicy(idScope: string, hubName: string, name: string, actor: string): Promise<void> {
    const current = await this.policy(idScope, hubName, name);
    const now = this.deps.clock.now();
    await this.deps.lifecycle.deleteHubPolicy(current.idScope, current.hub, current.name, {
      at: now,
      actor,
      action: "hub.policy.delete",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { idScope: current.idScope, hub: current.hub, policy: current.name },
    });
  }

  /** Regenerates one key (returned once; tokens of the other stay valid) or swaps them. Logged. */
  async rotatePolicyKeys(idScope: string, hubName: string, name: string, change: KeyChange, actor: string): Promise<HubPolicyWithKeys> {
    const current = await this.policy(idScope, hubName, name);
    const now = this.deps.clock.now();
    const next: HubPolicyRecord = { ...changeKeys(current, change, 32), updatedAt: now, rotatedAt: now };
    await this.deps.lifecycle.replaceHubPolicy(next, {
      at: now,
      actor,
      action: "key.rotate",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { target: "hubPolicy", idScope: current.idScope, hub: current.hub, policy: current.name, key: change },
    });
    const keys = change === "primary" ? { primaryKey: next.primaryKey } : change === "secondary" ? { secondaryKey: next.secondaryKey } : {};
    return { policy: policyView(next), keys };
  }

  /** The policy record with its keys, for minting tokens (never shown). */
  async policy(idScope: string, hubName: string, name: string): Promise<HubPolicyRecord> {
    const hub = await this.hubByName(idScope, hubName);
    const policy = await this.deps.lifecycle.getHubPolicy(hub.idScope, hub.name, name);
    if (!policy) throw new AppError("not_found", `Hub ${hub.name} has no policy named ${clip(name)}`);
    return policy;
  }

  // ---- the hub API -----------------------------------------------------------------------

  /**
   * The hub named in the path, as `caller` may see it: a hub token only its own hub (by name or
   * host name, in its scope if it has one); others any hub whose name or host name is unique.
   */
  async resolve(caller: HubCaller, hubRef: string): Promise<ResolvedHub> {
    const ref = hubRef.toLowerCase();
    if (caller.role === "hub") {
      const own = (caller.hub ?? "").toLowerCase();
      if (own !== ref) {
        const mine = (await this.hubs(caller.scope)).find((h) => h.name.toLowerCase() === own || h.hostName.toLowerCase() === own);
        if (!mine || (mine.name.toLowerCase() !== ref && mine.hostName.toLowerCase() !== ref)) {
          throw new AppError("forbidden", `This hub token acts for hub ${caller.hub}; it cannot see hub ${clip(hubRef)}`);
        }
        return mine;
      }
    }
    const matches = (await this.hubs(caller.scope)).filter((h) => h.name.toLowerCase() === ref || h.hostName.toLowerCase() === ref);
    if (matches.length === 0) throw new AppError("not_found", `No hub ${clip(hubRef)}`);
    if (matches.length > 1) {
      throw new AppError(
        "conflict",
        `Hub ${clip(hubRef)} exists in several ID scopes (${matches.map((h) => h.idScope).join(", ")}); use a token confined to one scope`,
      );
    }
    return matches[0]!;
  }

  /** What the hub may know of one of its devices: assignment, standing, authentication kind and certificate thumbprints. Never keys. */
  async device(hub: ResolvedHub, deviceId: string): Promise<HubDeviceView> {
    const reg = await this.deps.lifecycle.registrationByDevice(hub.idScope, hub.hostName, deviceId);
    if (!reg) throw new AppError("not_found", `No device ${clip(deviceId)} is assigned to hub ${hub.name}`);
    const now = this.deps.clock.now();
    const standing = await this.standing(reg);
    const certs = await this.deps.lifecycle.deviceCertificates(hub.idScope, reg.registrationId, 20);
    const certificates: HubDeviceCertificate[] = [];
    for (const cert of certs) certificates.push(await this.certificateView(cert, now));
    return {
      hub: hub.name,
      hostName: hub.hostName,
      deviceId: reg.deviceId ?? reg.registrationId,
      registrationId: reg.registrationId,
      enrollment: { kind: reg.enrollmentKind, id: reg.enrollmentId, provisioningStatus: standing.enrollment?.provisioningStatus ?? null },
      status: reg.status,
      enabled: standing.refusal === null,
      disabledReason: standing.refusal,
      authentication: authenticationOf(standing.enrollment, reg),
      certificates,
      assignedAt: reg.createdAt.toISOString(),
      updatedAt: reg.updatedAt.toISOString(),
    };
  }

  /** Whether a device's SAS token or certificate chain is good right now, and for how long the hub may rely on the answer. */
  async deviceAuth(hub: ResolvedHub, request: DeviceAuthRequest): Promise<DeviceAuthVerdict> {
    const hasToken = typeof request.sasToken === "string";
    const hasChain = Array.isArray(request.certificateChain);
    if (hasToken === hasChain) throw new AppError("invalid_argument", "Send either sasToken or certificateChain");
    if (hasToken && !request.deviceId) throw new AppError("invalid_argument", "A SAS token is checked for a device: send deviceId");
    return hasToken ? this.sasAuth(hub, request) : this.certificateAuth(hub, request);
  }

  /** The changes of one hub after `after` (from the start when absent), oldest first. */
  async changes(hub: ResolvedHub, after: string | undefined, limit = 100): Promise<HubChangesPage> {
    pageLimit(limit);
    // The feed is derived from the issuance log; read what is new first (all of it, in batches).
    while ((await this.deps.lifecycle.catchUpHubFeed(FEED_BATCH)) === FEED_BATCH);
    const afterSeq = after ? decodeCursor(after) : 0;
    const rows = await this.deps.lifecycle.hubChanges(hub.idScope, hub.name, afterSeq, limit + 1);
    const items = rows.slice(0, limit).map((r): HubChangeView => ({
      cursor: encodeCursor(r.seq),
      at: r.at.toISOString(),
      kind: r.kind,
      deviceId: r.deviceId,
      registrationId: r.registrationId,
      details: r.details,
    }));
    return { items, nextCursor: items.length ? items[items.length - 1]!.cursor : encodeCursor(afterSeq), more: rows.length > limit };
  }

  // ---- internals -------------------------------------------------------------------------

  private async sasAuth(hub: ResolvedHub, request: DeviceAuthRequest): Promise<DeviceAuthVerdict> {
    const deviceId = request.deviceId!;
    const token = request.sasToken!;
    let skn: string | null;
    try {
      const fields = parseSasToken(token);
      skn = fields.skn === undefined ? null : decodeURIComponent(fields.skn);
    } catch (err) {
      return deny("malformed", err instanceof AppError ? err.message : "Cannot parse SAS token", deviceId, null);
    }
    const reg = await this.deps.lifecycle.registrationByDevice(hub.idScope, hub.hostName, deviceId);
    if (!reg) return deny("unknown_device", `Device ${clip(deviceId)} is not assigned to hub ${hub.name}`, deviceId, null);
    const standing = await this.standing(reg);
    if (standing.refusal) return deny(refusalReason(standing.refusal), refusalMessage(standing.refusal, reg), deviceId, reg.registrationId);

    let keys: string[];
    if (skn !== null) {
      const policy = await this.deps.lifecycle.getHubPolicy(hub.idScope, hub.name, skn);
      if (!policy) return deny("key_name", `Hub ${hub.name} has no shared access policy named ${clip(skn)}`, deviceId, reg.registrationId);
      if (!policy.rights.includes("DeviceConnect")) {
        return deny(
          "rights",
          `Policy ${policy.name} lacks DeviceConnect, so its tokens cannot connect devices`,
          deviceId,
          reg.registrationId,
        );
      }
      keys = [policy.primaryKey, policy.secondaryKey];
    } else {
      const att = standing.enrollment!.attestation;
      if (att.type !== "symmetricKey") {
        return deny(
          "wrong_method",
          `Device ${deviceId} authenticates with X.509 certificates, not SAS tokens`,
          deviceId,
          reg.registrationId,
        );
      }
      keys =
        standing.enrollment!.kind === "group"
          ? [deriveDeviceKey(att.primaryKey, reg.registrationId), deriveDeviceKey(att.secondaryKey, reg.registrationId)]
          : [att.primaryKey, att.secondaryKey];
    }
    const resource = `${hub.hostName}/devices/${deviceId}${request.moduleId ? `/modules/${request.moduleId}` : ""}`;
    const now = this.deps.clock.now();
    const verdict = verifySasToken(token, {
      keys,
      resource,
      keyName: skn,
      now,
      skewSeconds: Math.round(this.options.skewMs / 1000),
      caseInsensitiveResource: true,
    });
    if (!verdict.ok) {
      const message =
        verdict.reason === "signature"
          ? `SAS token signature does not match the ${skn ? `policy ${skn}` : "device"}'s keys`
          : verdict.message;
      return deny(verdict.reason, message, deviceId, reg.registrationId);
    }
    return allow(hub, deviceId, reg.registrationId, this.ttl(now, [verdict.expiresAt]), {
      type: "sas",
      keyName: skn,
      keyIndex: verdict.keyIndex,
      expiresAt: verdict.expiresAt.toISOString(),
    });
  }

  private async certificateAuth(hub: ResolvedHub, request: DeviceAuthRequest): Promise<DeviceAuthVerdict> {
    const chain = request.certificateChain!;
    if (chain.length === 0 || chain.length > 8)
      return deny("malformed", "certificateChain must hold 1 to 8 certificates", request.deviceId ?? null, null);
    let ders: Buffer[];
    let leaf: X509Certificate;
    try {
      ders = chain.map((b64) => {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error("not base64");
        return Buffer.from(b64, "base64");
      });
      leaf = new X509Certificate(ders[0]!);
    } catch {
      return deny("malformed", "Cannot parse certificateChain: base64 DER certificates, leaf first", request.deviceId ?? null, null);
    }
    const cn = commonName(leaf);
    if (cn === null)
      return deny("subject", "The certificate has no single CN naming the device's registration id", request.deviceId ?? null, null);
    const reg = await this.deps.lifecycle.registration(hub.idScope, cn);
    if (!reg || reg.assignedHub?.toLowerCase() !== hub.hostName.toLowerCase()) {
      return deny(
        "unknown_device",
        `No device with registration id ${clip(cn)} is assigned to hub ${hub.name}`,
        request.deviceId ?? null,
        null,
      );
    }
    const deviceId = reg.deviceId ?? reg.registrationId;
    if (request.deviceId !== undefined && request.deviceId !== deviceId) {
      return deny(
        "subject",
        `The certificate is for device ${deviceId}, not ${clip(request.deviceId)}`,
        request.deviceId,
        reg.registrationId,
      );
    }
    const standing = await this.standing(reg);
    if (standing.refusal) return deny(refusalReason(standing.refusal), refusalMessage(standing.refusal, reg), deviceId, reg.registrationId);

    const now = this.deps.clock.now();
    const skew = this.options.skewMs;
    if (new Date(leaf.validFrom).getTime() - skew > now.getTime()) {
      return deny(
        "not_yet_valid",
        `The certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`,
        deviceId,
        reg.registrationId,
      );
    }
    if (new Date(leaf.validTo).getTime() + skew < now.getTime()) {
      return deny("expired", `The certificate expired at ${new Date(leaf.validTo).toISOString()}`, deviceId, reg.registrationId);
    }
    const sha256 = leaf.fingerprint256.replace(/:/g, "").toLowerCase();
    const issued = await this.deps.store.getCertificate({ sha256 });
    let ownCertificate = false;
    let supersededAt: Date | null = null;
    if (issued) {
      const state = await this.deps.status.of(issued, now);
      if (state.status === "revoked") {
        return deny(
          "revoked",
          `Certificate ${issued.serial} was revoked at ${state.revokedAt.toISOString()} (${state.reason ?? "unspecified"})`,
          deviceId,
          reg.registrationId,
        );
      }
      ownCertificate = await this.deps.lifecycle.isDeviceCertificate(hub.idScope, reg.registrationId, issued.serial);
      if (ownCertificate) {
        const issuer = (await this.deps.store.listCas()).find((c) => c.id === issued.issuerCaId);
        if (!issuer || !signedBy(leaf, new X509Certificate(issuer.certDer))) {
          return deny("untrusted", "The certificate's signature does not verify against its issuing CA", deviceId, reg.registrationId);
        }
        supersededAt = await this.deps.status.supersededAt(issued);
      }
    }
    if (!ownCertificate) {
      // A certificate of the device's own (X.509 enrollment): the enrollment's thumbprints or group CA.
      const refusal = await this.enrollmentAccepts(hub, reg, ders, now);
      if (refusal) return deny(refusal.reason, refusal.message, deviceId, reg.registrationId);
    }
    const notAfter = new Date(leaf.validTo);
    return allow(hub, deviceId, reg.registrationId, this.ttl(now, [notAfter, ...(supersededAt ? [supersededAt] : [])]), {
      type: "x509",
      sha256,
      serial: leaf.serialNumber.toLowerCase(),
      notAfter: notAfter.toISOString(),
      issuedByDpki: ownCertificate,
    });
  }

  /** Checks a device's own certificate against its X.509 enrollment, as registration does. */
  private async enrollmentAccepts(
    hub: ResolvedHub,
    reg: DeviceRegistration,
    ders: Buffer[],
    now: Date,
  ): Promise<{ reason: DeviceAuthReason; message: string } | null> {
    const individual =
      reg.enrollmentKind === "individual" ? await this.deps.dps.getEnrollment(hub.idScope, "individual", reg.enrollmentId) : null;
    const context: AttestationContext = {
      idScope: hub.idScope,
      registrationId: reg.registrationId,
      now,
      authorization: null,
      clientCertificates: ders,
      enrollments: {
        individual,
        groups: async (type) =>
          reg.enrollmentKind === "group"
            ? (await this.deps.dps.groupsByAttestation(hub.idScope, type)).filter(
                (g) => g.id.toLowerCase() === reg.enrollmentId.toLowerCase(),
              )
            : [],
        registration: null,
        enrollment: () => Promise.resolve(null),
      },
    };
    try {
      const attestation = await this.attestor.attest(context);
      if (
        attestation.enrollment.kind !== reg.enrollmentKind ||
        attestation.enrollment.id.toLowerCase() !== reg.enrollmentId.toLowerCase()
      ) {
        return { reason: "untrusted", message: "The certificate does not belong to the device's enrollment" };
      }
      return null;
    } catch (err) {
      if (err instanceof AttestationError) {
        const reason: DeviceAuthReason =
          err.reason === "no_enrollment" || err.reason === "no_credential" ? "untrusted" : (err.reason as DeviceAuthReason);
        return { reason, message: err.message };
      }
      throw err;
    }
  }

  /** Whether the device's registration and enrollment let it connect at all. */
  private async standing(
    reg: DeviceRegistration,
  ): Promise<{ enrollment: EnrollmentRecord | null; refusal: HubDeviceView["disabledReason"] }> {
    const [enrollment, block] = await Promise.all([
      this.deps.dps.getEnrollment(reg.idScope, reg.enrollmentKind, reg.enrollmentId),
      this.deps.lifecycle.enrollmentBlock(reg.idScope, reg.enrollmentKind, reg.enrollmentId),
    ]);
    let refusal: HubDeviceView["disabledReason"] = null;
    if (block) refusal = "enrollmentRevoked";
    else if (!enrollment) refusal = "enrollmentDeleted";
    else if (enrollment.provisioningStatus !== "enabled") refusal = "enrollmentDisabled";
    else if (reg.status !== "assigned") refusal = "registrationDisabled";
    return { enrollment, refusal };
  }

  private async certificateView(cert: CertificateRecord, now: Date): Promise<HubDeviceCertificate> {
    const state = await this.deps.status.of(cert, now);
    const supersededAt = state.status === "good" ? await this.deps.status.supersededAt(cert) : null;
    const x = new X509Certificate(cert.der);
    return {
      serial: cert.serial,
      sha256: cert.sha256,
      sha1: x.fingerprint.replace(/:/g, "").toLowerCase(),
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      status: state.status === "revoked" ? "revoked" : cert.notAfter <= now ? "expired" : "good",
      revokedAt: state.status === "revoked" ? state.revokedAt.toISOString() : null,
      revocationReason: state.status === "revoked" ? (state.reason ?? "unspecified") : null,
      supersededAt: supersededAt?.toISOString() ?? null,
    };
  }

  private ttl(now: Date, limits: Date[]): number {
    const until = Math.min(now.getTime() + this.options.authCacheTtlMs, ...limits.map((d) => d.getTime()));
    return Math.max(0, Math.floor((until - now.getTime()) / 1000));
  }

  private async hubByName(idScope: string, name: string): Promise<HubRecord> {
    const hub = await this.deps.dps.getHub(idScope, name);
    if (!hub) throw new AppError("not_found", `No hub ${clip(name)} in scope ${clip(idScope)}`);
    return hub;
  }

  /** Hubs of one scope (or all), cached for a moment: the device-auth hot path resolves one per call. */
  private hubs(scope: string | null): Promise<ResolvedHub[]> {
    const key = scope?.toLowerCase() ?? "*";
    const cached = this.hubCache.get(key);
    if (cached && Date.now() - cached.at < HUB_CACHE_MS) return cached.hubs;
    const hubs = (async () => {
      const scopes = scope ? [scope] : (await this.deps.dps.listScopes()).map((s) => s.idScope);
      const out: ResolvedHub[] = [];
      for (const s of scopes) {
        for (const h of await this.deps.dps.listHubs(s))
          out.push({ idScope: h.idScope, name: h.name, hostName: h.hostName, enabled: h.enabled });
      }
      return out;
    })();
    this.hubCache.set(key, { at: Date.now(), hubs });
    hubs.catch(() => this.hubCache.delete(key));
    return hubs;
  }
}

function allow(
  hub: ResolvedHub,
  deviceId: string,
  registrationId: string,
  cacheTtlSeconds: number,
  credential: NonNullable<DeviceAuthVerdict["credential"]>,
): DeviceAuthVerdict {
  return {
    allow: true,
    reason: "ok",
    message: `Device ${deviceId} may connect to ${hub.hostName}`,
    deviceId,
    registrationId,
    cacheTtlSeconds,
    credential,
  };
}

function deny(reason: DeviceAuthReason, message: string, deviceId: string | null, registrationId: string | null): DeviceAuthVerdict {
  return { allow: false, reason, message, deviceId, registrationId, cacheTtlSeconds: 0 };
}

function refusalReason(refusal: NonNullable<HubDeviceView["disabledReason"]>): DeviceAuthReason {
  return refusal === "enrollmentRevoked" ? "revoked" : "disabled";
}

function refusalMessage(refusal: NonNullable<HubDeviceView["disabledReason"]>, reg: DeviceRegistration): string {
  const what = `${reg.enrollmentKind === "group" ? "enrollment group" : "enrollment"} ${reg.enrollmentId}`;
  switch (refusal) {
    case "enrollmentRevoked":
      return `The device's ${what} was revoked`;
    case "enrollmentDeleted":
      return `The device's ${what} no longer exists`;
    case "enrollmentDisabled":
      return `The device's ${what} is disabled`;
    case "registrationDisabled":
      return `The device's registration is ${reg.status}`;
  }
}

function authenticationOf(enrollment: EnrollmentRecord | null, reg: DeviceRegistration): HubDeviceView["authentication"] {
  const att = enrollment?.attestation;
  if (!att) return { type: reg.attestation.method, thumbprints: [] };
  if (att.type === "symmetricKey") return { type: "symmetricKey", thumbprints: [] };
  if ("thumbprints" in att) return { type: "x509", thumbprints: [...att.thumbprints] };
  return {
    type: "x509",
    thumbprints: att.caCertificates.map((pem) => new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase()),
  };
}

export function policyView(p: HubPolicyRecord): HubPolicyView {
  return {
    idScope: p.idScope,
    hub: p.hub,
    name: p.name,
    rights: p.rights,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    rotatedAt: p.rotatedAt?.toISOString() ?? null,
  };
}

function policyName(name: string): string {
  if (typeof name !== "string" || !POLICY_NAME.test(name)) {
    throw new AppError(
      "invalid_argument",
      `Policy name "${clip(String(name))}" is invalid: 1-64 letters, digits and . _ - ( ) ! * ' space, starting with a letter or digit`,
    );
  }
  return name;
}

function checkRights(rights: string[]): HubRight[] {
  if (!Array.isArray(rights) || rights.length === 0)
    throw new AppError("invalid_argument", `A policy needs at least one right (${HUB_RIGHTS.join(", ")})`);
  const unknown = rights.filter((r) => !(HUB_RIGHTS as readonly string[]).includes(r));
  if (unknown.length)
    throw new AppError("invalid_argument", `Unknown right ${unknown.map(clip).join(", ")} (known: ${HUB_RIGHTS.join(", ")})`);
  return HUB_RIGHTS.filter((r) => rights.includes(r));
}

function commonName(cert: X509Certificate): string | null {
  const cns = cert.subject.split("\n").filter((line) => line.startsWith("CN="));
  return cns.length === 1 ? cns[0]!.slice(3) : null;
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
