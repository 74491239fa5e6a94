import { parseCsr, verifyCsr } from "./csr.js";
import { grantFromProfile, type Profile } from "./profile.js";
import { leafCertificateParams, type PublicationUrls } from "./ca-certificates.js";
import { certificateThumbprint, encodeCertificate } from "./certificate.js";
import { formatName } from "./name.js";
import { randomSerial } from "./serial.js";
import { PkiError } from "./pki-error.js";
import type { Signer } from "./signer.js";

/** One leaf to build: the subscriber's CSR and the rules it is judged by. */
export interface LeafRequest {
  /** PEM text or DER bytes of a PKCS#10 request. */
  csr: string | Uint8Array;
  profile: Profile;
  validityMs?: number;
  commonNameMustEqual?: string;
  notBefore: Date;
}

/** The issuing CA as the builder needs it. */
export interface LeafIssuer {
  name: Uint8Array;
  keyId: Uint8Array;
  notAfter: Date;
  urls: PublicationUrls;
  signer: Signer;
}

/** A signed leaf and the facts a store records about it. */
export interface BuiltLeaf {
  der: Uint8Array;
  /** Lowercase hex. */
  serial: string;
  sha256: string;
  subject: string;
  commonName: string | null;
  /** "type:value". */
  subjectAltNames: string[];
  notBefore: Date;
  notAfter: Date;
}

/**
 * The whole CPU side of an issuance: parse the CSR, check proof of possession, apply the
 * profile, encode and sign. Synchronous crypto on purpose: it runs on worker threads (one
 * per core), where a round trip through the libuv pool would only add latency.
 */
export async function buildLeaf(request: LeafRequest, issuer: LeafIssuer): Promise<BuiltLeaf> {
  const csr = parseCsr(request.csr);
  await verifyCsr(csr);
  const grant = grantFromProfile(csr, request.profile, {
    validityMs: request.validityMs,
    commonNameMustEqual: request.commonNameMustEqual,
  });
  const serial = randomSerial();
  const params = leafCertificateParams({
    grant,
    issuer: issuer.name,
    issuerKeyId: issuer.keyId,
    spki: csr.spki,
    serial,
    notBefore: request.notBefore,
    urls: issuer.urls,
  });
  if (params.notAfter > issuer.notAfter) {
    throw new PkiError("profile_violation", `Requested validity runs past the issuing CA's expiry (${issuer.notAfter.toISOString()})`);
  }
  const der = await encodeCertificate(params, issuer.signer);
  return {
    der,
    serial: Buffer.from(serial).toString("hex"),
    sha256: certificateThumbprint(der),
    subject: formatName(grant.subject),
    commonName: grant.commonName,
    subjectAltNames: grant.subjectAltNames.map((s) => `${s.type}:${s.value}`),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
  };
}
