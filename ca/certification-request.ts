import { bitString, sequence, TAG, tlv } from "./der.js";
import { encodeName } from "./name.js";
import type { Signer } from "./signer.js";
import type { NameAttribute } from "./x509-types.js";

/**
 * A PKCS #10 request (RFC 2986) for a CA key behind a Signer (a token key included): subject
 * and public key, no attributes. What an offline root is asked to certify; its signature proves
 * the requester holds the key.
 */
export async function encodeCertificationRequest(subject: readonly NameAttribute[], signer: Signer): Promise<Uint8Array> {
  const info = sequence(
    Uint8Array.of(TAG.INTEGER, 1, 0),
    encodeName(subject),
    signer.spki,
    // attributes [0] IMPLICIT SET OF Attribute: present and empty.
    tlv(0xa0),
  );
  const signature = await signer.sign(info);
  return sequence(info, signer.signatureAlgorithm, bitString(signature));
}
