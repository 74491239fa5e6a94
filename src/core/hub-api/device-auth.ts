import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { Store } from "../../store/store.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { DeviceRegistration, LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { deriveDeviceKey, parseSasToken, verifySasToken } from "../sas/sas.js";
import type { CredentialStatus } from "../lifecycle/credential-status.js";
import { X509Attestor } from "../attestation/x509.js";
import { AttestationError, type AttestationContext } from "../attestation/attestor.js";
import { clip } from "../clip.js";
import { deviceStanding, refusalMessage, refusalReason } from "./device-standing.js";
import type { DeviceAuthReason, DeviceAuthRequest, DeviceAuthVerdict, HubServiceOptions, ResolvedHub } from "./hub-api-types.js";

export interface DeviceAuthDeps {
  store: Store;
  dps: DpsStore;
  lifecycle: LifecycleStore;
  status: CredentialStatus;
  clock: Clock;
}

/**
 * A hub's question "may this device connect with this credential, now?": a SAS token checked
 * against the device's (or a hub policy's) two keys, or a client certificate chain checked
 * against what dpki issued the device or its X.509 enrollment, always with the live standing
 * of the registration and enrollment. Refusals are answers (allow: false), not errors.
 */
export class DeviceAuthenticator {
  private readonly attestor: X509Attestor;

  constructor(
    private readonly deps: DeviceAuthDeps,
    private readonly options: HubServiceOptions,
  ) {
    this.attestor = new X509Attestor({
      skewMs: options.skewMs,
      issuedCertificate: (sha256) => deps.store.getCertificate({ sha256 }),
      dpkiCaCertificates: async () => (await deps.store.listCas()).map((ca) => ca.certDer),
    });
  }

  /** Whether a device's SAS token or certificate chain is good right now, and for how long the hub may rely on the answer. */
  async check(hub: ResolvedHub, request: DeviceAuthRequest): Promise<DeviceAuthVerdict> {
    const hasToken = typeof request.sasToken === "string";
    const hasChain = Array.isArray(request.certificateChain);
    if (hasToken === hasChain) throw new AppError("invalid_argument", "Send either sasToken or certificateChain");
    if (hasToken && !request.deviceId) throw new AppError("invalid_argument", "A SAS token is checked for a device: send deviceId");
    return hasToken ? this.sasAuth(hub, request) : this.certificateAuth(hub, request);
  }

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
    const standing = await deviceStanding(this.deps, reg);
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
      const sasPolicy = await this.deps.lifecycle.getSasPolicy(hub.idScope);
      if (sasPolicy && !sasPolicy.deviceKeys) {
        return deny(
          "key_name",
          `Scope ${hub.idScope} does not let devices sign hub tokens with their own key: tokens come from the device endpoint (POST /${hub.idScope}/registrations/{id}/sasToken), signed with policy ${sasPolicy.signingPolicy}`,
          deviceId,
          reg.registrationId,
        );
      }
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
    let leaf: ParsedCertificate;
    try {
      ders = chain.map((b64) => {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error("not base64");
        return Buffer.from(b64, "base64");
      });
      leaf = ParsedCertificate.parse(ders[0]!);
    } catch {
      return deny("malformed", "Cannot parse certificateChain: base64 DER certificates, leaf first", request.deviceId ?? null, null);
    }
    const cn = leaf.commonName;
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
    const standing = await deviceStanding(this.deps, reg);
    if (standing.refusal) return deny(refusalReason(standing.refusal), refusalMessage(standing.refusal, reg), deviceId, reg.registrationId);

    const now = this.deps.clock.now();
    const skew = this.options.skewMs;
    if (leaf.notBefore.getTime() - skew > now.getTime()) {
      return deny("not_yet_valid", `The certificate is not valid before ${leaf.notBefore.toISOString()}`, deviceId, reg.registrationId);
    }
    if (leaf.notAfter.getTime() + skew < now.getTime()) {
      return deny("expired", `The certificate expired at ${leaf.notAfter.toISOString()}`, deviceId, reg.registrationId);
    }
    const sha256 = leaf.sha256;
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
        if (!issuer || !leaf.issuedBy(ParsedCertificate.parse(issuer.certDer, "CA certificate"))) {
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
    const notAfter = leaf.notAfter;
    return allow(hub, deviceId, reg.registrationId, this.ttl(now, [notAfter, ...(supersededAt ? [supersededAt] : [])]), {
      type: "x509",
      sha256,
      serial: leaf.serial,
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

  private ttl(now: Date, limits: Date[]): number {
    const until = Math.min(now.getTime() + this.options.authCacheTtlMs, ...limits.map((d) => d.getTime()));
    return Math.max(0, Math.floor((until - now.getTime()) / 1000));
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
