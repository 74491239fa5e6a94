import type { KeyObject } from "node:crypto";
import type { KeyAlgorithm } from "./key-algorithm.js";

/**
 * A private key able to sign, without exposing the key itself. Software keys sign through
 * node:crypto's callback API so signatures run on the libuv thread pool (both cores);
 * PKCS#11 keys can plug in behind the same shape.
 */
export interface Signer {
  readonly keyAlgorithm: KeyAlgorithm;
  /** DER AlgorithmIdentifier of the signatures this signer makes (e.g. ecdsa-with-SHA256). */
  readonly signatureAlgorithm: Uint8Array;
  /** DER SubjectPublicKeyInfo of the matching public key. */
  readonly spki: Uint8Array;
  /** Signs `data`, returning the signature exactly as X.509 embeds it (DER ECDSA-Sig-Value for EC). */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /**
   * Only for keys held in this process's memory (software keys): the key itself, so worker
   * threads can sign with it (KeyObjects cross threads by postMessage without leaving memory).
   * Hardware-backed signers leave it undefined. Never serialised, logged or returned.
   */
  readonly inMemoryKey?: KeyObject;
  /**
   * Hardware-backed signers: checks the device still answers and still holds the key, without
   * signing (readiness probes). Software keys have nothing to check.
   */
  probe?(): Promise<void>;
}
