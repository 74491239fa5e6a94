import { bitString, DerReader, integer, NULL, oid, sequence, TAG } from "./der.js";
import { OID } from "./oids.js";
import { PkiError } from "./pki-error.js";

/** DER ECParameters (a namedCurve OID) as CKA_EC_PARAMS carries it, per token-capable curve. */
export const EC_PARAMS: Record<"P-256" | "P-384", Uint8Array> = {
  "P-256": oid(OID.secp256r1),
  "P-384": oid(OID.secp384r1),
};

/**
 * The SubjectPublicKeyInfo (RFC 5480 §2) of a token's EC public key. PKCS#11 v2.40 says
 * CKA_EC_POINT is the DER OCTET STRING of the point; some modules return the bare point, so both
 * are accepted.
 */
export function ecSpki(ecParams: Uint8Array, ecPoint: Uint8Array): Uint8Array {
  const curve = (Object.keys(EC_PARAMS) as Array<keyof typeof EC_PARAMS>).find((c) => Buffer.from(EC_PARAMS[c]).equals(ecParams));
  if (!curve) throw new PkiError("unsupported_algorithm", "Cannot use the token key: its curve is not P-256 or P-384");
  return sequence(sequence(oid(OID.ecPublicKey), ecParams), bitString(unwrapPoint(ecPoint, POINT_BYTES[curve])));
}

/** An uncompressed point: 0x04 || X || Y. */
const POINT_BYTES = { "P-256": 65, "P-384": 97 } as const;

/** The SubjectPublicKeyInfo (RFC 3279 §2.3.1) of a token's RSA public key. */
export function rsaSpki(modulus: Uint8Array, publicExponent: Uint8Array): Uint8Array {
  return sequence(sequence(oid(OID.rsaEncryption), NULL), bitString(sequence(integer(modulus), integer(publicExponent))));
}

function unwrapPoint(ecPoint: Uint8Array, pointBytes: number): Uint8Array {
  // Both forms start with 0x04 (OCTET STRING tag, uncompressed-point marker): the length tells them apart.
  if (ecPoint.length === pointBytes && ecPoint[0] === 0x04) return ecPoint;
  const item = new DerReader("the token's CKA_EC_POINT").parse(ecPoint);
  if (item.tag !== TAG.OCTET_STRING || item.value.length !== pointBytes || item.value[0] !== 0x04) {
    throw new PkiError("bad_encoding", "Cannot read the token's public key: CKA_EC_POINT is not an uncompressed point");
  }
  return item.value;
}
