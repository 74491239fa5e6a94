import { createHash, createPublicKey, verify } from "node:crypto";
import type * as pkcs11js from "pkcs11js";
import { pkcs11 } from "./pkcs11-module.js";
import { ecdsaSignatureToDer } from "./ecdsa-signature.js";
import type { KeyAlgorithm } from "./key-algorithm.js";
import { PkiError } from "./pki-error.js";
import { signatureSchemeFor } from "./signature-scheme.js";
import type { Signer } from "./signer.js";
import { ckrCode, ckrName, type Pkcs11Handle, type Pkcs11Token } from "./pkcs11-token.js";

/** DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs DigestInfo, not a bare hash. */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

/** How to find a key again after the token reconnected: its handle is only good for one connection. */
export type KeyLocator = () => Pkcs11Handle;

/**
 * A Signer over a private key that stays in a PKCS#11 token. The data is hashed here and only
 * the digest goes to the token (CKM_ECDSA / CKM_RSA_PKCS), which every module supports (SoftHSM2
 * 2.6 refuses CKM_ECDSA_SHA256) and keeps large TBS structures off the token's interface.
 * Each signature runs on a pooled session of its own, on a libuv thread (C_Sign's async form).
 */
export class Pkcs11Signer implements Signer {
  readonly signatureAlgorithm: Uint8Array;
  readonly #digest: "sha256" | "sha384";
  readonly #outputBytes: number;
  #handle: { generation: number; key: Pkcs11Handle } | undefined;

  constructor(
    private readonly token: Pkcs11Token,
    private readonly locate: KeyLocator,
    readonly keyAlgorithm: KeyAlgorithm,
    readonly spki: Uint8Array,
    /** Names the key in messages (its object label). */
    private readonly name: string,
    /** The handle already at hand (just generated or found), good until the token reconnects. */
    key?: Pkcs11Handle,
  ) {
    if (key) this.#handle = { generation: token.generation, key };
    const scheme = signatureSchemeFor(keyAlgorithm);
    if (scheme.digest === null)
      throw new PkiError("unsupported_algorithm", `Cannot sign with token key ${name}: ${keyAlgorithm} is not offered for tokens`);
    this.signatureAlgorithm = scheme.algorithmIdentifier;
    this.#digest = scheme.digest;
    this.#outputBytes = outputBytes(keyAlgorithm);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const digest = createHash(this.#digest).update(data).digest();
    const isEc = this.keyAlgorithm === "P-256" || this.keyAlgorithm === "P-384";
    const input = isEc ? digest : Buffer.concat([SHA256_DIGEST_INFO, digest]);
    const mechanism = { mechanism: isEc ? pkcs11().CKM_ECDSA : pkcs11().CKM_RSA_PKCS };
    let raw: Buffer;
    try {
      raw = await this.#signOnce(mechanism, input);
    } catch (err) {
      // A token that reconnected (module reset, token re-inserted) gets one more try with a fresh handle.
      if (this.#handle !== undefined && this.#handle.generation === this.token.generation) throw this.#failure(err);
      try {
        raw = await this.#signOnce(mechanism, input);
      } catch (again) {
        throw this.#failure(again);
      }
    }
    return isEc ? ecdsaSignatureToDer(raw, this.#outputBytes / 2) : raw;
  }

  /** Checks the token still answers and still holds the key, without signing: for readiness probes. */
  async probe(): Promise<void> {
    const check = () => {
      const key = this.#key();
      this.token.manage((lib, session) => lib.C_GetAttributeValue(session, key, [{ type: pkcs11().CKA_SIGN }]));
    };
    try {
      check();
    } catch {
      // A stale handle or connection: look the key up once more before calling the token gone.
      try {
        check();
      } catch (err) {
        throw this.#failure(err);
      }
    }
  }

  /**
   * Signs a test message and verifies it with the public key: run once when a key is opened, so a
   * mismatched public object or a mechanism the module mishandles is found before a CA signs with it.
   */
  async selfTest(): Promise<void> {
    const message = Buffer.from("dpki token key self-test");
    const signature = await this.sign(message);
    const key = createPublicKey({ key: Buffer.from(this.spki), format: "der", type: "spki" });
    if (!verify(this.#digest, message, key, signature)) {
      throw new PkiError("key_unavailable", `Cannot use token key ${this.name}: its signature does not verify with its public key`);
    }
  }

  #signOnce(mechanism: pkcs11js.Mechanism, input: Buffer): Promise<Buffer> {
    const key = this.#key();
    return this.token.operate(async (lib, session) => {
      lib.C_SignInit(session, mechanism, key);
      return lib.C_SignAsync(session, input, Buffer.alloc(this.#outputBytes));
    });
  }

  #key(): Pkcs11Handle {
    const generation = this.token.generation;
    if (this.#handle?.generation !== generation) this.#handle = { generation, key: this.locate() };
    return this.#handle.key;
  }

  #failure(err: unknown): Error {
    if (err instanceof PkiError) return err;
    return new PkiError("key_unavailable", `Cannot sign with token key ${this.name} on "${this.token.label}": ${ckrName(err)}`, {
      ...(ckrCode(err) !== undefined ? { ckr: ckrName(err) } : {}),
    });
  }
}

/** Signature size: r || s for ECDSA (two coordinates), the modulus for RSA. */
function outputBytes(alg: KeyAlgorithm): number {
  switch (alg) {
    case "P-256":
      return 64;
    case "P-384":
      return 96;
    case "RSA-2048":
      return 256;
    case "RSA-3072":
      return 384;
    case "RSA-4096":
      return 512;
    case "Ed25519":
      return 64;
  }
}
