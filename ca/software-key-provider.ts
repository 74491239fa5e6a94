import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { KeyAlgorithm } from "./key-algorithm.js";
import type { KeyProvider } from "./key-provider.js";
import { PkiError } from "./pki-error.js";
import { decryptPrivateKey, encryptPrivateKey, generatePrivateKey } from "./private-key.js";
import type { Signer } from "./signer.js";
import { createSoftwareSigner } from "./software-signer.js";

export interface SoftwareKeyProviderOptions {
  /** Directory holding `<ref>.key.pem` files; created (and kept) at mode 0700. */
  dir: string;
  /** Passphrase every key in `dir` is encrypted under. */
  passphrase: string;
  /** PBKDF2 iterations for new keys; defaults to DEFAULT_PBKDF2_ITERATIONS. */
  iterations?: number;
}

/** A reference is a plain file-name stem: no separators, no leading dot, no "..". */
const REF_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const MAX_LABEL_CHARS = 48;
const SUFFIX_BYTES = 6;
const KEY_SUFFIX = ".key.pem";

/**
 * CA keys as passphrase-encrypted PKCS#8 files in one directory. Opening a key is deliberately
 * slow (PBKDF2), so each key is decrypted once and its Signer kept for the life of the provider.
 * The passphrase sits in a private field, so it never shows up when the provider is inspected
 * or serialised; nothing here logs.
 */
export class SoftwareKeyProvider implements KeyProvider {
  readonly #dir: string;
  readonly #passphrase: string;
  readonly #iterations: number | undefined;
  readonly #signers = new Map<string, Promise<Signer>>();

  constructor(opts: SoftwareKeyProviderOptions) {
    if (opts.passphrase.length === 0) {
      throw new PkiError("invalid_argument", "Cannot use software keys: the passphrase is empty");
    }
    this.#dir = opts.dir;
    this.#passphrase = opts.passphrase;
    this.#iterations = opts.iterations;
  }

  async generate(alg: KeyAlgorithm, label: string): Promise<{ ref: string; spki: Uint8Array }> {
    const ref = `${sanitiseLabel(label)}-${randomBytes(SUFFIX_BYTES).toString("hex")}`;
    const key = generatePrivateKey(alg);
    const pem = encryptPrivateKey(key, this.#passphrase, { iterations: this.#iterations });
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    // mkdir's mode only applies to a directory it creates; tighten one that already existed.
    await chmod(this.#dir, 0o700);
    await writeFileAtomic(this.#keyPath(ref), pem);
    const signer = createSoftwareSigner(key);
    this.#signers.set(ref, Promise.resolve(signer));
    return { ref, spki: signer.spki };
  }

  signer(ref: string): Promise<Signer> {
    let signer = this.#signers.get(ref);
    if (signer === undefined) {
      // Cached as a promise so concurrent first callers share one (slow) decryption.
      signer = this.#open(ref);
      this.#signers.set(ref, signer);
      // A failed open is not remembered, so fixing the file or the passphrase takes effect.
      signer.catch(() => this.#signers.delete(ref));
    }
    return signer;
  }

  async #open(ref: string): Promise<Signer> {
    const file = this.#keyPath(ref);
    let pem: string;
    try {
      pem = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new PkiError("key_unavailable", `Cannot open CA key: no key with reference ${ref}`, { ref });
      }
      throw new PkiError("key_unavailable", `Cannot open CA key ${ref}: the key file cannot be read`, { ref });
    }
    return createSoftwareSigner(decryptPrivateKey(pem, this.#passphrase));
  }

  /** The only place a ref becomes a path, so every caller is checked against path tricks. */
  #keyPath(ref: string): string {
    if (!REF_PATTERN.test(ref) || ref.includes("..")) {
      throw new PkiError("invalid_argument", `Cannot use key reference ${JSON.stringify(ref.slice(0, 100))}: not a valid reference`);
    }
    return path.join(this.#dir, `${ref}${KEY_SUFFIX}`);
  }
}

/** Keeps a label readable in the file name while making it a safe reference stem. */
function sanitiseLabel(label: string): string {
  const stem = label
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .slice(0, MAX_LABEL_CHARS)
    .replace(/^[-._]+|[-._]+$/g, "");
  return stem === "" ? "key" : stem;
}

/**
 * Writes a new 0600 file so that readers see either nothing or the whole key: a temp file in the
 * same directory, flushed, then renamed into place. A reference is never reused, so an existing
 * target means something is badly wrong and is refused rather than overwritten.
 */
async function writeFileAtomic(file: string, contents: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(contents, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temp);
    throw err;
  }
  await handle.close();
  if (await exists(file)) {
    await unlink(temp);
    throw new PkiError("invalid_argument", `Cannot store CA key: ${path.basename(file)} already exists`);
  }
  await rename(temp, file);
  // The rename is only durable once the directory entry itself is flushed.
  const dir = await open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
