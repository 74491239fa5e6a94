import { randomBytes } from "node:crypto";
import { endianness } from "node:os";
import type * as pkcs11js from "pkcs11js";
import { pkcs11 } from "./pkcs11-module.js";
import type { KeyAlgorithm } from "./key-algorithm.js";
import type { KeyProvider } from "./key-provider.js";
import { PkiError } from "./pki-error.js";
import { EC_PARAMS, ecSpki, rsaSpki } from "./pkcs11-public-key.js";
import { keyAlgorithmOfSpki } from "./spki-algorithm.js";
import { Pkcs11Signer } from "./pkcs11-signer.js";
import { ckrName, Pkcs11Token, type Pkcs11Handle, type Pkcs11TokenOptions } from "./pkcs11-token.js";
import { formatPkcs11Ref, parsePkcs11Ref, type Pkcs11KeyRef } from "./pkcs11-uri.js";
import type { Signer } from "./signer.js";

export type Pkcs11KeyProviderOptions = Pkcs11TokenOptions;

const ID_BYTES = 16;
const RSA_PUBLIC_EXPONENT = Buffer.from([0x01, 0x00, 0x01]);

/**
 * CA keys generated inside a PKCS#11 token and never let out of it: private (login needed),
 * sensitive and not extractable, so neither dpki nor anyone with the PIN can read them back; the
 * token only signs with them. A key is found again by the token label, object label and CKA_ID
 * its reference (an RFC 7512 URI) names. P-256, P-384 and RSA 2048/3072/4096.
 */
export class Pkcs11KeyProvider implements KeyProvider {
  readonly #token: Pkcs11Token;
  readonly #signers = new Map<string, Promise<Signer>>();

  constructor(options: Pkcs11KeyProviderOptions) {
    this.#token = new Pkcs11Token(options);
  }

  get tokenLabel(): string {
    return this.#token.label;
  }

