import type { CertificateRecord } from "../../store/records.js";
import type { RevocationReason } from "../../../ca/revocation-reason.js";

/** A certificate as the API and the CLI's --json show it. */
export interface CertificateView {
  serial: string;
  sha256: string;
  subject: string;
  commonName: string | null;
  subjectAltNames: string[];
  notBefore: string;
  notAfter: string;
  status: "good" | "revoked" | "expired";
  revokedAt: string | null;
  revocationReason: RevocationReason | null;
  profile: string;
  issuer: string;
  requester: string;
  createdAt: string;
}

export function certificateView(cert: CertificateRecord, now: Date): CertificateView {
  return {
    serial: cert.serial,
    sha256: cert.sha256,
    subject: cert.subject,
    commonName: cert.commonName,
    subjectAltNames: cert.subjectAltNames,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    status: cert.status === "revoked" ? "revoked" : cert.notAfter <= now ? "expired" : "good",
    revokedAt: cert.revokedAt?.toISOString() ?? null,
    revocationReason: cert.revocationReason,
    profile: cert.profile,
    issuer: cert.issuerCaId,
    requester: cert.requester,
    createdAt: cert.createdAt.toISOString(),
  };
}
