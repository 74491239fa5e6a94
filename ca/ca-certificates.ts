import type { CertificateExtensions, CertificateParams, KeyUsage, NameAttribute } from "./x509-types.js";
import type { Grant } from "./profile.js";
import { encodeName } from "./name.js";
import { keyIdentifier } from "./certificate.js";

/** Where relying parties fetch revocation data and the issuer's certificate; placed in every leaf. */
export interface PublicationUrls {
  crl?: string;
  ocsp?: string;
  caIssuers?: string;
}

/** A self-signed root: CA without a path length limit, AKI omitted as RFC 5280 §4.2.1.1 allows. */
export function rootCertificateParams(args: {
  subject: NameAttribute[];
  spki: Uint8Array;
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}): CertificateParams {
  const name = encodeName(args.subject);
  return {
    serial: args.serial,
    issuer: name,
    subject: name,
    notBefore: args.notBefore,
    notAfter: args.notAfter,
    spki: args.spki,
    extensions: {
      basicConstraints: { ca: true },
      keyUsage: CA_KEY_USAGE,
      subjectKeyIdentifier: keyIdentifier(args.spki),
    },
  };
}

/** What every certificate a CA issues needs besides its extensions. */
export interface IssuedBy {
  subject: NameAttribute[];
  /** DER Name of the issuer (its certificate's subject). */
  issuer: Uint8Array;
  issuerKeyId: Uint8Array;
  spki: Uint8Array;
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

/** The one shape of a CA-issued certificate: SKI from its key, AKI from the issuer's, the rest given. */
function issuedCertificateParams(
  args: Omit<IssuedBy, "subject"> & { subject: Uint8Array },
  extensions: Omit<CertificateExtensions, "subjectKeyIdentifier" | "authorityKeyIdentifier">,
): CertificateParams {
  return {
    serial: args.serial,
    issuer: args.issuer,
    subject: args.subject,
    notBefore: args.notBefore,
    notAfter: args.notAfter,
    spki: args.spki,
    extensions: { ...extensions, subjectKeyIdentifier: keyIdentifier(args.spki), authorityKeyIdentifier: args.issuerKeyId },
  };
}

const CA_KEY_USAGE: KeyUsage[] = ["digitalSignature", "keyCertSign", "cRLSign"];

/**
 * Where a relying party checks a CA certificate: the issuing root's CRL (its ARL) and the
 * root's certificate. No OCSP URL: roots answer for the CAs below them by CRL only.
 */
export type CaPublicationUrls = Pick<PublicationUrls, "crl" | "caIssuers">;

function caPublicationExtensions(
  urls: CaPublicationUrls | undefined,
): Pick<CertificateExtensions, "crlDistributionPoints" | "caIssuersUrls"> {
  return {
    crlDistributionPoints: urls?.crl ? [urls.crl] : undefined,
    caIssuersUrls: urls?.caIssuers ? [urls.caIssuers] : undefined,
  };
}

/** An issuing intermediate: pathLen 0, so it can sign only end-entity certificates. */
export function intermediateCertificateParams(args: IssuedBy & { urls?: CaPublicationUrls }): CertificateParams {
  return issuedCertificateParams(
    { ...args, subject: encodeName(args.subject) },
    { basicConstraints: { ca: true, pathLength: 0 }, keyUsage: CA_KEY_USAGE, ...caPublicationExtensions(args.urls) },
  );
}

/**
 * A new root's name and key certified by the old root (a cross certificate), so devices that
 * trust only the old root still build a path to certificates under the new one.
 */
export function crossCertificateParams(
  args: Omit<IssuedBy, "subject"> & { subject: Uint8Array; urls?: CaPublicationUrls },
): CertificateParams {
  return issuedCertificateParams(args, { basicConstraints: { ca: true }, keyUsage: CA_KEY_USAGE, ...caPublicationExtensions(args.urls) });
}

/**
 * A delegated OCSP signing certificate (RFC 6960 §4.2.2.2), issued by the CA whose
 * certificates it answers for: end entity, digitalSignature, EKU id-kp-OCSPSigning, and
 * id-pkix-ocsp-nocheck (§4.2.2.2.1) so clients do not ask about the responder itself —
 * keep its validity short, since it cannot be revoked in any way a client checks.
 */
export function ocspSignerCertificateParams(args: IssuedBy): CertificateParams {
  return issuedCertificateParams(
    { ...args, subject: encodeName(args.subject) },
    { basicConstraints: { ca: false }, keyUsage: ["digitalSignature"], extendedKeyUsage: ["ocspSigning"], ocspNoCheck: true },
  );
}

/**
 * The issuance log's Ed25519 checkpoint key certified by a root, so an auditor who trusts the
 * root can trust the note verifier key without being handed it: end entity, digitalSignature
 * only, revocable through the root's CRL like the CAs below it.
 */
export function logKeyCertificateParams(args: IssuedBy & { urls?: CaPublicationUrls }): CertificateParams {
  return issuedCertificateParams(
    { ...args, subject: encodeName(args.subject) },
    { basicConstraints: { ca: false }, keyUsage: ["digitalSignature"], ...caPublicationExtensions(args.urls) },
  );
}

/** An end-entity certificate carrying exactly what the profile granted. */
export function leafCertificateParams(args: {
  grant: Grant;
  issuer: Uint8Array;
  issuerKeyId: Uint8Array;
  spki: Uint8Array;
  serial: Uint8Array;
  notBefore: Date;
  urls: PublicationUrls;
}): CertificateParams {
  const { grant, urls } = args;
  return issuedCertificateParams(
    { ...args, subject: encodeName(grant.subject), notAfter: new Date(args.notBefore.getTime() + grant.validityMs) },
    {
      basicConstraints: { ca: false },
      keyUsage: grant.keyUsage,
      extendedKeyUsage: grant.extendedKeyUsage.length ? grant.extendedKeyUsage : undefined,
      subjectAltNames: grant.subjectAltNames.length ? grant.subjectAltNames : undefined,
      crlDistributionPoints: urls.crl ? [urls.crl] : undefined,
      ocspUrls: urls.ocsp ? [urls.ocsp] : undefined,
      caIssuersUrls: urls.caIssuers ? [urls.caIssuers] : undefined,
    },
  );
}
