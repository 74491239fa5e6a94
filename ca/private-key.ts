import { createCipheriv, createPrivateKey, generateKeyPairSync, pbkdf2Sync, randomBytes, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import { AlgorithmIdentifier, PBES2Params, PBKDF2Params, PKCS8ShroudedKeyBag } from "pkijs";
import type { KeyAlgorithm } from "./key-algorithm.js";
import { PkiError } from "./pki-error.js";

/**
 * PBKDF2-HMAC-SHA256 iterations for CA keys at rest: OWASP's Password Storage Cheat Sheet
 * figure for PBKDF2-HMAC-SHA256 (600,000). A CA key is opened once per process and cached,
 * so a slow open costs nothing in steady state and makes a stolen key file expensive to attack.
 */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

/** RFC 8018 §4.1 asks for at least 8 salt octets; 16 is what OpenSSL writes and NIST SP 800-132 suggests. */
const SALT_BYTES = 16;
const AES_256_KEY_BYTES = 32;
const AES_BLOCK_BYTES = 16;

// Object identifiers from RFC 8018 Appendix C (PBES2, PBKDF2, hmacWithSHA256) and NIST CSOR (AES-256-CBC).
const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_PBKDF2 = "1.2.840.113549.1.5.12";
const OID_HMAC_WITH_SHA256 = "1.2.840.113549.2.9";
const OID_AES_256_CBC = "2.16.840.1.101.3.4.1.42";

const PEM_LABEL = "ENCRYPTED PRIVATE KEY";
const ENCRYPTED_PEM = /-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]+?-----END ENCRYPTED PRIVATE KEY-----/;
const UNAVAILABLE = "Cannot open CA key: wrong passphrase or damaged key file";

/** A fresh key pair's private half for one of the CA key algorithms. */
export function generatePrivateKey(alg: KeyAlgorithm): KeyObject {
  switch (alg) {
    case "P-256":
    case "P-384":
      return generateKeyPairSync("ec", { namedCurve: alg }).privateKey;
    case "RSA-2048":
    case "RSA-3072":
    case "RSA-4096":
      return generateKeyPairSync("rsa", { modulusLength: Number(alg.slice(4)), publicExponent: 0x10001 }).privateKey;
    case "Ed25519":
      return generateKeyPairSync("ed25519").privateKey;
    default:
      throw new PkiError("unsupported_algorithm", `Cannot generate key: unsupported algorithm ${String(alg)}`);
  }
}

/**
 * Encrypts a private key as an RFC 5958 EncryptedPrivateKeyInfo ("ENCRYPTED PRIVATE KEY" PEM)
 * using PBES2 (RFC 8018 §6.2): PBKDF2 with hmacWithSHA256 and a random 16-byte salt, then
 * AES-256-CBC with a random IV. This is the same shape `openssl pkcs8 -topk8 -v2 aes-256-cbc`
 * writes, so standard tools open it. pkijs only offers this through an async WebCrypto path
 * with a fixed 64-byte salt, so its ASN.1 classes describe the structure and node:crypto
 * does the key derivation and encryption.
 */
export function encryptPrivateKey(key: KeyObject, passphrase: string, opts: { iterations?: number } = {}): string {
  const iterations = opts.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new PkiError("invalid_argument", "Cannot encrypt key: iterations must be a positive integer");
  }
  if (passphrase.length === 0) {
    throw new PkiError("invalid_argument", "Cannot encrypt key: the passphrase is empty");
  }
  if (key.type !== "private") {
    throw new PkiError("invalid_argument", "Cannot encrypt key: not a private key");
  }

  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(AES_BLOCK_BYTES);
  const kek = pbkdf2Sync(passphrase, salt, iterations, AES_256_KEY_BYTES, "sha256");
  const cipher = createCipheriv("aes-256-cbc", kek, iv);
  // createCipheriv applies PKCS#7 padding, which is what RFC 8018 §6.2 (via RFC 1423) specifies.
  const encrypted = Buffer.concat([cipher.update(key.export({ type: "pkcs8", format: "der" })), cipher.final()]);
  kek.fill(0);

  const pbes2 = new PBES2Params({
    keyDerivationFunc: new AlgorithmIdentifier({
      algorithmId: OID_PBKDF2,
      algorithmParams: new PBKDF2Params({
        salt: new asn1js.OctetString({ valueHex: toArrayBuffer(salt) }),
        iterationCount: iterations,
        prf: new AlgorithmIdentifier({ algorithmId: OID_HMAC_WITH_SHA256, algorithmParams: new asn1js.Null() }),
      }).toSchema(),
    }),
    encryptionScheme: new AlgorithmIdentifier({
      algorithmId: OID_AES_256_CBC,
      algorithmParams: new asn1js.OctetString({ valueHex: toArrayBuffer(iv) }),
    }),
  });
  // PKCS8ShroudedKeyBag is pkijs' name for EncryptedPrivateKeyInfo (RFC 5958 §3).
  const info = new PKCS8ShroudedKeyBag({
    encryptionAlgorithm: new AlgorithmIdentifier({ algorithmId: OID_PBES2, algorithmParams: pbes2.toSchema() }),
    encryptedData: new asn1js.OctetString({ valueHex: toArrayBuffer(encrypted) }),
  });
  return toPem(Buffer.from(info.toSchema().toBER(false)));
}

/**
 * Opens an "ENCRYPTED PRIVATE KEY" PEM (ours or one written by OpenSSL). Decryption is left to
 * OpenSSL through node:crypto, so it accepts any PBES2 parameters OpenSSL does and doubles as an
 * independent check of what encryptPrivateKey writes. Every failure reads the same and carries
 * nothing of the file or the passphrase, so an error message can never leak either.
 */
export function decryptPrivateKey(pem: string, passphrase: string): KeyObject {
  const block = ENCRYPTED_PEM.exec(pem);
  if (block === null || passphrase.length === 0) {
    throw new PkiError("key_unavailable", UNAVAILABLE);
  }
  try {
    return createPrivateKey({ key: block[0], format: "pem", passphrase });
  } catch {
    throw new PkiError("key_unavailable", UNAVAILABLE);
  }
}

function toPem(der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${PEM_LABEL}-----\n${lines.join("\n")}\n-----END ${PEM_LABEL}-----\n`;
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
