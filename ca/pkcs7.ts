import { TAG, explicit, integer, oid, sequence, setOf, tlv } from "./der.js";

const SIGNED_DATA = "1.2.840.113549.1.7.2";
const DATA = "1.2.840.113549.1.7.1";

/**
 * A degenerate PKCS#7 / CMS SignedData (RFC 5652 §5, "certs-only"): no content, no signers,
 * just certificates — what EST (RFC 7030 §4.1.3, §4.2.3) answers with. The certificates keep
 * the order given (SET OF ordering does not apply: `certificates` is IMPLICIT SET, and
 * clients take the issued certificate first).
 */
export function certsOnlyPkcs7(certificates: Uint8Array[]): Uint8Array {
  const signedData = sequence(integer(Uint8Array.of(1)), setOf(), sequence(oid(DATA)), tlv(0xa0, ...certificates), tlv(TAG.SET));
  return sequence(oid(SIGNED_DATA), explicit(0, signedData));
}
