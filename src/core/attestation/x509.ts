import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { CertificateRecord } from "../../store/records.js";
import { AttestationError, type Attestation, type AttestationContext, type Attestor, type CertificateInfo } from "./attestor.js";

export interface X509AttestorOptions {
  /** Tolerated clock difference when checking notBefore/notAfter. */
  skewMs: number;
  /** A certificate dpki issued, by SHA-256 thumbprint (revocation status and the renewal path). */
  issuedCertificate(sha256: string): Promise<CertificateRecord | null>;
  /** dpki's own CA certificates, DER: the anchors of certificates issued at registration. */
  dpkiCaCertificates(): Promise<Uint8Array[]>;
  /** A dpki certificate's standing beyond its stored status (renewed and past its grace period: superseded). */
  effectiveStatus?(
    cert: CertificateRecord,
    now: Date,
  ): Promise<{ status: "good" } | { status: "revoked"; revokedAt: Date; reason?: string }>;
  /** How long after expiry a certificate dpki issued may still be presented to renew it; absent or null: never. */
  expiredRenewalWindowMs?: number | null;
}

/** Longest chain walked from a device certificate to its group CA. */
const MAX_PATH = 6;

/**
 * X.509 attestation by TLS client certificate. The TLS layer only proved possession of the
 * leaf's key (the listener asks for certificates but accepts any, and a resumed session may
 * carry none); everything else is checked here: CN = registration id, validity with skew,
 * revocation of dpki-issued certificates, and either the individual enrollment's thumbprint
 * or a signature chain through the presented intermediates up to a group's CA certificate.
 * A device presenting a certificate dpki issued to it at an earlier registration is
 * recognised as that registration (the renewal path).
 */
export class X509Attestor implements Attestor {
  readonly method = "x509" as const;

  constructor(private readonly options: X509AttestorOptions) {}

  applies(context: AttestationContext): boolean {
    return context.clientCertificates.length > 0;
  }

  async attest(context: AttestationContext): Promise<Attestation> {
    const presented = parseAll(context.clientCertificates);
    const leaf = presented[0]!;
    const info = certificateInfo(leaf);
    const cn = leaf.commonName;
    if (cn === null || cn.toLowerCase() !== context.registrationId.toLowerCase()) {
      throw new AttestationError(
        "subject",
        `Certificate subject CN ${cn ?? "(none)"} does not equal registration id ${context.registrationId}`,
      );
    }
    const issued = await this.options.issuedCertificate(info.sha256Thumbprint);
    // An expired certificate dpki issued may still serve to renew itself, inside a bounded window.
    const expiredRenewal = issued !== null && this.expiredButRenewable(leaf, context.now);
    if (!expiredRenewal) this.checkValidity(leaf, context.now, "Device certificate");
    if (issued?.status === "revoked") {
      throw new AttestationError("revoked", `Certificate ${issued.serial} was revoked at ${issued.revokedAt?.toISOString()}`);
    }
    if (issued && this.options.effectiveStatus) {
      const standing = await this.options.effectiveStatus(issued, context.now);
      if (standing.status === "revoked") {
        throw new AttestationError(
          "revoked",
          `Certificate ${issued.serial} was revoked at ${standing.revokedAt.toISOString()} (${standing.reason ?? "unspecified"})`,
        );
      }
    }
    const renewal = issued ? await this.renewal(context, leaf, issued) : null;
    if (renewal) return { ...renewal, used: expiredRenewal ? { ...renewal.used, expiredRenewal: true } : renewal.used, certificate: info };
    // Only the renewal path takes an expired certificate: anything else is refused as expired.
    if (expiredRenewal) this.checkValidity(leaf, context.now, "Device certificate");

    const individual = context.enrollments.individual;
    if (individual) {
      const att = individual.attestation;
      if (att.type !== "x509" || !("thumbprints" in att)) {
        throw new AttestationError("wrong_method", `Individual enrollment ${individual.id} takes a SAS token, not a client certificate`);
      }
      const keyIndex = att.thumbprints.indexOf(info.sha256Thumbprint);
      if (keyIndex < 0)
        throw new AttestationError("untrusted", `Certificate ${info.sha256Thumbprint} is not the one enrolled for ${individual.id}`);
      return { enrollment: individual, used: { method: "x509", keyIndex, thumbprint: info.sha256Thumbprint }, certificate: info };
    }

    const intermediates = presented.slice(1);
    let sawGroup = false;
    for (const group of await context.enrollments.groups("x509")) {
      const att = group.attestation;
      if (att.type !== "x509" || !("caCertificates" in att)) continue;
      sawGroup = true;
      for (const [keyIndex, pem] of att.caCertificates.entries()) {
        const anchor = ParsedCertificate.parse(pem, "enrollment group CA certificate");
        if (this.chainsTo(leaf, intermediates, anchor, context.now)) {
          return {
            enrollment: group,
            used: { method: "x509", keyIndex, thumbprint: info.sha256Thumbprint, signingThumbprint: anchor.sha256 },
            certificate: info,
          };
        }
      }
    }
    if (!sawGroup) {
      throw new AttestationError("no_enrollment", `No enrollment in scope ${context.idScope} for registration ${context.registrationId}`);
    }
    throw new AttestationError("untrusted", "Certificate does not chain to the CA of any enrollment group in this scope");
  }

