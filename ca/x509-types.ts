/**
 * The vocabulary shared by the CA engine's encoders and parsers. Everything here is plain
 * data: DER byte arrays, strings, dates. No library objects cross this boundary.
 */

/** One attribute of a distinguished name, in the order it appears. */
export interface NameAttribute {
  /** Dotted OID, e.g. "2.5.4.3" for commonName. */
  oid: string;
  /** Short name when known: CN, O, OU, C, ST, L, serialNumber, emailAddress, DC, UID. */
  shortName?: string;
  value: string;
  /** ASN.1 string tag as found or wanted (12 UTF8String, 19 PrintableString, 22 IA5String). */
  tag?: number;
}

export type SubjectAltName =
  { type: "dns"; value: string } | { type: "ip"; value: string } | { type: "uri"; value: string } | { type: "email"; value: string };

export type KeyUsage =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

export type ExtendedKeyUsage = "serverAuth" | "clientAuth" | "codeSigning" | "emailProtection" | "timeStamping" | "ocspSigning";

/** The extensions dpki puts in certificates. Order of encoding is fixed by the encoder. */
export interface CertificateExtensions {
  /** Always encoded critical. */
  basicConstraints: { ca: boolean; pathLength?: number };
  /** Always encoded critical. */
  keyUsage: KeyUsage[];
  extendedKeyUsage?: ExtendedKeyUsage[];
  subjectKeyIdentifier: Uint8Array;
  /** keyIdentifier form only. Absent on a self-signed root. */
  authorityKeyIdentifier?: Uint8Array;
  subjectAltNames?: SubjectAltName[];
  crlDistributionPoints?: string[];
  ocspUrls?: string[];
  caIssuersUrls?: string[];
  /** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for delegated OCSP signers. */
  ocspNoCheck?: boolean;
}

export interface CertificateParams {
  /** Positive big-endian integer bytes (the encoder adds a 0x00 pad when the top bit is set). */
  serial: Uint8Array;
  /** DER Name of the issuer: byte-identical to the issuer certificate's subject. */
  issuer: Uint8Array;
  /** DER Name of the subject. */
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  extensions: CertificateExtensions;
}

export interface RequestedExtension {
  oid: string;
  critical: boolean;
  /** DER of the extnValue OCTET STRING's content. */
  value: Uint8Array;
}
