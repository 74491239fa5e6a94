import type { CertificateParams, NameAttribute, SubjectAltName } from "./x509-types.js";
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
      keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
      subjectKeyIdentifier: keyIdentifier(args.spki),
    },
  };
}

/** An issuing intermediate: pathLen 0, so it can sign only end-entity certificates. */
export function intermediateCertificateParams(args: {
  subject: NameAttribute[];
  issuer: Uint8Array;
  issuerKeyId: Uint8Array;
  spki: Uint8Array;
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}): CertificateParams {
  return {
    serial: args.serial,
    issuer: args.issuer,
    subject: encodeName(args.subject),
    notBefore: args.notBefore,
    notAfter: args.notAfter,
    spki: args.spki,
    extensions: {
      basicConstraints: { ca: true, pathLength: 0 },
      keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
      subjectKeyIdentifier: keyIdentifier(args.spki),
      authorityKeyIdentifier: args.issuerKeyId,
    },
  };
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
  const sans: SubjectAltName[] = grant.subjectAltNames;
  return {
    serial: args.serial,
    issuer: args.issuer,
    subject: encodeName(grant.subject),
    notBefore: args.notBefore,
    notAfter: new Date(args.notBefore.getTime() + grant.validityMs),
    spki: args.spki,
    extensions: {
      basicConstraints: { ca: false },
      keyUsage: grant.keyUsage,
      extendedKeyUsage: grant.extendedKeyUsage.length ? grant.extendedKeyUsage : undefined,
      subjectKeyIdentifier: keyIdentifier(args.spki),
      authorityKeyIdentifier: args.issuerKeyId,
      subjectAltNames: sans.length ? sans : undefined,
      crlDistributionPoints: urls.crl ? [urls.crl] : undefined,
      ocspUrls: urls.ocsp ? [urls.ocsp] : undefined,
      caIssuersUrls: urls.caIssuers ? [urls.caIssuers] : undefined,
    },
  };
}
