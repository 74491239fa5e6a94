import { verify as cryptoVerify } from "node:crypto";
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import { parseCsr } from "../../../ca/csr.js";
import { formatName } from "../../../ca/name.js";
import { PkiError } from "../../../ca/pki-error.js";
import type { CertificateRecord } from "../../store/records.js";
import type { LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CertificateService } from "../issuance/certificate-service.js";
import type { IssuanceService, IssuedCertificate } from "../issuance/issuance-service.js";
import type { CredentialStatus } from "./credential-status.js";
import type { DeviceRenewal } from "../dps/dps-service.js";

export interface RenewalOptions {
  /** How long the old certificate stays good after a renewal. */
  graceMs: number;
  /** How long after expiry a certificate may still be renewed; null refuses expired certificates. */
  expiredWindowMs: number | null;
  /** Tolerated clock difference on notAfter. */
  skewMs: number;
}

export interface RenewRequest {
  /** Serial or SHA-256 thumbprint of the certificate being renewed. */
  id: string;
  /** The new CSR: PEM text or DER. */
  csr: string | Uint8Array;
  actor: string;
  /** A scoped caller's ID scope: certificates of other scopes are not found. */
  scope?: string | null;
  /**
   * Proof of possession of the old key when the new CSR uses a new key: a signature by the old
   * private key over the new CSR's DER (ECDSA/RSA with SHA-256, Ed25519 plain). Needed only for
   * expired certificates. A CSR signed by the old key proves possession by itself.
   */
  proof?: Uint8Array;
  /**
   * The caller already proved possession of the old key (a device presenting it in a TLS
   * handshake on the device endpoint).
   */
  possessionProven?: boolean;
  /** Extra facts for the log entries (e.g. the registration). */
  details?: Record<string, unknown>;
}

export interface RenewalResult {
  issued: IssuedCertificate;
  previous: { serial: string; sha256: string; supersededAt: string };
  /** The old certificate had expired; the renewal used the bounded window and is flagged in the log. */
  expiredRenewal: boolean;
}

/**
 * Certificate renewal: a new certificate with the same identity (subject and subjectAltNames,
 * same profile) through the one signing path, and the old certificate revoked as `superseded`
 * when its grace period ends. A certificate that expired may be renewed only inside a bounded
 * window and with proof of possession of its key; such renewals are flagged in the log.
 */
