/** A Signer over a node:crypto private key held in process memory. */
import { createPublicKey, sign as cryptoSign, type KeyObject } from "node:crypto";
import type { KeyAlgorithm } from "./key-algorithm.js";
import { PkiError } from "./pki-error.js";
import { signatureSchemeFor, type SignatureScheme } from "./signature-scheme.js";
import type { Signer } from "./signer.js";

/**
 * Signs with node:crypto's callback form, which runs on the libuv thread pool: concurrent
 * issuances then use every core while the event loop keeps encoding. With `sync`, signs on
 * the calling thread: for worker threads, where a thread-pool round trip is pure overhead.
 */
export function createSoftwareSigner(privateKey: KeyObject, options: { sync?: boolean } = {}): Signer {
  if (privateKey.type !== "private") throw new PkiError("invalid_argument", "Cannot create signer: a private key is required");
  const [keyAlgorithm, scheme] = describeKey(privateKey);
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return {
    keyAlgorithm,
    signatureAlgorithm: scheme.algorithmIdentifier,
    spki,
    inMemoryKey: privateKey,
    sign: options.sync
      ? async (data) => cryptoSign(scheme.digest, data, privateKey)
      : (data) =>
          new Promise((resolve, reject) => {
            cryptoSign(scheme.digest, data, privateKey, (error, signature) => (error ? reject(error) : resolve(signature)));
          }),
  };
}

function describeKey(key: KeyObject): [KeyAlgorithm, SignatureScheme] {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return ["P-256", signatureSchemeFor("P-256")];
      if (details.namedCurve === "secp384r1") return ["P-384", signatureSchemeFor("P-384")];
      throw new PkiError("unsupported_algorithm", `Cannot create signer: unsupported EC curve ${details.namedCurve}`);
    case "rsa": {
      const bits = details.modulusLength ?? 0;
      if (bits < 2048) throw new PkiError("weak_key", `Cannot create signer: RSA key of ${bits} bits is below 2048`);
      const name = `RSA-${bits}`;
      if (name !== "RSA-2048" && name !== "RSA-3072" && name !== "RSA-4096") {
        throw new PkiError("unsupported_algorithm", `Cannot create signer: RSA key size ${bits} is not one of 2048, 3072, 4096`);
      }
      return [name, signatureSchemeFor(name)];
    }
    case "ed25519":
      return ["Ed25519", signatureSchemeFor("Ed25519")];
    default:
      throw new PkiError("unsupported_algorithm", `Cannot create signer: unsupported key type ${key.asymmetricKeyType}`);
  }
}
