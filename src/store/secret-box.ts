import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { AppError } from "../errors.js";

/**
 * Seals secrets the store must be able to read back (devices' symmetric keys, hub policy
 * keys: SAS checks need the raw key, so they cannot be stored as hashes).
 */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

const PREFIX = "sealed:v1:";
const AAD = Buffer.from("dpki secret v1");
/** scrypt cost (RFC 7914): ~50 ms once per process, 32 MiB; the salt is per database. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 };

/**
 * AES-256-GCM under a key derived with scrypt from the CA passphrase. The key is derived on
 * first use, so commands that read nothing sealed never need the passphrase.
 */
export class PassphraseSecretBox implements SecretBox {
  private key: Buffer | undefined;

  constructor(
    private readonly passphrase: () => string,
    private readonly salt: () => Buffer,
  ) {}

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.derive(), iv).setAAD(AAD);
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
  }

  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX))
      throw new AppError("config_error", "A stored secret is not sealed: the database was written by something else");
    const bytes = Buffer.from(sealed.slice(PREFIX.length), "base64");
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.derive(), bytes.subarray(0, 12)).setAAD(AAD);
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      throw new AppError("key_unavailable", "Cannot open stored device keys: wrong passphrase or damaged database");
    }
  }

  private derive(): Buffer {
    return (this.key ??= scryptSync(this.passphrase(), this.salt(), 32, SCRYPT));
  }
}
