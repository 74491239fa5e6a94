/**
 * The one X.509 v3 certificate encoder of dpki: roots, intermediates, leaves and OCSP
 * signers all go through encodeCertificate. It is a hot path, so everything that does not
 * depend on the individual certificate (OIDs, fixed extension encodings, the encodings a
 * profile repeats for every leaf) is encoded once and reused.
 */
import { createHash } from "node:crypto";
import {
  DerReader,
  NULL,
  TRUE,
  bitString,
  explicit,
  implicit,
  integer,
  integerFromBigint,
  octetString,
  oid,
  sequence,
  time,
  unsignedIntegerContent,
} from "./der.js";
import { encodeGeneralName, encodeGeneralNames } from "./general-name.js";
import { OID } from "./oids.js";
import { PkiError } from "./pki-error.js";
import type { Signer } from "./signer.js";
import type { CertificateExtensions, CertificateParams, ExtendedKeyUsage, KeyUsage } from "./x509-types.js";

/** [0] EXPLICIT Version v3(2). */
const VERSION_V3 = explicit(0, Uint8Array.of(0x02, 0x01, 0x02));
const EMPTY_NAME = Uint8Array.of(0x30, 0x00);

/** Bit positions of KeyUsage (RFC 5280 §4.2.1.3). */
const KEY_USAGE_BITS: Record<KeyUsage, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
};

const EKU_OIDS: Record<ExtendedKeyUsage, string> = {
  serverAuth: OID.serverAuth,
  clientAuth: OID.clientAuth,
  codeSigning: OID.codeSigning,
  emailProtection: OID.emailProtection,
  timeStamping: OID.timeStamping,
  ocspSigning: OID.ocspSigning,
};

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function encodeExtension(extnId: string, critical: boolean, value: Uint8Array): Uint8Array {
  // DER omits a component equal to its DEFAULT (X.690 §11.5), so non-critical has no BOOLEAN.
  return critical ? sequence(oid(extnId), TRUE, octetString(value)) : sequence(oid(extnId), octetString(value));
}

/**
 * Memoizes an extension encoding by a string key. Leaves of one profile repeat the same
 * key usages, EKUs, CDP and AIA URLs, so these hit almost always; the bound only guards
 * against a caller that varies them per certificate.
 */
function memo<T>(encode: (input: T) => Uint8Array, keyOf: (input: T) => string): (input: T) => Uint8Array {
  const cache = new Map<string, Uint8Array>();
  return (input) => {
    const key = keyOf(input);
    let encoded = cache.get(key);
    if (!encoded) {
      encoded = encode(input);
      if (cache.size >= 256) cache.clear();
      cache.set(key, encoded);
    }
    return encoded;
  };
}

const basicConstraintsExtension = memo(
  ({ ca, pathLength }: CertificateExtensions["basicConstraints"]) => {
    if (pathLength !== undefined && (!ca || !Number.isSafeInteger(pathLength) || pathLength < 0)) {
      // RFC 5280 §4.2.1.9: pathLenConstraint only exists for CA certificates.
      throw new PkiError("invalid_argument", `Cannot encode basicConstraints: invalid pathLength ${pathLength} (ca: ${ca})`);
    }
    const fields: Uint8Array[] = [];
    if (ca) fields.push(TRUE); // cA DEFAULT FALSE: omitted for end entities
    if (pathLength !== undefined) fields.push(integerFromBigint(BigInt(pathLength)));
    return encodeExtension(OID.basicConstraints, true, sequence(...fields));
  },
  ({ ca, pathLength }) => `${ca}/${pathLength}`,
);

const keyUsageExtension = memo(
  (usages: readonly KeyUsage[]) => {
    let bits = 0;
    for (const usage of usages) {
      const bit = KEY_USAGE_BITS[usage];
      if (bit === undefined) throw new PkiError("invalid_argument", `Cannot encode unknown key usage "${usage}"`);
      bits |= 1 << bit;
    }
    if (bits === 0) throw new PkiError("invalid_argument", "Cannot encode keyUsage: at least one usage is required (RFC 5280 §4.2.1.3)");
    // Named bit list: DER drops trailing zero bits (X.690 §11.2.2), so the length and the
    // unused-bits count follow the highest usage present.
    const highest = 31 - Math.clz32(bits);
    const bytes = new Uint8Array((highest >> 3) + 1);
    for (let bit = 0; bit <= highest; bit++) if (bits & (1 << bit)) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
    return encodeExtension(OID.keyUsage, true, bitString(bytes, 7 - (highest & 7)));
  },
  (usages) => usages.join(","),
);

const extKeyUsageExtension = memo(
  (usages: readonly ExtendedKeyUsage[]) => {
    const oids = usages.map((usage) => {
      const dotted = EKU_OIDS[usage];
      if (!dotted) throw new PkiError("invalid_argument", `Cannot encode unknown extended key usage "${usage}"`);
      return oid(dotted);
    });
    return encodeExtension(OID.extKeyUsage, false, sequence(...oids));
  },
  (usages) => usages.join(","),
);

