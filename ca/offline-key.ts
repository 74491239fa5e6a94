import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import type { KeyAlgorithm } from "./key-algorithm.js";
import type { KeyProvider } from "./key-provider.js";
import { PkiError } from "./pki-error.js";
import { decryptPrivateKey, encryptPrivateKey, generatePrivateKey } from "./private-key.js";
import type { Signer } from "./signer.js";
import { createSoftwareSigner } from "./software-signer.js";

const PREFIX = "offline:sha256=";

/**
 * The reference of a key kept off the machine (an offline root): the SHA-256 of its
 * SubjectPublicKeyInfo, so the key file brought to a ceremony can be checked against it.
 */
export function offlineKeyRef(spki: Uint8Array): string {
  return PREFIX + createHash("sha256").update(spki).digest("hex");
}

export function isOfflineKeyRef(ref: string): boolean {
  return ref.startsWith(PREFIX);
}

/**
 * Offline keys present for one ceremony: made here (a new root) or opened from the operator's
 * encrypted key file, held in this process's memory only and handed back encrypted for the
 * operator to take away. Outside a ceremony it holds nothing, and every offline key is refused.
 */
export class CeremonyKeys implements KeyProvider {
  readonly #keys = new Map<string, KeyObject>();

  constructor(private readonly options: { canGenerate: boolean; refusal?: string } = { canGenerate: true }) {}

  async generate(alg: KeyAlgorithm, _label: string): Promise<{ ref: string; spki: Uint8Array }> {
    if (!this.options.canGenerate) throw this.#offline("new offline keys are made in a ceremony only");
    const key = generatePrivateKey(alg);
    const spki = createPublicKey(key).export({ format: "der", type: "spki" });
    const ref = offlineKeyRef(spki);
    this.#keys.set(ref, key);
    return { ref, spki };
  }

  /** Opens the operator's encrypted key file for this ceremony; returns its reference. */
  open(pem: string, passphrase: string): string {
    const key = decryptPrivateKey(pem, passphrase);
    const ref = offlineKeyRef(createPublicKey(key).export({ format: "der", type: "spki" }));
    this.#keys.set(ref, key);
    return ref;
  }

  async signer(ref: string): Promise<Signer> {
    const key = this.#keys.get(ref);
    if (!key) throw this.#offline(`key ${ref} is kept offline`);
    return createSoftwareSigner(key);
  }

  /** The key as an encrypted PKCS#8 PEM (what `openssl pkey` opens with the passphrase). */
  export(ref: string, passphrase: string, options: { iterations?: number } = {}): string {
    const key = this.#keys.get(ref);
    if (!key) throw this.#offline(`key ${ref} is not part of this ceremony`);
    return encryptPrivateKey(key, passphrase, options);
  }

  #offline(why: string): PkiError {
    return new PkiError("key_offline", `Cannot use the offline key: ${this.options.refusal ?? why}`);
  }
}
