import { DerReader, TAG } from "./der.js";
import { parseNameTlv } from "./name.js";
import type { NameAttribute } from "./x509-types.js";

/** The fields of a certificate dpki reads back: its own CA certificates and OCSP responders. */
export interface CertificateFields {
  /** Lowercase hex of the serial INTEGER's content octets. */
  serial: string;
  /** DER of the subject Name, byte-identical to what certificates it issues must carry as issuer. */
  subject: Uint8Array;
  subjectAttributes: NameAttribute[];
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** Contents of the subjectPublicKey BIT STRING (what RFC 6960 key hashes cover). */
  subjectPublicKey: Uint8Array;
}

/** Reads a DER certificate's TBSCertificate (RFC 5280 §4.1) without a general-purpose parser. */
export function readCertificateFields(der: Uint8Array, what = "certificate"): CertificateFields {
  const reader = new DerReader(what);
  const [tbs] = reader.sequence(reader.parse(der), "Certificate", 3, 3);
  const fields = reader.sequence(tbs, "TBSCertificate", 6);
  const base = fields[0]?.tag === 0xa0 ? 1 : 0; // version [0] EXPLICIT DEFAULT v1
  const serial = reader.integer(fields[base], "serialNumber");
  const subject = reader.expect(fields[base + 4], TAG.SEQUENCE, "subject");
  const spki = reader.expect(fields[base + 5], TAG.SEQUENCE, "subjectPublicKeyInfo");
  const [, subjectPublicKey] = reader.sequence(spki, "subjectPublicKeyInfo", 2, 2);
  return {
    serial: Buffer.from(serial).toString("hex"),
    subject: subject.raw,
    subjectAttributes: parseNameTlv(reader, subject),
    spki: spki.raw,
    subjectPublicKey: reader.bitStringBytes(subjectPublicKey, "subjectPublicKey"),
  };
}