  async generate(alg: KeyAlgorithm, label: string): Promise<{ ref: string; spki: Uint8Array }> {
    const mechanism = keyPairMechanism(alg, this.#token.label);
    const id = randomBytes(ID_BYTES);
    const object = `dpki-${objectStem(label)}-${id.subarray(0, 4).toString("hex")}`;
    const common = [
      { type: pkcs11().CKA_TOKEN, value: true },
      { type: pkcs11().CKA_ID, value: id },
      { type: pkcs11().CKA_LABEL, value: object },
    ];
    const publicTemplate = [
      ...common,
      { type: pkcs11().CKA_PRIVATE, value: false },
      { type: pkcs11().CKA_VERIFY, value: true },
      // A CA key signs and does nothing else: no encryption or key wrapping with its pair.
      { type: pkcs11().CKA_ENCRYPT, value: false },
      { type: pkcs11().CKA_WRAP, value: false },
      ...(alg === "P-256" || alg === "P-384"
        ? [{ type: pkcs11().CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[alg]) }]
        : [
            { type: pkcs11().CKA_MODULUS_BITS, value: Number(alg.slice(4)) },
            { type: pkcs11().CKA_PUBLIC_EXPONENT, value: RSA_PUBLIC_EXPONENT },
          ]),
    ];
    const privateTemplate = [
      ...common,
      { type: pkcs11().CKA_PRIVATE, value: true },
      { type: pkcs11().CKA_SENSITIVE, value: true },
      { type: pkcs11().CKA_EXTRACTABLE, value: false },
      { type: pkcs11().CKA_SIGN, value: true },
      { type: pkcs11().CKA_DECRYPT, value: false },
      { type: pkcs11().CKA_UNWRAP, value: false },
      { type: pkcs11().CKA_DERIVE, value: false },
    ];
    let pair: pkcs11js.KeyPair;
    try {
      // Async: an RSA-4096 pair takes seconds, which must not stall a server's event loop.
      pair = await this.#token.operate((lib, session) =>
        lib.C_GenerateKeyPairAsync(session, { mechanism }, publicTemplate, privateTemplate),
      );
    } catch (err) {
      throw new PkiError("key_unavailable", `Cannot generate a ${alg} key in PKCS#11 token "${this.#token.label}": ${ckrName(err)}`);
    }
    const ref = { token: this.#token.label, object, id };
    let signer: Pkcs11Signer;
    try {
      signer = await this.#open(ref, pair.privateKey, pair.publicKey);
    } catch (err) {
      // A key the token made weaker than asked (or that cannot sign) must not linger as a CA key.
      this.#token.manage((lib, session) => {
        lib.C_DestroyObject(session, pair.privateKey);
        lib.C_DestroyObject(session, pair.publicKey);
      });
      throw err;
    }
    const text = formatPkcs11Ref(ref);
    this.#signers.set(text, Promise.resolve(signer));
    return { ref: text, spki: signer.spki };
  }

  signer(ref: string): Promise<Signer> {
    let signer = this.#signers.get(ref);
    if (signer === undefined) {
      signer = Promise.resolve().then(() => this.#open(parsePkcs11Ref(ref)));
      this.#signers.set(ref, signer);
      // Not remembered on failure, so a token plugged back in or a fixed setting takes effect.
      signer.catch(() => this.#signers.delete(ref));
    }
    return signer;
  }

  async close(): Promise<void> {
    this.#token.close();
  }

  async #open(ref: Pkcs11KeyRef, privateKey?: Pkcs11Handle, publicKey?: Pkcs11Handle): Promise<Pkcs11Signer> {
    if (ref.token !== this.#token.label) {
      throw new PkiError(
        "key_unavailable",
        `Cannot open CA key ${ref.object}: it is in PKCS#11 token "${ref.token}", but dpki is set up for token "${this.#token.label}"`,
      );
    }
    const find = (objectClass: number) => () => this.#findOne(ref, objectClass);
    const locatePrivate = find(pkcs11().CKO_PRIVATE_KEY);
    const key = privateKey ?? locatePrivate();
    this.#checkKeyStaysInToken(ref, key);
    const spki = this.#readSpki(ref, publicKey ?? find(pkcs11().CKO_PUBLIC_KEY)());
    const signer = new Pkcs11Signer(this.#token, locatePrivate, keyAlgorithmOfSpki(spki), spki, ref.object, key);
    await signer.selfTest();
    return signer;
  }

  #findOne(ref: Pkcs11KeyRef, objectClass: number): Pkcs11Handle {
    const kind = objectClass === pkcs11().CKO_PRIVATE_KEY ? "private" : "public";
    let found: Pkcs11Handle[];
    try {
      found = this.#token.manage((lib, session) => {
        lib.C_FindObjectsInit(session, [
          { type: pkcs11().CKA_CLASS, value: objectClass },
          { type: pkcs11().CKA_ID, value: Buffer.from(ref.id) },
          { type: pkcs11().CKA_LABEL, value: ref.object },
        ]);
        try {
          return lib.C_FindObjects(session, 2);
        } finally {
          lib.C_FindObjectsFinal(session);
        }
      });
    } catch (err) {
      throw new PkiError("key_unavailable", `Cannot search PKCS#11 token "${this.#token.label}" for key ${ref.object}: ${ckrName(err)}`);
    }
    if (found.length === 0) {
      throw new PkiError("key_unavailable", `Cannot open CA key: no ${kind} key ${ref.object} in PKCS#11 token "${this.#token.label}"`, {
        ref: formatPkcs11Ref(ref),
      });
    }
    if (found.length > 1) {
      throw new PkiError(
        "key_unavailable",
        `Cannot open CA key: several ${kind} keys named ${ref.object} with the same id in token "${this.#token.label}"`,
      );
    }
    return found[0]!;
  }

  /** Refuses a key the token would let out: a CA key dpki put in a token is one that cannot leave it. */
  #checkKeyStaysInToken(ref: Pkcs11KeyRef, key: Pkcs11Handle): void {
    const attrs = this.#token.manage((lib, session) =>
      lib.C_GetAttributeValue(session, key, [
        { type: pkcs11().CKA_PRIVATE },
        { type: pkcs11().CKA_SENSITIVE },
        { type: pkcs11().CKA_EXTRACTABLE },
        { type: pkcs11().CKA_NEVER_EXTRACTABLE },
        { type: pkcs11().CKA_SIGN },
      ]),
    );
    const flag = (type: number) => attrs.find((a) => a.type === type)?.value[0] === 1;
    const problems = [
      !flag(pkcs11().CKA_PRIVATE) && "readable without login (CKA_PRIVATE false)",
      !flag(pkcs11().CKA_SENSITIVE) && "not sensitive",
      flag(pkcs11().CKA_EXTRACTABLE) && "extractable",
      !flag(pkcs11().CKA_NEVER_EXTRACTABLE) && "once extractable (CKA_NEVER_EXTRACTABLE false)",
      !flag(pkcs11().CKA_SIGN) && "not allowed to sign",
    ].filter(Boolean);
    if (problems.length > 0) {
      throw new PkiError(
        "key_unavailable",
        `Cannot use key ${ref.object} in token "${this.#token.label}" as a CA key: it is ${problems.join(", ")}`,
      );
    }
  }

  #readSpki(ref: Pkcs11KeyRef, publicKey: Pkcs11Handle): Uint8Array {
    const [type] = this.#token.manage((lib, session) => lib.C_GetAttributeValue(session, publicKey, [{ type: pkcs11().CKA_KEY_TYPE }]));
    const keyType = ckUlong(type!.value);
    const read = (...types: number[]) =>
      this.#token
        .manage((lib, session) =>
          lib.C_GetAttributeValue(
            session,
            publicKey,
            types.map((t) => ({ type: t })),
          ),
        )
        .map((a) => a.value);
    if (keyType === pkcs11().CKK_EC) {
      const [params, point] = read(pkcs11().CKA_EC_PARAMS, pkcs11().CKA_EC_POINT);
      return ecSpki(params!, point!);
    }
    if (keyType === pkcs11().CKK_RSA) {
      const [modulus, exponent] = read(pkcs11().CKA_MODULUS, pkcs11().CKA_PUBLIC_EXPONENT);
      return rsaSpki(modulus!, exponent!);
    }
    throw new PkiError("unsupported_algorithm", `Cannot use key ${ref.object} in token "${this.#token.label}": neither EC nor RSA`);
  }
}

/** A CK_ULONG attribute value: native byte order, 4 or 8 bytes. */
function ckUlong(value: Buffer): number {
  const le = endianness() === "LE";
  if (value.length === 8) return Number(le ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value.length === 4) return le ? value.readUInt32LE() : value.readUInt32BE();
  throw new PkiError("bad_encoding", `Cannot read a PKCS#11 attribute: a CK_ULONG of ${value.length} bytes`);
}

function keyPairMechanism(alg: KeyAlgorithm, token: string): number {
  switch (alg) {
    case "P-256":
    case "P-384":
      return pkcs11().CKM_EC_KEY_PAIR_GEN;
    case "RSA-2048":
    case "RSA-3072":
    case "RSA-4096":
      return pkcs11().CKM_RSA_PKCS_KEY_PAIR_GEN;
    default:
      throw new PkiError(
        "unsupported_algorithm",
        `Cannot generate a ${alg} key in PKCS#11 token "${token}": CA keys in a token are P-256, P-384 or RSA (2048, 3072, 4096)`,
      );
  }
}

/** The role of the key in its object label ("dpki-intermediate-1a2b3c4d"), readable in pkcs11-tool listings. */
function objectStem(label: string): string {
  const stem = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return stem === "" ? "key" : stem;
}
