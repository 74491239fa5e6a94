import { NULL, oid, sequence } from "./der.js";
import type { KeyAlgorithm } from "./key-algorithm.js";
import { OID } from "./oids.js";

/** How a CA key of one algorithm signs: the digest it signs over and the AlgorithmIdentifier X.509 carries. */
export interface SignatureScheme {
  /** Digest name (node:crypto); null for Ed25519, which hashes internally. */
  digest: "sha256" | "sha384" | null;
  algorithmIdentifier: Uint8Array;
}

// RFC 5758 §3.2: ECDSA AlgorithmIdentifiers carry no parameters. RFC 4055 §5: the
// sha*WithRSAEncryption identifiers carry NULL. RFC 8410 §3: Ed25519 has none.
const ECDSA_SHA256: SignatureScheme = { digest: "sha256", algorithmIdentifier: sequence(oid(OID.ecdsaWithSha256)) };
const ECDSA_SHA384: SignatureScheme = { digest: "sha384", algorithmIdentifier: sequence(oid(OID.ecdsaWithSha384)) };
const RSA_SHA256: SignatureScheme = { digest: "sha256", algorithmIdentifier: sequence(oid(OID.sha256WithRsaEncryption), NULL) };
const ED25519: SignatureScheme = { digest: null, algorithmIdentifier: sequence(oid(OID.ed25519)) };

/** One scheme per key algorithm, whichever backend holds the key, so a CA's signatures read the same from a file key or a token. */
export function signatureSchemeFor(alg: KeyAlgorithm): SignatureScheme {
  switch (alg) {
    case "P-256":
      return ECDSA_SHA256;
    case "P-384":
      return ECDSA_SHA384;
    case "RSA-2048":
    case "RSA-3072":
    case "RSA-4096":
      return RSA_SHA256;
    case "Ed25519":
      return ED25519;
  }
}
