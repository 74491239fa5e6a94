import type { KeyAlgorithm } from "./key-algorithm.js";
import type { Signer } from "./signer.js";

/**
 * Where CA keys live. The engine only ever holds an opaque reference and a Signer, so a key
 * backend (encrypted files, a PKCS#11 token) can keep the private key to itself.
 */
export interface KeyProvider {
  /** Creates a new key and returns an opaque reference to it plus its SPKI. */
  generate(alg: KeyAlgorithm, label: string): Promise<{ ref: string; spki: Uint8Array }>;
  /** A Signer for a key created earlier. */
  signer(ref: string): Promise<Signer>;
  /** Lets go of what the provider holds open (token sessions); software keys hold nothing. */
  close?(): Promise<void>;
}
