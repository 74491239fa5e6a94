/**
 * CRL v2 encoder (RFC 5280 §5). Revoked entries are written straight into large byte
 * chunks in one pass (no per-entry objects, no duplicate scans), so a million entries
 * cost one sequential write plus the copies into the signed TBSCertList and the CRL.
 */
import { encodeExtension } from "./certificate.js";
import {
  TAG,
  bitString,
  explicit,
  headerSize,
  implicit,
  integerFromBigint,
  sequence,
  time,
  timeSize,
  tlv,
  writeHeader,
  writeTime,
} from "./der.js";
import { OID } from "./oids.js";
import { PkiError } from "./pki-error.js";
import { REVOCATION_REASONS, type RevocationReason } from "./revocation-reason.js";
import type { Signer } from "./signer.js";

export interface RevokedEntry {
  /** Positive big-endian serial bytes, as in CertificateParams. */
  serial: Uint8Array;
  revokedAt: Date;
  reason?: RevocationReason;
}

export interface CrlParams {
  /** DER Name of the issuer: byte-identical to the CA certificate's subject. */
  issuer: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: bigint;
  /** keyIdentifier of the CA key that signs the CRL (its certificate's SKI). */
  authorityKeyIdentifier: Uint8Array;
  entries: Iterable<RevokedEntry>;
}

/** INTEGER v2(1). */
const VERSION_V2 = Uint8Array.of(TAG.INTEGER, 1, 1);

/**
 * crlEntryExtensions holding only a reasonCode, one per reason. RFC 5280 §5.3.1 asks that
 * "unspecified" be expressed by leaving the extension out, so it has none.
 */
const REASON_EXTENSIONS = new Map<RevocationReason, Uint8Array>(
  Object.entries(REVOCATION_REASONS)
    .filter(([, code]) => code !== REVOCATION_REASONS.unspecified)
    .map(([name, code]) => [
      name as RevocationReason,
      sequence(encodeExtension(OID.cRLReason, false, tlv(TAG.ENUMERATED, Uint8Array.of(code)))),
    ]),
);

const CHUNK_SIZE = 1 << 20;
/** SEQUENCE header 2 + serial INTEGER 2+21 + GeneralizedTime 17 + reason extensions 14. */
const MAX_ENTRY_SIZE = 2 + 23 + 17 + 14;

/** Encodes and signs a CRL; returns its DER. */
export async function encodeCrl(params: CrlParams, signer: Signer): Promise<Uint8Array> {
  if (!(params.nextUpdate.getTime() > params.thisUpdate.getTime())) {
    throw new PkiError("invalid_argument", "Cannot encode CRL: nextUpdate must be after thisUpdate");
  }
  const crlNumber = integerFromBigint(params.crlNumber);
  // RFC 5280 §5.2.3: CRLNumber is at most 20 octets.
  if (crlNumber.length - 2 > 20) throw new PkiError("invalid_argument", "Cannot encode CRL: crlNumber longer than 20 octets");

  const { chunks, length } = encodeEntries(params.entries);
  const head = [VERSION_V2, signer.signatureAlgorithm, params.issuer, time(params.thisUpdate), time(params.nextUpdate)];
  if (length > 0) {
    // revokedCertificates is OPTIONAL and left out when empty (an empty SEQUENCE trips some parsers).
    const header = new Uint8Array(headerSize(length));
    writeHeader(header, 0, TAG.SEQUENCE, length);
    head.push(header);
  }
  const crlExtensions = explicit(
    0,
    sequence(
      encodeExtension(OID.authorityKeyIdentifier, false, sequence(implicit(0, params.authorityKeyIdentifier))),
      encodeExtension(OID.cRLNumber, false, crlNumber),
    ),
  );
  const tbs = tlv(TAG.SEQUENCE, ...head, ...chunks, crlExtensions);
  const signature = await signer.sign(tbs);
  return sequence(tbs, signer.signatureAlgorithm, bitString(signature));
}

function encodeEntries(entries: Iterable<RevokedEntry>): { chunks: Uint8Array[]; length: number } {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let chunk = Buffer.allocUnsafe(CHUNK_SIZE);
  let offset = 0;
  for (const entry of entries) {
    if (offset + MAX_ENTRY_SIZE > CHUNK_SIZE) {
      chunks.push(chunk.subarray(0, offset));
      length += offset;
      chunk = Buffer.allocUnsafe(CHUNK_SIZE);
      offset = 0;
    }
    offset = writeEntry(chunk, offset, entry);
  }
  if (offset > 0) {
    chunks.push(chunk.subarray(0, offset));
    length += offset;
  }
  return { chunks, length };
}

/** SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions OPTIONAL }. */
function writeEntry(out: Uint8Array, offset: number, entry: RevokedEntry): number {
  const serial = entry.serial;
  let start = 0;
  while (start < serial.length && serial[start] === 0) start++;
  const significant = serial.length - start;
  if (significant === 0) throw new PkiError("invalid_argument", "Cannot encode CRL: revoked serial number must be positive");
  const pad = (serial[start] as number) & 0x80 ? 1 : 0; // keep the INTEGER positive (X.690 §8.3.2)
  const serialLength = significant + pad;
  if (serialLength > 20) throw new PkiError("invalid_argument", "Cannot encode CRL: revoked serial number longer than 20 octets");

  let extensions: Uint8Array | undefined;
  if (entry.reason !== undefined && entry.reason !== "unspecified") {
    extensions = REASON_EXTENSIONS.get(entry.reason);
    if (!extensions) throw new PkiError("invalid_argument", `Cannot encode CRL: unknown revocation reason "${entry.reason}"`);
  }
  const timeLength = timeSize(entry.revokedAt);
  // Always < 128, so the short length form applies.
  out[offset++] = TAG.SEQUENCE;
  out[offset++] = 2 + serialLength + timeLength + (extensions ? extensions.length : 0);
  out[offset++] = TAG.INTEGER;
  out[offset++] = serialLength;
  if (pad) out[offset++] = 0;
  out.set(serial.subarray(start), offset);
  offset += significant;
  offset = writeTime(out, offset, entry.revokedAt);
  if (extensions) {
    out.set(extensions, offset);
    offset += extensions.length;
  }
  return offset;
}
