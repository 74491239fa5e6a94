/**
 * PKCS #10 certification requests (RFC 2986): a strict parser over the DER reader, and
 * proof-of-possession checked with node:crypto straight from the SPKI DER.
 */
import { constants, createPublicKey, KeyObject, verify as cryptoVerify, webcrypto } from "node:crypto";
import { DerReader, TAG, type Tlv } from "./der.js";
import { parseGeneralNames } from "./general-name.js";
import type { PublicKeyInfo } from "./key-algorithm.js";
import { parseNameTlv } from "./name.js";
import { OID } from "./oids.js";
import { pemDecode } from "./pem.js";
import { PkiError } from "./pki-error.js";
import type { NameAttribute, RequestedExtension, SubjectAltName } from "./x509-types.js";

export interface ParsedCsr {
  /** The whole request, DER. */
  der: Uint8Array;
  subject: NameAttribute[];
  subjectDer: Uint8Array;
  /** DER SubjectPublicKeyInfo as requested. */
  spki: Uint8Array;
  publicKey: PublicKeyInfo;
  /** From the subjectAltName extension request, in order; empty when none was asked. */
  subjectAltNames: SubjectAltName[];
  /** Every extension of the extensionRequest attribute (SAN included), for the profile to judge. */
  requestedExtensions: RequestedExtension[];
  /** Dotted OID of the signature algorithm. */
  signatureAlgorithm: string;
  /** DER of the signature AlgorithmIdentifier's parameters, when present. */
  signatureParameters?: Uint8Array;
  /** The signed bytes: DER CertificationRequestInfo. */
  certificationRequestInfo: Uint8Array;
  signature: Uint8Array;
}

const PEM_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] as const;
const WHAT = "CSR";

const EC_CURVES: Record<string, string> = { [OID.secp256r1]: "P-256", [OID.secp384r1]: "P-384", [OID.secp521r1]: "P-521" };

/** Accepts PEM (as text or bytes) or DER. Throws PkiError bad_encoding naming the problem. */
export function parseCsr(input: string | Uint8Array): ParsedCsr {
  const der = toDer(input);
  const reader = new DerReader(WHAT);
  const [info, algorithm, signatureBits] = reader.sequence(reader.parse(der), "CertificationRequest", 3, 3);
  const [version, subject, spki, attributes] = reader.sequence(info, "CertificationRequestInfo", 4, 4);
  if (reader.smallInteger(version, "version") !== 0) reader.fail("unsupported version (expected v1)");

  const [algorithmOid, parameters] = reader.sequence(algorithm, "signatureAlgorithm", 1, 2);
  const requestedExtensions = parseAttributes(reader, attributes);
  const san = requestedExtensions.find((ext) => ext.oid === OID.subjectAltName);
  const csr: ParsedCsr = {
    der,
    subject: parseNameTlv(reader, subject!),
    subjectDer: subject!.raw,
    spki: spki!.raw,
    publicKey: parsePublicKeyInfo(reader, spki),
    subjectAltNames: san ? parseGeneralNames(reader, reader.parse(san.value)) : [],
    requestedExtensions,
    signatureAlgorithm: reader.oid(algorithmOid, "signatureAlgorithm"),
    certificationRequestInfo: info!.raw,
    signature: reader.bitStringBytes(signatureBits, "signature"),
  };
  if (parameters) csr.signatureParameters = parameters.raw;
  return csr;
}

