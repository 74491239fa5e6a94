import { execFileSync } from "node:child_process";
import { createPublicKey, sign, verify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as asn1js from "asn1js";
import { PBES2Params, PBKDF2Params, PKCS8ShroudedKeyBag } from "pkijs";
import { afterAll, describe, expect, it } from "vitest";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../ca/key-algorithm.js";
import { PkiError } from "../../ca/pki-error.js";
import { DEFAULT_PBKDF2_ITERATIONS, decryptPrivateKey, encryptPrivateKey, generatePrivateKey } from "../../ca/private-key.js";

// Low iteration count keeps the suite fast; one test below exercises the default.
const FAST = { iterations: 1_000 };
const PASS = "correct horse battery staple";

const workDir = mkdtempSync(path.join(tmpdir(), "dpki-private-key-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const generated = new Map<KeyAlgorithm, ReturnType<typeof generatePrivateKey>>();
/**
 * One key per algorithm for the tests that encrypt, open and hand keys to OpenSSL: RSA-3072 and
 * RSA-4096 generation takes seconds, and what those tests check does not depend on a fresh key.
 * The generatePrivateKey tests make their own.
 */
function keyFor(alg: KeyAlgorithm): ReturnType<typeof generatePrivateKey> {
  let key = generated.get(alg);
  if (!key) generated.set(alg, (key = generatePrivateKey(alg)));
  return key;
}

function pemBody(pem: string): Uint8Array {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

function publicDer(key: ReturnType<typeof generatePrivateKey>): Buffer {
  return createPublicKey(key).export({ type: "spki", format: "der" });
}

function expectKeyUnavailable(fn: () => unknown, secrets: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PkiError);
  const err = caught as PkiError;
  expect(err.code).toBe("key_unavailable");
  expect(err.message).toBe("Cannot open CA key: wrong passphrase or damaged key file");
  const text = `${err.message} ${JSON.stringify(err.detail ?? {})} ${String(err.stack)}`;
  for (const secret of secrets) expect(text).not.toContain(secret);
}

/** Runs openssl with its stderr captured rather than printed into the test output. */
function openssl(...args: string[]): Buffer {
  return execFileSync("openssl", args, { stdio: "pipe" });
}

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("generatePrivateKey", () => {
  const expected: Record<KeyAlgorithm, (k: ReturnType<typeof generatePrivateKey>) => void> = {
    "P-256": (k) => expect(k.asymmetricKeyDetails?.namedCurve).toBe("prime256v1"),
    "P-384": (k) => expect(k.asymmetricKeyDetails?.namedCurve).toBe("secp384r1"),
    "RSA-2048": (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(2048),
    "RSA-3072": (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(3072),
    "RSA-4096": (k) => expect(k.asymmetricKeyDetails?.modulusLength).toBe(4096),
    Ed25519: (k) => expect(k.asymmetricKeyType).toBe("ed25519"),
  };
  it.each(KEY_ALGORITHMS)("makes a %s private key", (alg) => {
    const key = generatePrivateKey(alg);
    expect(key.type).toBe("private");
    expected[alg](key);
    if (alg.startsWith("RSA")) expect(key.asymmetricKeyDetails?.publicExponent).toBe(65537n);
  });
});

describe("encryptPrivateKey / decryptPrivateKey", () => {
  it.each(KEY_ALGORITHMS)("round-trips a %s key", (alg) => {
    const key = keyFor(alg);
    const pem = encryptPrivateKey(key, PASS, FAST);
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END ENCRYPTED PRIVATE KEY-----\n$/);
    const opened = decryptPrivateKey(pem, PASS);
    expect(opened.export({ type: "pkcs8", format: "der" })).toEqual(key.export({ type: "pkcs8", format: "der" }));
    const data = Buffer.from("to be signed");
    const digest = alg === "Ed25519" ? null : "sha256";
    expect(verify(digest, data, createPublicKey(key), sign(digest, data, opened))).toBe(true);
  });

  it("writes RFC 5958 EncryptedPrivateKeyInfo with PBES2, PBKDF2-HMAC-SHA256, 16-byte salt and AES-256-CBC", () => {
    const pem = encryptPrivateKey(generatePrivateKey("P-256"), PASS, { iterations: 1234 });
    const info = new PKCS8ShroudedKeyBag({ schema: asn1js.fromBER(pemBody(pem)).result });
    expect(info.encryptionAlgorithm.algorithmId).toBe("1.2.840.113549.1.5.13");
    const pbes2 = new PBES2Params({ schema: info.encryptionAlgorithm.algorithmParams });
    expect(pbes2.keyDerivationFunc.algorithmId).toBe("1.2.840.113549.1.5.12");
    expect(pbes2.encryptionScheme.algorithmId).toBe("2.16.840.1.101.3.4.1.42");
    expect((pbes2.encryptionScheme.algorithmParams as asn1js.OctetString).valueBlock.valueHexView.length).toBe(16);
    const kdf = new PBKDF2Params({ schema: pbes2.keyDerivationFunc.algorithmParams });
    expect(kdf.iterationCount).toBe(1234);
    expect(kdf.prf?.algorithmId).toBe("1.2.840.113549.2.9");
    expect((kdf.salt as asn1js.OctetString).valueBlock.valueHexView.length).toBe(16);
  });

  it("uses a fresh salt and IV each time", () => {
    const key = generatePrivateKey("P-256");
    expect(encryptPrivateKey(key, PASS, FAST)).not.toBe(encryptPrivateKey(key, PASS, FAST));
  });

  it(`defaults to ${DEFAULT_PBKDF2_ITERATIONS} iterations and still opens`, () => {
    const key = generatePrivateKey("P-256");
    const pem = encryptPrivateKey(key, PASS);
    const info = new PKCS8ShroudedKeyBag({ schema: asn1js.fromBER(pemBody(pem)).result });
    const pbes2 = new PBES2Params({ schema: info.encryptionAlgorithm.algorithmParams });
    expect(new PBKDF2Params({ schema: pbes2.keyDerivationFunc.algorithmParams }).iterationCount).toBe(600_000);
    expect(decryptPrivateKey(pem, PASS).export({ type: "pkcs8", format: "der" })).toEqual(key.export({ type: "pkcs8", format: "der" }));
  });

  it("refuses bad encryption arguments", () => {
    const key = generatePrivateKey("P-256");
    expect(() => encryptPrivateKey(key, "", FAST)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(() => encryptPrivateKey(key, PASS, { iterations: 0 })).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(() => encryptPrivateKey(createPublicKey(key) as never, PASS, FAST)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("fails with key_unavailable on a wrong passphrase, leaking neither passphrase nor key", () => {
    const key = generatePrivateKey("P-256");
    const pem = encryptPrivateKey(key, PASS, FAST);
    const wrong = "not the passphrase";
    const keyMaterial = key.export({ type: "pkcs8", format: "der" }).toString("base64");
    // Many attempts: a wrong key yields valid CBC padding about 1 time in 256, which must still fail.
    for (let i = 0; i < 50; i++) expectKeyUnavailable(() => decryptPrivateKey(pem, `${wrong}${i}`), [wrong, PASS, keyMaterial]);
    expectKeyUnavailable(() => decryptPrivateKey(pem, ""), [PASS]);
  });

  it("fails with key_unavailable on damaged or unencrypted files", () => {
    const key = generatePrivateKey("P-256");
    const pem = encryptPrivateKey(key, PASS, FAST);
    const body = Buffer.from(pemBody(pem));
    body[body.length - 20] ^= 0xff;
    const damaged = `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${body.toString("base64")}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
    expectKeyUnavailable(() => decryptPrivateKey(damaged, PASS), [PASS]);
    expectKeyUnavailable(() => decryptPrivateKey(pem.slice(0, pem.length / 2), PASS), [PASS]);
    expectKeyUnavailable(() => decryptPrivateKey("", PASS), [PASS]);
    const plain = key.export({ type: "pkcs8", format: "pem" }).toString();
    expectKeyUnavailable(() => decryptPrivateKey(plain, PASS), [PASS, plain]);
  });
});

describe.runIf(hasOpenssl())("OpenSSL interoperability", () => {
  it.each(KEY_ALGORITHMS)("openssl pkey opens our %s key", (alg) => {
    const key = keyFor(alg);
    const file = path.join(workDir, `ours-${alg}.pem`);
    writeFileSync(file, encryptPrivateKey(key, PASS, FAST), { mode: 0o600 });
    const out = openssl("pkey", "-in", file, "-passin", `pass:${PASS}`, "-pubout", "-outform", "DER");
    expect(out).toEqual(publicDer(key));
  });

  it("openssl opens our key at the default iteration count", () => {
    const key = generatePrivateKey("Ed25519");
    const file = path.join(workDir, "ours-default.pem");
    writeFileSync(file, encryptPrivateKey(key, PASS), { mode: 0o600 });
    const out = openssl("pkey", "-in", file, "-passin", `pass:${PASS}`, "-pubout", "-outform", "DER");
    expect(out).toEqual(publicDer(key));
  });

  it("openssl refuses our key with a wrong passphrase", () => {
    const file = path.join(workDir, "ours-wrong.pem");
    writeFileSync(file, encryptPrivateKey(generatePrivateKey("P-256"), PASS, FAST), { mode: 0o600 });
    expect(() => openssl("pkey", "-in", file, "-passin", "pass:wrong", "-noout")).toThrow();
  });

  const genpkey: [string, string[]][] = [
    ["EC P-256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["EC P-384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]],
    ["RSA 2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]],
    ["Ed25519", ["-algorithm", "ED25519"]],
  ];
  it.each(genpkey)("decryptPrivateKey opens an openssl genpkey -aes-256-cbc %s key", (name, args) => {
    const file = path.join(workDir, `openssl-${name.replace(/\W/g, "")}.pem`);
    openssl("genpkey", ...args, "-aes-256-cbc", "-pass", "pass:x", "-out", file);
    const pem = readFileSync(file, "utf8");
    expect(pem).toContain("-----BEGIN ENCRYPTED PRIVATE KEY-----");
    const key = decryptPrivateKey(pem, "x");
    const pub = openssl("pkey", "-in", file, "-passin", "pass:x", "-pubout", "-outform", "DER");
    expect(publicDer(key)).toEqual(pub);
    expectKeyUnavailable(() => decryptPrivateKey(pem, "y"), ["pass:x"]);
  });
});