export class RenewalService {
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly deps: {
      lifecycle: LifecycleStore;
      certificates: CertificateService;
      issuance: IssuanceService;
      status: CredentialStatus;
      clock: Clock;
    },
    private readonly options: RenewalOptions,
  ) {}

  async renew(request: RenewRequest): Promise<RenewalResult> {
    const old = await this.deps.certificates.find(request.id, request.scope ?? null);
    const now = this.deps.clock.now();
    const state = await this.deps.status.of(old, now);
    if (state.status === "revoked") {
      throw new AppError(
        "already_revoked",
        `Certificate ${old.serial} was revoked at ${state.revokedAt.toISOString()} (${state.reason ?? "unspecified"}); a revoked certificate cannot be renewed`,
      );
    }

    await this.refuseSecondSuccessor(old);
    const csr = parseCsr(request.csr);
    checkSameIdentity(old, csr.subject, csr.subjectAltNames);

    const expired = old.notAfter.getTime() + this.options.skewMs < now.getTime();
    if (expired) {
      const window = this.options.expiredWindowMs;
      if (window === null) {
        throw new AppError(
          "forbidden",
          `Certificate ${old.serial} expired at ${old.notAfter.toISOString()}; renewing expired certificates is turned off`,
        );
      }
      const closes = new Date(old.notAfter.getTime() + window);
      if (now > closes) {
        throw new AppError(
          "forbidden",
          `Certificate ${old.serial} expired at ${old.notAfter.toISOString()}; its renewal window closed at ${closes.toISOString()}`,
          { expiredAt: old.notAfter.toISOString(), windowClosedAt: closes.toISOString() },
        );
      }
      if (!request.possessionProven && !provesPossession(old, csr.der, csr.spki, request.proof)) {
        throw new AppError(
          "forbidden",
          `Certificate ${old.serial} has expired: renewing it needs proof of possession of its key (a CSR signed by that key, or a signature by it over the new CSR)`,
        );
      }
    }

    const issued = await this.deps.issuance.issue({
      csr: csr.der,
      profile: old.profile,
      actor: request.actor,
      // A renewal stays in its predecessor's scope, whoever asks for it.
      scope: old.scope,
      commonNameMustEqual: old.commonName ?? undefined,
      details: { renewalOf: old.serial, ...(expired ? { expiredRenewal: true } : {}), ...request.details },
    });
    // An expired certificate is no good to anyone: supersede it at once.
    const supersedeAt = expired ? now : new Date(now.getTime() + this.options.graceMs);
    await this.deps.lifecycle.scheduleSupersession(
      { oldSerial: old.serial, newSerial: issued.certificate.serial, supersedeAt, doneAt: null, createdAt: now },
      {
        at: now,
        actor: request.actor,
        action: "cert.renew",
        subject: old.subject,
        serial: old.serial,
        profile: old.profile,
        details: {
          renewedBy: issued.certificate.serial,
          sha256: old.sha256,
          supersedeAt: supersedeAt.toISOString(),
          ...(expired ? { expiredRenewal: true, expiredAt: old.notAfter.toISOString() } : {}),
          ...request.details,
        },
      },
    );
    if (expired) await this.sweep();
    return {
      issued,
      previous: { serial: old.serial, sha256: old.sha256, supersededAt: supersedeAt.toISOString() },
      expiredRenewal: expired,
    };
  }

  /**
   * A certificate has at most one successor: renewing it again would leave two good certificates
   * for one identity, one of them never superseded. The caller renews the successor instead.
   * Checked before anything is issued, on every entry point (CLI, API, device endpoint).
   */
  async refuseSecondSuccessor(old: Pick<CertificateRecord, "serial">): Promise<void> {
    const pending = await this.deps.lifecycle.pendingSupersession(old.serial);
    if (pending) throw alreadyRenewed(old.serial, pending.newSerial);
  }

  /** The device endpoint's check before it issues to a device presenting `sha256` to renew it. */
  async checkDeviceRenewal(sha256: string): Promise<void> {
    await this.refuseSecondSuccessor(await this.deps.certificates.find(sha256));
  }

  /**
   * A device renewed its certificate through the DPS endpoint (it registered presenting `oldSha256`
   * over mTLS and sent a CSR, and the registration flow issued `newSerial` with the same identity):
   * the old certificate is superseded after the grace period, at once if it had expired. Logged.
   */
  async deviceRenewed(event: DeviceRenewal): Promise<void> {
    const old = await this.deps.certificates.find(event.oldSha256);
    const now = this.deps.clock.now();
    const supersedeAt = event.expiredRenewal ? now : new Date(now.getTime() + this.options.graceMs);
    await this.deps.lifecycle.scheduleSupersession(
      { oldSerial: old.serial, newSerial: event.newSerial, supersedeAt, doneAt: null, createdAt: now },
      {
        at: now,
        actor: `dps:${event.idScope}/${event.registrationId}`,
        action: "cert.renew",
        subject: old.subject,
        serial: old.serial,
        profile: old.profile,
        details: {
          renewedBy: event.newSerial,
          sha256: old.sha256,
          supersedeAt: supersedeAt.toISOString(),
          via: "dps",
          idScope: event.idScope,
          registrationId: event.registrationId,
          operationId: event.operationId,
          ...(event.expiredRenewal ? { expiredRenewal: true, expiredAt: old.notAfter.toISOString() } : {}),
        },
      },
    );
    if (event.expiredRenewal) await this.sweep();
  }

  /** How long after expiry a certificate may be renewed (null: never). */
  get expiredWindowMs(): number | null {
    return this.options.expiredWindowMs;
  }

  /**
   * Revokes, as `superseded`, every renewed certificate whose grace period is over. Runs
   * periodically in the server and whenever a status check meets one; concurrent calls share one run.
   */
  sweep(): Promise<number> {
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async runSweep(): Promise<number> {
    let done = 0;
    for (;;) {
      const now = this.deps.clock.now();
      const due = await this.deps.lifecycle.dueSupersessions(now, 500);
      for (const s of due) {
        const revoked = await this.deps.lifecycle.completeSupersession(s.oldSerial, now, (cert) => ({
          at: now,
          actor: "system:renewal",
          action: "cert.revoke",
          subject: cert.subject,
          serial: cert.serial,
          profile: cert.profile,
          details: { reason: "superseded", sha256: cert.sha256, renewedBy: s.newSerial, revokedAt: s.supersedeAt.toISOString() },
        }));
        if (revoked) {
          done++;
          for (const listener of this.deps.certificates.onRevoked) listener(revoked);
        }
      }
      if (due.length < 500) return done;
    }
  }
}

export function alreadyRenewed(oldSerial: string, newSerial: string): AppError {
  return new AppError("conflict", `Certificate ${oldSerial} was already renewed: its successor is ${newSerial}; renew that one instead`, {
    successor: newSerial,
  });
}

/** The new CSR must ask for exactly the old certificate's subject and subjectAltNames. */
function checkSameIdentity(
  old: CertificateRecord,
  subject: ReturnType<typeof parseCsr>["subject"],
  sans: ReturnType<typeof parseCsr>["subjectAltNames"],
): void {
  const requested = formatName(subject);
  if (requested !== old.subject) {
    throw new AppError(
      "profile_violation",
      `A renewal keeps the identity: the CSR asks for subject "${requested}", the certificate has "${old.subject}"`,
    );
  }
  const want = [...old.subjectAltNames].sort().join("\n");
  const got = sans
    .map((s) => `${s.type}:${s.value}`)
    .sort()
    .join("\n");
  if (want !== got) {
    throw new AppError(
      "profile_violation",
      `A renewal keeps the identity: the CSR's subjectAltNames differ from the certificate's (${old.subjectAltNames.join(", ") || "none"})`,
    );
  }
}

/** The CSR is signed by the old key (same SPKI), or `proof` is the old key's signature over the CSR. */
function provesPossession(old: CertificateRecord, csrDer: Uint8Array, csrSpki: Uint8Array, proof: Uint8Array | undefined): boolean {
  const oldCert = ParsedCertificate.parse(old.der);
  if (Buffer.compare(oldCert.spki, csrSpki) === 0) return true; // parseCsr + the issuance path verified the CSR's signature
  if (!proof || proof.length === 0) return false;
  try {
    const key = oldCert.publicKey;
    const digest = key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";
    return cryptoVerify(digest, csrDer, key, proof);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    return false;
  }
}
