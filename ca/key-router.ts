import type { KeyAlgorithm } from "./key-algorithm.js";
import type { KeyProvider } from "./key-provider.js";
import { isOfflineKeyRef } from "./offline-key.js";
import { PkiError } from "./pki-error.js";
import { isPkcs11Ref } from "./pkcs11-uri.js";
import type { Signer } from "./signer.js";

export interface KeyRouterOptions {
  /** Where new keys are made. */
  generateIn: KeyProvider;
  /** Key files (references that are plain file stems). */
  software: KeyProvider;
  /** `pkcs11:` references; absent when no token is set up. */
  pkcs11?: KeyProvider;
  /** `offline:` references (offline roots): refused outside a ceremony. */
  offline: KeyProvider;
}

/**
 * One installation can hold keys in several places at once (a root in a file or offline, the
 * issuing key in a token; intermediates made before a move to a token), so a key is opened by
 * where its reference says it lives, whatever provider makes new keys.
 */
export class KeyRouter implements KeyProvider {
  constructor(private readonly options: KeyRouterOptions) {}

  generate(alg: KeyAlgorithm, label: string): Promise<{ ref: string; spki: Uint8Array }> {
    return this.options.generateIn.generate(alg, label);
  }

  async signer(ref: string): Promise<Signer> {
    if (isOfflineKeyRef(ref)) return this.options.offline.signer(ref);
    if (isPkcs11Ref(ref)) {
      if (!this.options.pkcs11) {
        throw new PkiError(
          "key_unavailable",
          `Cannot open CA key ${ref.slice(0, 200)}: it is in a PKCS#11 token, and no token is configured`,
        );
      }
      return this.options.pkcs11.signer(ref);
    }
    return this.options.software.signer(ref);
  }

  async close(): Promise<void> {
    const { generateIn, software, pkcs11, offline } = this.options;
    for (const provider of new Set([generateIn, software, pkcs11, offline])) await provider?.close?.();
  }
}
