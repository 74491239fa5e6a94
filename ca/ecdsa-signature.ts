import { integer, sequence } from "./der.js";
import { PkiError } from "./pki-error.js";

/**
 * PKCS#11 (CKM_ECDSA, PKCS#11 v2.40 §2.3.1) returns an ECDSA signature as r || s, each the
 * curve's size; X.509 embeds ECDSA-Sig-Value, SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2 /
 * RFC 3279 §2.2.3). Converts the one into the other.
 */
export function ecdsaSignatureToDer(raw: Uint8Array, coordinateBytes: number): Uint8Array {
  if (raw.length !== 2 * coordinateBytes) {
    throw new PkiError("bad_signature", `Cannot encode ECDSA signature: expected ${2 * coordinateBytes} bytes (r || s), got ${raw.length}`);
  }
  return sequence(integer(raw.subarray(0, coordinateBytes)), integer(raw.subarray(coordinateBytes)));
}
