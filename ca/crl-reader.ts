import { createPublicKey, verify } from "node:crypto";
import { DerReader, TAG, type Tlv } from "./der.js";
import { OID } from "./oids.js";
import { pemDecode } from "./pem.js";
import { PkiError } from "./pki-error.js";

/** What dpki reads back from a CRL it did not sign itself here (an offline root's, from the ceremony). */
export interface CrlFields {
  der: Uint8Array;
  /** DER of the issuer Name. */
  issuer: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: bigint;
  authorityKeyIdentifier: Uint8Array | null;
  /** Serials (lowercase hex) of the revoked certificates, in order. */
  revokedSerials: string[];
}

const DIGESTS: Record<string, string> = {
  [OID.ecdsaWithSha256]: "sha256",
  [OID.ecdsaWithSha384]: "sha384",
  [OID.ecdsaWithSha512]: "sha512",
  [OID.sha256WithRsaEncryption]: "sha256",
  [OID.sha384WithRsaEncryption]: "sha384",
  [OID.sha512WithRsaEncryption]: "sha512",
};

/**
 * Reads a v2 CRL (RFC 5280 §5.1), PEM or DER, and checks its signature with the issuer's public
 * key (`issuerSpki`, DER): a CRL that does not verify is refused as bad_signature.
 */
export function readSignedCrl(input: string | Uint8Array, issuerSpki: Uint8Array): CrlFields {
  const der =
    typeof input === "string" || looksLikePem(input)
      ? pemDecode(Buffer.from(input).toString("utf8"), { labels: ["X509 CRL"], what: "CRL" }).der
      : input;
  const reader = new DerReader("CRL");
  const [tbs, algorithm, signatureBits] = reader.sequence(reader.parse(der), "CertificateList", 3, 3);
  const fields = reader.sequence(tbs, "TBSCertList", 4);
  let i = 0;
  if (fields[i]?.tag === TAG.INTEGER) {
    if (reader.smallInteger(fields[i], "version") !== 1) reader.fail("not a v2 CRL");
    i++;
  }
  i++; // signature AlgorithmIdentifier: the outer one is what is checked
  const issuer = reader.expect(fields[i++], TAG.SEQUENCE, "issuer");
  const thisUpdate = readTime(reader, fields[i++], "thisUpdate");
  const next = fields[i];
  if (!next || (next.tag !== TAG.UTC_TIME && next.tag !== TAG.GENERALIZED_TIME)) reader.fail("no nextUpdate");
  const nextUpdate = readTime(reader, fields[i++], "nextUpdate");
  const revokedSerials: string[] = [];
  if (fields[i]?.tag === TAG.SEQUENCE) {
    for (const entry of reader.sequence(fields[i++], "revokedCertificates")) {
      const [serial] = reader.sequence(entry, "revoked certificate", 2, 3);
      revokedSerials.push(Buffer.from(reader.integer(serial, "userCertificate")).toString("hex"));
    }
  }
  let crlNumber: bigint | undefined;
  let authorityKeyIdentifier: Uint8Array | null = null;
  if (fields[i]?.tag === 0xa0) {
    const [extensions] = reader.sequence(fields[i], "crlExtensions", 1, 1, 0xa0);
    for (const ext of reader.sequence(extensions, "Extensions")) {
      const parts = reader.sequence(ext, "Extension", 2, 3);
      const id = reader.oid(parts[0], "extnID");
      const value = reader.octetString(parts[parts.length - 1], "extnValue");
      if (id === OID.cRLNumber) crlNumber = BigInt(`0x${Buffer.from(reader.integer(reader.parse(value), "cRLNumber")).toString("hex")}`);
      if (id === OID.authorityKeyIdentifier) {
        const [keyId] = reader.sequence(reader.parse(value), "authorityKeyIdentifier", 0);
        if (keyId?.tag === 0x80) authorityKeyIdentifier = keyId.value;
      }
    }
  }
  if (crlNumber === undefined) reader.fail("no cRLNumber extension");

  const [algorithmOid] = reader.sequence(algorithm, "signatureAlgorithm", 1, 2);
  const digest = DIGESTS[reader.oid(algorithmOid, "signatureAlgorithm")];
  if (!digest) throw new PkiError("unsupported_algorithm", "Cannot verify CRL: unsupported signature algorithm");
  let valid = false;
  try {
    const key = createPublicKey({ key: Buffer.from(issuerSpki), format: "der", type: "spki" });
    valid = verify(digest, tbs!.raw, key, reader.bitStringBytes(signatureBits, "signature"));
  } catch {
    valid = false;
  }
  if (!valid) throw new PkiError("bad_signature", "CRL signature does not verify with the issuer's key");
  return { der, issuer: issuer.raw, thisUpdate, nextUpdate, crlNumber: crlNumber!, authorityKeyIdentifier, revokedSerials };
}

function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 64)).toString("latin1").includes("-----BEGIN");
}

/** UTCTime (YYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.1) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
function readTime(reader: DerReader, item: Tlv | undefined, field: string): Date {
  if (!item) reader.fail(`missing ${field}`);
  const text = Buffer.from(item.value).toString("latin1");
  const m =
    item.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) reader.fail(`${field}: not a UTCTime or GeneralizedTime in Z form`);
  let year = Number(m[1]);
  if (item.tag === TAG.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}
