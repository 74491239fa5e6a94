/**
 * OCSP (RFC 6960): a strict request parser and a dedicated BasicOCSPResponse encoder.
 *
 * OCSP answers are a hot path (every hub checks device certificates), so the encoder keeps
 * what does not change between responses (responderID, the certs field, status and reason
 * encodings, the OIDs) encoded once and writes the outer wrappers in a single pass: the
 * cost of a response is its signature.
 */
import { createHash } from "node:crypto";
import { DerReader, TAG, explicit, headerSize, octetString, oid, sequence, tlv, writeHeader, type Tlv } from "./der.js";
import { encodeExtension, keyIdentifier } from "./certificate.js";
import { readCertificateFields } from "./certificate-fields.js";
import { PkiError } from "./pki-error.js";
import { REVOCATION_REASONS, type RevocationReason } from "./revocation-reason.js";
import type { Signer } from "./signer.js";

/** OCSP object identifiers (RFC 6960 §4.4, Appendix B; RFC 8954). */
const OCSP_OID = {
  basic: "1.3.6.1.5.5.7.48.1.1",
  nonce: "1.3.6.1.5.5.7.48.1.2",
  acceptableResponses: "1.3.6.1.5.5.7.48.1.4",
  serviceLocator: "1.3.6.1.5.5.7.48.1.7",
  preferredSignatureAlgorithms: "1.3.6.1.5.5.7.48.1.8",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** Most CertIDs accepted in one request: real clients ask about one certificate, sometimes a chain. */
export const MAX_OCSP_CERT_IDS = 32;

/**
 * Largest nonce extnValue accepted, in bytes. RFC 8954 §2.1 sets the nonce itself at 1..32
 * octets; this leaves room for the inner OCTET STRING wrapper OpenSSL adds and for clients
 * that send more, while keeping a request from inflating the signed response.
 */
export const MAX_OCSP_NONCE_LENGTH = 128;

export type OcspHashAlgorithm = "sha1" | "sha256" | "sha384" | "sha512";

const HASH_BY_OID: ReadonlyMap<string, { name: OcspHashAlgorithm; length: number }> = new Map([
  [OCSP_OID.sha1, { name: "sha1", length: 20 }],
  [OCSP_OID.sha256, { name: "sha256", length: 32 }],
  [OCSP_OID.sha384, { name: "sha384", length: 48 }],
  [OCSP_OID.sha512, { name: "sha512", length: 64 }],
]);
const HASH_ALGORITHMS: readonly OcspHashAlgorithm[] = ["sha1", "sha256", "sha384", "sha512"];

/** One CertID of a request (RFC 6960 §4.1.1). */
export interface OcspCertId {
  hashAlgorithm: OcspHashAlgorithm;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /**
   * Lowercase hex of the serialNumber INTEGER's content octets: the form the store keeps
   * (a 0x00 pad stays when DER needs it). A negative serial, which dpki never issues,
   * keeps its two's-complement form and so simply matches nothing.
   */
  serial: string;
  /** DER of the whole CertID, echoed byte-identical in the SingleResponse. */
  raw: Uint8Array;
}

export interface OcspRequest {
  certIds: OcspCertId[];
  /** Contents of the id-pkix-ocsp-nonce extnValue OCTET STRING, to echo back exactly. */
  nonce?: Uint8Array;
  /** The request carried an optionalSignature; it is not verified (see parseOcspRequest). */
  signed: boolean;
}

/**
 * Parses a DER OCSPRequest. Returned byte arrays are copies, so they may outlive `der`.
 *
 * Signed requests are accepted and their signature ignored: dpki serves public revocation
 * status to anyone (RFC 6960 §4.1.2 leaves requiring signatures to the responder), so a
 * signature adds nothing to check. Unknown non-critical extensions are ignored (RFC 6960
 * §4.4); an unknown critical one is refused, as RFC 5280 §4.2 asks of critical extensions.
 * Malformed DER gives PkiError bad_encoding; more than MAX_OCSP_CERT_IDS CertIDs, an
 * oversized nonce or an unsupported critical extension give invalid_argument.
 */
export function parseOcspRequest(der: Uint8Array): OcspRequest {
  const reader = new DerReader("OCSP request");
  const [tbsRequest, signature] = reader.sequence(reader.parse(der), "OCSPRequest", 1, 2);
  if (signature) reader.expect(signature, 0xa0, "optionalSignature");

  const fields = reader.sequence(tbsRequest, "TBSRequest", 1, 4);
  let index = 0;
  if (fields[index]?.tag === 0xa0) {
    // version [0] EXPLICIT DEFAULT v1: DER omits it, but some clients write v1 out; only v1 exists.
    const [version] = reader.sequence(fields[index++], "version", 1, 1, 0xa0);
    if (reader.smallInteger(version, "version") !== 0) reader.fail("unsupported version (only v1 exists)");
  }
  if (fields[index]?.tag === 0xa1) index++; // requestorName [1]: only meaningful for signed requests
  const requestList = reader.expect(fields[index++], TAG.SEQUENCE, "requestList");
  let extensions: Tlv | undefined;
  if (index < fields.length) extensions = reader.expect(fields[index++], 0xa2, "requestExtensions");
  if (index !== fields.length) reader.fail("unexpected fields after requestExtensions");

  const requests = reader.children(requestList);
  if (requests.length === 0) reader.fail("requestList is empty");
  if (requests.length > MAX_OCSP_CERT_IDS) {
    throw new PkiError(
      "invalid_argument",
      `Cannot answer OCSP request: ${requests.length} CertIDs, at most ${MAX_OCSP_CERT_IDS} are accepted`,
    );
  }
  const certIds = requests.map((request) => {
    const [reqCert, singleExtensions] = reader.sequence(request, "Request", 1, 2);
    if (singleExtensions) {
      parseExtensions(reader, reader.sequence(singleExtensions, "singleRequestExtensions", 1, 1, 0xa0)[0], SINGLE_EXTENSIONS);
    }
    return parseCertId(reader, reqCert!);
  });

  const result: OcspRequest = { certIds, signed: signature !== undefined };
  if (extensions) {
    const found = parseExtensions(reader, reader.sequence(extensions, "requestExtensions", 1, 1, 0xa2)[0], REQUEST_EXTENSIONS);
    const nonce = found.get(OCSP_OID.nonce);
    if (nonce) {
      if (nonce.length === 0) reader.fail("empty nonce");
      if (nonce.length > MAX_OCSP_NONCE_LENGTH) {
        throw new PkiError(
          "invalid_argument",
          `Cannot answer OCSP request: nonce of ${nonce.length} bytes, at most ${MAX_OCSP_NONCE_LENGTH} are accepted`,
        );
      }
      result.nonce = nonce.slice();
    }
  }
  return result;
}

/** Extensions dpki understands in a request; anything else critical is refused. */
const REQUEST_EXTENSIONS: ReadonlySet<string> = new Set([
  OCSP_OID.nonce,
  // Every client lists id-pkix-ocsp-basic, the only type dpki produces (RFC 6960 §4.4.3).
  OCSP_OID.acceptableResponses,
  // A preference, not a requirement (RFC 6960 §4.4.7): the responder signs with its key's algorithm.
  OCSP_OID.preferredSignatureAlgorithms,
]);
const SINGLE_EXTENSIONS: ReadonlySet<string> = new Set([OCSP_OID.serviceLocator]);

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; returns extnValue contents by OID. */
function parseExtensions(reader: DerReader, list: Tlv | undefined, known: ReadonlySet<string>): Map<string, Uint8Array> {
  const found = new Map<string, Uint8Array>();
  for (const extension of reader.sequence(list, "Extensions", 1)) {
    const parts = reader.sequence(extension, "Extension", 2, 3);
    const extnId = reader.oid(parts[0], "extnID");
    let critical = false;
    if (parts.length === 3) {
      critical = reader.boolean(parts[1], "critical");
      // DER never encodes a DEFAULT value (X.690 §11.5).
      if (!critical) reader.fail(`extension ${extnId}: critical FALSE must be omitted in DER`);
    }
    const value = reader.octetString(parts[parts.length - 1], "extnValue");
    if (found.has(extnId)) reader.fail(`duplicate extension ${extnId}`);
    if (critical && !known.has(extnId)) {
      throw new PkiError("invalid_argument", `Cannot answer OCSP request: unsupported critical extension ${extnId}`);
    }
    found.set(extnId, value);
  }
  return found;
}

/** CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } (RFC 6960 §4.1.1). */
function parseCertId(reader: DerReader, certId: Tlv): OcspCertId {
  const [algorithm, nameHash, keyHash, serial] = reader.sequence(certId, "CertID", 4, 4);
  const [algorithmOid, parameters] = reader.sequence(algorithm, "hashAlgorithm", 1, 2);
  const dotted = reader.oid(algorithmOid, "hashAlgorithm");
  const hash = HASH_BY_OID.get(dotted);
  if (!hash) reader.fail(`unsupported CertID hash algorithm ${dotted}`);
  // RFC 5754 §2: parameters absent or NULL; OpenSSL writes NULL.
  if (parameters && (parameters.tag !== TAG.NULL || parameters.value.length !== 0)) reader.fail("hashAlgorithm: unexpected parameters");
  const issuerNameHash = reader.octetString(nameHash, "issuerNameHash");
  const issuerKeyHash = reader.octetString(keyHash, "issuerKeyHash");
  if (issuerNameHash.length !== hash.length || issuerKeyHash.length !== hash.length) {
    reader.fail(`CertID hashes are not ${hash.length}-byte ${hash.name} digests`);
  }
  return {
    hashAlgorithm: hash.name,
    issuerNameHash: issuerNameHash.slice(),
    issuerKeyHash: issuerKeyHash.slice(),
    serial: Buffer.from(reader.integer(serial, "serialNumber")).toString("hex"),
    raw: certId.raw.slice(),
  };
}

// ---------------------------------------------------------------------------------------
// Issuer matching

export interface IssuerHashes {
  /** Hash of the DER issuer Name, i.e. the issuing CA certificate's subject field. */
  nameHash: Uint8Array;
  /** Hash of the CA public key: the subjectPublicKey BIT STRING value, without the unused-bits octet. */
  keyHash: Uint8Array;
}

/**
 * The issuerNameHash/issuerKeyHash pairs a CertID names the CA certificate `issuerCertDer`
 * by, for every hash algorithm parseOcspRequest accepts (RFC 6960 §4.1.1). A responder
 * computes these once per CA it serves and matches each CertID against them.
 */
export function issuerHashes(issuerCertDer: Uint8Array): Record<OcspHashAlgorithm, IssuerHashes> {
  const { subject, subjectPublicKey } = readCertificateFields(issuerCertDer, "issuer certificate");
  const result = {} as Record<OcspHashAlgorithm, IssuerHashes>;
  for (const algorithm of HASH_ALGORITHMS) {
    result[algorithm] = {
      nameHash: createHash(algorithm).update(subject).digest(),
      keyHash: createHash(algorithm).update(subjectPublicKey).digest(),
    };
  }
  return result;
}

/** Whether `certId` names the CA whose hashes are `issuer` (from issuerHashes). */
export function certIdMatchesIssuer(certId: OcspCertId, issuer: Record<OcspHashAlgorithm, IssuerHashes>): boolean {
  const hashes = issuer[certId.hashAlgorithm];
  return Buffer.compare(hashes.nameHash, certId.issuerNameHash) === 0 && Buffer.compare(hashes.keyHash, certId.issuerKeyHash) === 0;
}

// ---------------------------------------------------------------------------------------
// Responses

export type OcspCertStatus = { status: "good" } | { status: "revoked"; revokedAt: Date; reason?: RevocationReason } | { status: "unknown" };

export interface OcspSingleResponse {
  /** The CertID as parsed from the request; its raw DER is echoed unchanged. */
  certId: Pick<OcspCertId, "raw">;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  /** When newer information will be available; absent means "at any time" (RFC 6960 §4.2.2.1). */
  nextUpdate?: Date;
}

export interface OcspResponseParams {
  producedAt: Date;
  /** One per requested CertID, in request order. */
  responses: OcspSingleResponse[];
  /** The request's nonce (OcspRequest.nonce), echoed in responseExtensions. */
  nonce?: Uint8Array;
  /**
   * DER certificate of a delegated responder (issued by the CA, EKU id-kp-OCSPSigning),
   * sent in `certs` so clients can validate it (RFC 6960 §4.2.2.2). Its key must be the
   * signer's. Omit when the CA signs its own responses.
   */
  responderCertificate?: Uint8Array;
}

/** OCSPResponseStatus ::= ENUMERATED (RFC 6960 §4.2.1); 4 is unused. */
const RESPONSE_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type OcspErrorStatus = Exclude<keyof typeof RESPONSE_STATUS, "successful">;

const SUCCESSFUL = Uint8Array.of(TAG.ENUMERATED, 1, RESPONSE_STATUS.successful);
const BASIC_RESPONSE_TYPE = oid(OCSP_OID.basic);
/** CertStatus is a CHOICE of IMPLICIT tags (RFC 6960 Appendix B.1): good [0] NULL, unknown [2] NULL. */
const STATUS_GOOD = Uint8Array.of(0x80, 0);
const STATUS_UNKNOWN = Uint8Array.of(0x82, 0);
/**
 * revocationReason [0] EXPLICIT CRLReason, one per reason. "unspecified" is written as no
 * reason at all, as RFC 5280 §5.3.1 asks of CRLs, so both sources say the same thing.
 */
const REVOCATION_REASON_FIELDS = new Map<RevocationReason, Uint8Array>(
  Object.entries(REVOCATION_REASONS)
    .filter(([, code]) => code !== REVOCATION_REASONS.unspecified)
    .map(([name, code]) => [name as RevocationReason, explicit(0, tlv(TAG.ENUMERATED, Uint8Array.of(code)))]),
);

interface ResponderConstants {
  /** responderID byKey [2] EXPLICIT KeyHash (ResponderID is a CHOICE, so its tags are explicit). */
  responderId: Uint8Array;
  certificate?: Uint8Array;
  /** certs [0] EXPLICIT SEQUENCE OF Certificate holding `certificate`. */
  certsField?: Uint8Array;
}

const responderCache = new WeakMap<Signer, ResponderConstants>();

function responderConstants(signer: Signer, certificate: Uint8Array | undefined): ResponderConstants {
  let constants = responderCache.get(signer);
  if (!constants) {
    // RFC 6960 §4.2.2.3: KeyHash is the SHA-1 of the responder's subjectPublicKey BIT STRING
    // value, the same digest as RFC 5280's key identifier method (1).
    constants = { responderId: explicit(2, octetString(keyIdentifier(signer.spki))) };
    responderCache.set(signer, constants);
  }
  if (
    certificate &&
    constants.certificate !== certificate &&
    !(constants.certificate && Buffer.compare(constants.certificate, certificate) === 0)
  ) {
    const { spki } = readCertificateFields(certificate, "OCSP responder certificate");
    if (Buffer.compare(spki, signer.spki) !== 0) {
      throw new PkiError("invalid_argument", "Cannot encode OCSP response: responderCertificate is not for the signer's key");
    }
    constants.certificate = certificate;
    constants.certsField = explicit(0, sequence(certificate));
  }
  return constants;
}

/**
 * Encodes and signs a successful OCSPResponse carrying a BasicOCSPResponse (RFC 6960
 * §4.2.1): ResponseData v1 (version omitted as DEFAULT), responderID byKey, one
 * SingleResponse per requested CertID, the echoed nonce, and the responder certificate.
 */
export async function encodeOcspResponse(params: OcspResponseParams, signer: Signer): Promise<Uint8Array> {
  const count = params.responses.length;
  if (count === 0) throw new PkiError("invalid_argument", "Cannot encode OCSP response: no responses");
  if (count > MAX_OCSP_CERT_IDS)
    throw new PkiError("invalid_argument", `Cannot encode OCSP response: more than ${MAX_OCSP_CERT_IDS} responses`);
  const constants = responderConstants(signer, params.responderCertificate);

  const singles = params.responses.map(encodeSingleResponse);
  const tbsFields = [constants.responderId, generalizedTime(params.producedAt, "producedAt"), sequence(...singles)];
  if (params.nonce) {
    if (params.nonce.length === 0) throw new PkiError("invalid_argument", "Cannot encode OCSP response: empty nonce");
    tbsFields.push(explicit(1, sequence(encodeExtension(OCSP_OID.nonce, false, params.nonce))));
  }
  const tbs = sequence(...tbsFields);
  const signature = await signer.sign(tbs);

  // BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING,
  // certs [0] OPTIONAL }, wrapped in ResponseBytes' OCTET STRING, [0] EXPLICIT and the
  // OCSPResponse SEQUENCE: all headers written into one buffer instead of four copies.
  const certs = constants.certsField;
  const bitStringLength = signature.length + 1;
  const basicLength =
    tbs.length + signer.signatureAlgorithm.length + headerSize(bitStringLength) + bitStringLength + (certs ? certs.length : 0);
  const octetLength = headerSize(basicLength) + basicLength;
  const responseBytesLength = BASIC_RESPONSE_TYPE.length + headerSize(octetLength) + octetLength;
  const explicitLength = headerSize(responseBytesLength) + responseBytesLength;
  const totalLength = SUCCESSFUL.length + headerSize(explicitLength) + explicitLength;

  const out = Buffer.allocUnsafe(headerSize(totalLength) + totalLength);
  let offset = writeHeader(out, 0, TAG.SEQUENCE, totalLength);
  offset = put(out, offset, SUCCESSFUL);
  offset = writeHeader(out, offset, 0xa0, explicitLength);
  offset = writeHeader(out, offset, TAG.SEQUENCE, responseBytesLength);
  offset = put(out, offset, BASIC_RESPONSE_TYPE);
  offset = writeHeader(out, offset, TAG.OCTET_STRING, octetLength);
  offset = writeHeader(out, offset, TAG.SEQUENCE, basicLength);
  offset = put(out, offset, tbs);
  offset = put(out, offset, signer.signatureAlgorithm);
  offset = writeHeader(out, offset, TAG.BIT_STRING, bitStringLength);
  out[offset++] = 0; // no unused bits
  offset = put(out, offset, signature);
  if (certs) offset = put(out, offset, certs);
  return out;
}

function put(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  out.set(bytes, offset);
  return offset + bytes.length;
}

/** SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT OPTIONAL }. */
function encodeSingleResponse(single: OcspSingleResponse): Uint8Array {
  const certId = single.certId.raw;
  if (certId[0] !== TAG.SEQUENCE) throw new PkiError("invalid_argument", "Cannot encode OCSP response: certId.raw is not a DER CertID");
  const thisUpdate = generalizedTime(single.thisUpdate, "thisUpdate");
  const fields = [certId, encodeCertStatus(single.certStatus), thisUpdate];
  if (single.nextUpdate) {
    if (!(single.nextUpdate.getTime() > single.thisUpdate.getTime())) {
      throw new PkiError("invalid_argument", "Cannot encode OCSP response: nextUpdate must be after thisUpdate");
    }
    fields.push(explicit(0, generalizedTime(single.nextUpdate, "nextUpdate")));
  }
  return sequence(...fields);
}

function encodeCertStatus(certStatus: OcspCertStatus): Uint8Array {
  switch (certStatus.status) {
    case "good":
      return STATUS_GOOD;
    case "unknown":
      return STATUS_UNKNOWN;
    case "revoked": {
      // revoked [1] IMPLICIT RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT OPTIONAL }
      const revocationTime = generalizedTime(certStatus.revokedAt, "revocationTime");
      if (certStatus.reason === undefined || certStatus.reason === "unspecified") return tlv(0xa1, revocationTime);
      const reason = REVOCATION_REASON_FIELDS.get(certStatus.reason);
      if (!reason) throw new PkiError("invalid_argument", `Cannot encode OCSP response: unknown revocation reason "${certStatus.reason}"`);
      return tlv(0xa1, revocationTime, reason);
    }
    default:
      throw new PkiError(
        "invalid_argument",
        `Cannot encode OCSP response: unknown certificate status "${(certStatus as { status: string }).status}"`,
      );
  }
}

/**
 * GeneralizedTime YYYYMMDDHHMMSSZ. OCSP uses GeneralizedTime for every date, whatever the
 * year (RFC 6960 §4.2.1); like RFC 5280 §4.1.2.5.2 it is UTC with no fractional seconds
 * (milliseconds are truncated).
 */
function generalizedTime(date: Date, field: string): Uint8Array {
  const time = date.getTime();
  if (!Number.isFinite(time)) throw new PkiError("invalid_argument", `Cannot encode OCSP response: invalid ${field}`);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new PkiError("invalid_argument", `Cannot encode OCSP response: ${field} year ${year} out of range`);
  const out = Buffer.allocUnsafe(17);
  out[0] = TAG.GENERALIZED_TIME;
  out[1] = 15;
  const digits = [
    year / 100,
    year % 100,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ];
  let offset = 2;
  for (const value of digits) {
    const whole = Math.floor(value);
    out[offset++] = 0x30 + Math.floor(whole / 10);
    out[offset++] = 0x30 + (whole % 10);
  }
  out[offset] = 0x5a; // "Z"
  return out;
}

/**
 * An unsuccessful OCSPResponse: the status alone, without responseBytes (RFC 6960 §4.2.1).
 * Such responses are unsigned, so they are the same bytes every time.
 */
export function encodeOcspError(status: OcspErrorStatus): Uint8Array {
  // Looked up defensively: callers in plain JS (or with a cast) may pass anything.
  const code: number | undefined = Object.prototype.hasOwnProperty.call(RESPONSE_STATUS, status) ? RESPONSE_STATUS[status] : undefined;
  if (code === undefined || code === RESPONSE_STATUS.successful) {
    throw new PkiError("invalid_argument", `Cannot encode OCSP error: unknown status "${status}"`);
  }
  return Uint8Array.of(TAG.SEQUENCE, 3, TAG.ENUMERATED, 1, code);
}