function toDer(input: string | Uint8Array): Uint8Array {
  if (typeof input !== "string") {
    // Bytes that start (after whitespace) with "-" are PEM text read from a file.
    const first = input.find((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d);
    if (first !== 0x2d) return input;
    input = Buffer.from(input).toString("latin1");
  }
  return pemDecode(input, { labels: PEM_LABELS, what: WHAT }).der;
}

/** attributes [0] IMPLICIT SET OF Attribute; only extensionRequest matters to dpki. */
function parseAttributes(reader: DerReader, attributes: Tlv | undefined): RequestedExtension[] {
  let extensions: RequestedExtension[] | undefined;
  for (const attribute of reader.sequence(attributes, "attributes", 0, Infinity, 0xa0)) {
    const [type, values] = reader.sequence(attribute, "Attribute", 2, 2);
    if (reader.oid(type, "attribute type") !== OID.extensionRequest) continue;
    if (extensions) reader.fail("more than one extensionRequest attribute");
    const [value] = reader.sequence(values, "extensionRequest values", 1, 1, TAG.SET);
    extensions = parseExtensions(reader, value);
  }
  return extensions ?? [];
}

function parseExtensions(reader: DerReader, list: Tlv | undefined): RequestedExtension[] {
  const seen = new Set<string>();
  return reader.sequence(list, "Extensions").map((item) => {
    const fields = reader.sequence(item, "Extension", 2, 3);
    const extnOid = reader.oid(fields[0], "extnID");
    if (seen.has(extnOid)) reader.fail(`extension ${extnOid} requested twice`);
    seen.add(extnOid);
    const critical = fields.length === 3 && reader.boolean(fields[1], `extension ${extnOid} critical`);
    // DER never encodes a DEFAULT value (X.690 §11.5): an explicit FALSE is not DER.
    if (fields.length === 3 && !critical) reader.fail(`extension ${extnOid}: critical FALSE must be omitted in DER`);
    return { oid: extnOid, critical, value: reader.octetString(fields[fields.length - 1], `extension ${extnOid} value`) };
  });
}

/** What the key of a DER SubjectPublicKeyInfo is: issued certificates' keys, as audits read them back. */
export function readPublicKeyInfo(spki: Uint8Array, what = "SubjectPublicKeyInfo"): PublicKeyInfo {
  const reader = new DerReader(what);
  return parsePublicKeyInfo(reader, reader.parse(spki));
}

function parsePublicKeyInfo(reader: DerReader, spki: Tlv | undefined): PublicKeyInfo {
  const [algorithm, subjectPublicKey] = reader.sequence(spki, "SubjectPublicKeyInfo", 2, 2);
  const [algorithmOid, parameters] = reader.sequence(algorithm, "SubjectPublicKeyInfo algorithm", 1, 2);
  const keyOid = reader.oid(algorithmOid, "public key algorithm");
  const key = reader.bitStringBytes(subjectPublicKey, "subjectPublicKey");
  switch (keyOid) {
    case OID.ecPublicKey: {
      const curveOid = reader.oid(parameters, "EC named curve");
      return { kind: "ec", curve: EC_CURVES[curveOid] ?? curveOid };
    }
    case OID.rsaEncryption: {
      const [modulus] = reader.sequence(reader.parse(key), "RSAPublicKey", 2, 2);
      const bytes = reader.integer(modulus, "RSA modulus");
      if (((bytes[0] as number) & 0x80) !== 0) reader.fail("negative RSA modulus");
      const significant = bytes[0] === 0 ? bytes.subarray(1) : bytes;
      const bits = significant.length === 0 ? 0 : (significant.length - 1) * 8 + (32 - Math.clz32(significant[0] as number));
      return { kind: "rsa", bits };
    }
    case OID.ed25519:
      // RFC 8410 §3: parameters MUST be absent.
      if (parameters) reader.fail("Ed25519 key with parameters");
      if (key.length !== 32) reader.fail("Ed25519 public key is not 32 bytes");
      return { kind: "ed25519" };
    default:
      throw new PkiError("unsupported_algorithm", `Cannot parse ${reader.what}: unsupported public key algorithm ${keyOid}`, {
        oid: keyOid,
      });
  }
}

// ---------------------------------------------------------------------------------------
// Proof of possession

interface VerifyScheme {
  keyKind: PublicKeyInfo["kind"];
  digest: string | null;
  pssSaltLength?: number;
}

const HASHES: Record<string, string> = { [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };

const SIGNATURE_DIGESTS: Record<string, string> = {
  [OID.ecdsaWithSha256]: "sha256",
  [OID.ecdsaWithSha384]: "sha384",
  [OID.ecdsaWithSha512]: "sha512",
  [OID.sha256WithRsaEncryption]: "sha256",
  [OID.sha384WithRsaEncryption]: "sha384",
  [OID.sha512WithRsaEncryption]: "sha512",
};

/**
 * Checks the CSR's signature with its own public key, on the calling thread: issuance runs
 * it on worker threads (one per core), where a round trip through the libuv pool would only
 * add latency. Throws bad_signature, bad_encoding or unsupported_algorithm.
 */
export async function verifyCsr(csr: ParsedCsr): Promise<void> {
  const scheme = verifyScheme(csr);
  if (scheme.keyKind !== csr.publicKey.kind) {
    throw new PkiError("bad_signature", `CSR signature algorithm ${csr.signatureAlgorithm} does not match its ${csr.publicKey.kind} key`);
  }
  let key: KeyObject;
  try {
    key = await importPublicKey(csr);
  } catch {
    throw new PkiError("bad_encoding", "Cannot parse CSR: public key is not valid for its algorithm");
  }
  const options =
    scheme.pssSaltLength === undefined ? key : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pssSaltLength };
  let valid = false;
  try {
    valid = cryptoVerify(scheme.digest, csr.certificationRequestInfo, options, csr.signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new PkiError("bad_signature", "CSR signature does not verify with the CSR's public key");
}

/** `spkiLength` is the DER size of an SPKI holding an uncompressed point (RFC 5480 §2.2); other forms take the generic path. */
const RAW_EC_CURVES: Record<string, { pointLength: number; spkiLength: number }> = {
  "P-256": { pointLength: 65, spkiLength: 91 },
  "P-384": { pointLength: 97, spkiLength: 120 },
};

/**
 * Key import costs as much as the signature check itself, so the cheapest sound route is
 * taken. An uncompressed P-256/P-384 point goes through WebCrypto's raw import, which sets
 * the point directly (~60 µs); OpenSSL's generic SPKI decoder costs ~120 µs and the JWK
 * route ~70 µs, mostly a redundant n·Q multiplication. The raw route still refuses points
 * off the curve, and both curves have cofactor 1, so a point on the curve is in the group.
 */
async function importPublicKey(csr: ParsedCsr): Promise<KeyObject> {
  const curve = csr.publicKey.kind === "ec" ? csr.publicKey.curve : "";
  const raw = RAW_EC_CURVES[curve];
  const spki = csr.spki;
  if (raw && spki.length === raw.spkiLength && spki[spki.length - raw.pointLength] === 0x04) {
    const point = spki.subarray(spki.length - raw.pointLength);
    return KeyObject.from(await webcrypto.subtle.importKey("raw", point, { name: "ECDSA", namedCurve: curve }, false, ["verify"]));
  }
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

function verifyScheme(csr: ParsedCsr): VerifyScheme {
  const params = csr.signatureParameters;
  const isNull = params !== undefined && params.length === 2 && params[0] === TAG.NULL && params[1] === 0;
  const unsupported = (detail: string): never => {
    throw new PkiError("unsupported_algorithm", `Cannot verify CSR: ${detail}`);
  };
  switch (csr.signatureAlgorithm) {
    case OID.ecdsaWithSha256:
    case OID.ecdsaWithSha384:
    case OID.ecdsaWithSha512:
      // RFC 5758 §3.2: the parameters field MUST be absent.
      if (params) throw new PkiError("bad_encoding", "Cannot parse CSR: ECDSA signature algorithm with parameters");
      return { keyKind: "ec", digest: SIGNATURE_DIGESTS[csr.signatureAlgorithm]! };
    case OID.sha256WithRsaEncryption:
    case OID.sha384WithRsaEncryption:
    case OID.sha512WithRsaEncryption:
      // RFC 4055 §5 wants NULL; absent parameters are common enough to accept.
      if (params && !isNull) throw new PkiError("bad_encoding", "Cannot parse CSR: RSA signature algorithm parameters are not NULL");
      return { keyKind: "rsa", digest: SIGNATURE_DIGESTS[csr.signatureAlgorithm]! };
    case OID.rsassaPss:
      return pssScheme(params, unsupported);
    case OID.ed25519:
      if (params) throw new PkiError("bad_encoding", "Cannot parse CSR: Ed25519 signature algorithm with parameters");
      return { keyKind: "ed25519", digest: null };
    default:
      return refusedAlgorithm(csr.signatureAlgorithm);
  }
}

/** Signature algorithms dpki refuses that requesters still produce, by name, so a refusal names what was sent. */
const REFUSED_SIGNATURES: Record<string, string> = {
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.3.14.3.2.29": "sha1WithRSASignature",
  "1.2.840.10040.4.3": "dsa-with-SHA1",
  "2.16.840.1.101.3.4.3.1": "dsa-with-SHA224",
  "2.16.840.1.101.3.4.3.2": "dsa-with-SHA256",
  "1.3.101.113": "Ed448",
};

function refusedAlgorithm(oid: string): never {
  const name = REFUSED_SIGNATURES[oid];
  throw new PkiError(
    "unsupported_algorithm",
    name
      ? `Cannot verify CSR: ${name} (${oid}) is not accepted; use SHA-256 or stronger`
      : `Cannot verify CSR: signature algorithm ${oid} is not accepted; use ECDSA or RSA with SHA-256 or stronger, or Ed25519`,
  );
}

/**
 * RSASSA-PSS-params (RFC 4055 §3.1). node:crypto uses the message digest for MGF1 too, so
 * only requests whose MGF1 hash equals the message hash are supported; the SHA-1 defaults
 * are refused as unsupported.
 */
function pssScheme(params: Uint8Array | undefined, unsupported: (detail: string) => never): VerifyScheme {
  const reader = new DerReader(WHAT);
  if (!params) return unsupported("RSASSA-PSS without parameters (SHA-1 defaults) is not accepted; use SHA-256 or stronger");
  let hash: string | undefined;
  let mgfHash: string | undefined;
  let saltLength = 20;
  for (const field of reader.sequence(reader.parse(params), "RSASSA-PSS-params", 0, 4)) {
    const [inner] = reader.sequence(field, "RSASSA-PSS-params field", 1, 1, field.tag);
    switch (field.tag) {
      case 0xa0: {
        const [hashOid] = reader.sequence(inner, "PSS hashAlgorithm", 1, 2);
        hash = reader.oid(hashOid, "PSS hashAlgorithm");
        break;
      }
      case 0xa1: {
        const [mgfOid, mgfParams] = reader.sequence(inner, "PSS maskGenAlgorithm", 2, 2);
        if (reader.oid(mgfOid, "PSS maskGenAlgorithm") !== OID.mgf1) return unsupported("RSASSA-PSS mask generation other than MGF1");
        const [mgfHashOid] = reader.sequence(mgfParams, "MGF1 hash", 1, 2);
        mgfHash = reader.oid(mgfHashOid, "MGF1 hash");
        break;
      }
      case 0xa2:
        saltLength = reader.smallInteger(inner, "PSS saltLength");
        break;
      case 0xa3:
        if (reader.smallInteger(inner, "PSS trailerField") !== 1) reader.fail("PSS trailerField must be 1");
        break;
      default:
        reader.fail(`unexpected RSASSA-PSS-params field 0x${field.tag.toString(16)}`);
    }
  }
  const digest = hash && HASHES[hash];
  if (!digest) return unsupported(`RSASSA-PSS with hash ${hash ?? "SHA-1 (default)"} is not accepted; use SHA-256 or stronger`);
  if (mgfHash !== hash) return unsupported("RSASSA-PSS with an MGF1 hash different from the message hash");
  return { keyKind: "rsa", digest, pssSaltLength: saltLength };
}