  /** A good, unexpired certificate dpki issued to this very registration, chaining to a dpki CA. */
  private async renewal(context: AttestationContext, leaf: ParsedCertificate, issued: CertificateRecord): Promise<Attestation | null> {
    const requester = `dps:${context.idScope}/${context.registrationId}`.toLowerCase();
    if (issued.requester.toLowerCase() !== requester) return null;
    const anchors = (await this.options.dpkiCaCertificates()).map((der) => ParsedCertificate.parse(der, "CA certificate"));
    if (!anchors.some((anchor) => this.chainsTo(leaf, anchors, anchor, context.now))) return null;
    const lookup = context.enrollments;
    const enrollment =
      lookup.individual ??
      (lookup.registration ? await lookup.enrollment(lookup.registration.enrollmentKind, lookup.registration.enrollmentId) : null);
    if (!enrollment) {
      throw new AttestationError("no_enrollment", `Certificate was issued to ${context.registrationId}, whose enrollment no longer exists`);
    }
    return { enrollment, used: { method: "x509", thumbprint: issued.sha256, renewal: true } };
  }

  /** Walks issuer links from the leaf through `intermediates` until `anchor` signed one. */
  private chainsTo(leaf: ParsedCertificate, intermediates: ParsedCertificate[], anchor: ParsedCertificate, now: Date): boolean {
    const seen = new Set<string>([leaf.sha256]);
    let current = leaf;
    for (let depth = 0; depth < MAX_PATH; depth++) {
      if (current.issuedBy(anchor)) return anchor.validAt(now, this.options.skewMs);
      const next = intermediates.find((c) => c.isCa && !seen.has(c.sha256) && current.issuedBy(c));
      if (!next) return false;
      if (next.sha256 === anchor.sha256) return next.validAt(now, this.options.skewMs);
      if (!next.validAt(now, this.options.skewMs)) return false;
      seen.add(next.sha256);
      current = next;
    }
    return false;
  }

  /** Past notAfter (beyond the skew) but inside the renewal window that follows it. */
  private expiredButRenewable(cert: ParsedCertificate, now: Date): boolean {
    const window = this.options.expiredRenewalWindowMs;
    if (!window) return false;
    const notAfter = cert.notAfter.getTime();
    return notAfter + this.options.skewMs < now.getTime() && now.getTime() <= notAfter + window;
  }

  private checkValidity(cert: ParsedCertificate, now: Date, what: string): void {
    const t = now.getTime();
    if (cert.notBefore.getTime() - this.options.skewMs > t) {
      throw new AttestationError("not_yet_valid", `${what} is not valid before ${cert.notBefore.toISOString()}`);
    }
    if (cert.notAfter.getTime() + this.options.skewMs < t) {
      throw new AttestationError("expired", `${what} expired at ${cert.notAfter.toISOString()}`);
    }
  }
}

function parseAll(ders: Uint8Array[]): ParsedCertificate[] {
  try {
    return ders.map((der) => ParsedCertificate.parse(der, "client certificate"));
  } catch {
    throw new AttestationError("malformed", "Cannot parse the client certificate");
  }
}

export function certificateInfo(cert: ParsedCertificate): CertificateInfo {
  return {
    subjectName: cert.subject,
    sha1Thumbprint: cert.sha1.toUpperCase(),
    sha256Thumbprint: cert.sha256,
    issuerName: cert.issuer,
    notBeforeUtc: cert.notBefore.toISOString(),
    notAfterUtc: cert.notAfter.toISOString(),
    serialNumber: cert.serial.toUpperCase(),
    version: 3,
  };
}