const crlDistributionPointsExtension = memo(
  // One DistributionPoint per URL, each { distributionPoint [0] { fullName [0] { URI } } };
  // DistributionPointName is a CHOICE, so its [0] tag is explicit (X.680 §31.2.7).
  (urls: readonly string[]) =>
    encodeExtension(
      OID.cRLDistributionPoints,
      false,
      sequence(...urls.map((url) => sequence(explicit(0, implicit(0, encodeGeneralName({ type: "uri", value: url }), true))))),
    ),
  (urls) => urls.join("\n"),
);

const authorityInfoAccessExtension = memo(
  ({ ocsp, caIssuers }: { ocsp: readonly string[]; caIssuers: readonly string[] }) => {
    const access = (method: string, url: string) => sequence(oid(method), encodeGeneralName({ type: "uri", value: url }));
    return encodeExtension(
      OID.authorityInfoAccess,
      false,
      sequence(...ocsp.map((url) => access(OID.accessOcsp, url)), ...caIssuers.map((url) => access(OID.accessCaIssuers, url))),
    );
  },
  ({ ocsp, caIssuers }) => `${ocsp.join("\n")}\n\n${caIssuers.join("\n")}`,
);

/** RFC 6960 §4.2.2.2.1: the extension value is NULL. */
const OCSP_NO_CHECK_EXTENSION = encodeExtension(OID.ocspNoCheck, false, NULL);

function encodeExtensions(ext: CertificateExtensions, subjectIsEmpty: boolean): Uint8Array[] {
  if (ext.subjectKeyIdentifier.length === 0) throw new PkiError("invalid_argument", "Cannot encode an empty subjectKeyIdentifier");
  const out = [basicConstraintsExtension(ext.basicConstraints), keyUsageExtension(ext.keyUsage)];
  if (ext.extendedKeyUsage?.length) out.push(extKeyUsageExtension(ext.extendedKeyUsage));
  out.push(encodeExtension(OID.subjectKeyIdentifier, false, octetString(ext.subjectKeyIdentifier)));
  if (ext.authorityKeyIdentifier) {
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT KeyIdentifier OPTIONAL, ... }
    out.push(encodeExtension(OID.authorityKeyIdentifier, false, sequence(implicit(0, ext.authorityKeyIdentifier))));
  }
  if (ext.subjectAltNames?.length) {
    // RFC 5280 §4.2.1.6: critical exactly when the subject is an empty sequence.
    out.push(encodeExtension(OID.subjectAltName, subjectIsEmpty, encodeGeneralNames(ext.subjectAltNames)));
  } else if (subjectIsEmpty) {
    throw new PkiError("invalid_argument", "Cannot encode a certificate with an empty subject and no subjectAltName");
  }
  if (ext.crlDistributionPoints?.length) out.push(crlDistributionPointsExtension(ext.crlDistributionPoints));
  if (ext.ocspUrls?.length || ext.caIssuersUrls?.length) {
    out.push(authorityInfoAccessExtension({ ocsp: ext.ocspUrls ?? [], caIssuers: ext.caIssuersUrls ?? [] }));
  }
  if (ext.ocspNoCheck) out.push(OCSP_NO_CHECK_EXTENSION);
  return out;
}

function serialNumber(serial: Uint8Array): Uint8Array {
  const content = unsignedIntegerContent(serial);
  // RFC 5280 §4.1.2.2: positive, and at most 20 octets as encoded.
  if (content.every((byte) => byte === 0))
    throw new PkiError("invalid_argument", "Cannot encode certificate: serial number must be positive");
  if (content.length > 20) throw new PkiError("invalid_argument", "Cannot encode certificate: serial number longer than 20 octets");
  return integer(content);
}

/** DER TBSCertificate (RFC 5280 §4.1). */
function encodeTbsCertificate(params: CertificateParams, signatureAlgorithm: Uint8Array): Uint8Array {
  if (!(params.notAfter.getTime() >= params.notBefore.getTime())) {
    throw new PkiError("invalid_argument", "Cannot encode certificate: notAfter is before notBefore");
  }
  const subjectIsEmpty = params.subject.length === EMPTY_NAME.length && params.subject[0] === 0x30 && params.subject[1] === 0;
  return sequence(
    VERSION_V3,
    serialNumber(params.serial),
    signatureAlgorithm,
    params.issuer,
    sequence(time(params.notBefore), time(params.notAfter)),
    params.subject,
    params.spki,
    explicit(3, sequence(...encodeExtensions(params.extensions, subjectIsEmpty))),
  );
}

/** Encodes and signs a v3 certificate; returns its DER. */
export async function encodeCertificate(params: CertificateParams, signer: Signer): Promise<Uint8Array> {
  const tbs = encodeTbsCertificate(params, signer.signatureAlgorithm);
  const signature = await signer.sign(tbs);
  return sequence(tbs, signer.signatureAlgorithm, bitString(signature));
}

/** SHA-256 of the DER certificate, lowercase hex. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/**
 * RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value,
 * excluding tag, length and the unused-bits octet.
 */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const reader = new DerReader("SubjectPublicKeyInfo");
  const [, subjectPublicKey] = reader.sequence(reader.parse(spki), "SubjectPublicKeyInfo", 2, 2);
  return createHash("sha1").update(reader.bitStringBytes(subjectPublicKey, "subjectPublicKey")).digest();
}
