import { createPublicKey } from "node:crypto";
import type { KeyAlgorithm } from "./key-algorithm.js";
import { PkiError } from "./pki-error.js";

/** Which of dpki's CA key algorithms a public key is; anything else is refused. */
export function keyAlgorithmOfSpki(spki: Uint8Array): KeyAlgorithm {
  let details;
  let type;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
    details = key.asymmetricKeyDetails ?? {};
    type = key.asymmetricKeyType;
  } catch {
    throw new PkiError("bad_encoding", "Cannot read the public key: not a valid SubjectPublicKeyInfo");
  }
  if (type === "ec" && details.namedCurve === "prime256v1") return "P-256";
  if (type === "ec" && details.namedCurve === "secp384r1") return "P-384";
  if (type === "ed25519") return "Ed25519";
  if (type === "rsa" && [2048, 3072, 4096].includes(details.modulusLength ?? 0)) return `RSA-${details.modulusLength}` as KeyAlgorithm;
  throw new PkiError(
    "unsupported_algorithm",
    `Cannot use the key: ${type} ${details.namedCurve ?? details.modulusLength ?? ""} is not P-256, P-384, RSA 2048/3072/4096 or Ed25519`,
  );
}
