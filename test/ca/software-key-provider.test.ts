import { createPublicKey, verify } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../ca/key-algorithm.js";
import { PkiError } from "../../ca/pki-error.js";
import { encryptPrivateKey, generatePrivateKey } from "../../ca/private-key.js";
import { SoftwareKeyProvider } from "../../ca/software-key-provider.js";

const PASS = "provider passphrase";
const FAST = 1_000; // tests use few PBKDF2 iterations; private-key.test.ts covers the default

const root = mkdtempSync(path.join(tmpdir(), "dpki-key-provider-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => path.join(root, `keys-${dirCount++}`);

const DIGEST: Record<KeyAlgorithm, string | null> = {
  "P-256": "sha256",
  "P-384": "sha384",
  "RSA-2048": "sha256",
  "RSA-3072": "sha256",
  "RSA-4096": "sha256",
  Ed25519: null,
};

function verifies(alg: KeyAlgorithm, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  return verify(DIGEST[alg], data, publicKey, signature);
}

async function rejection(promise: Promise<unknown>): Promise<PkiError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(PkiError);
    return err as PkiError;
  }
  throw new Error("expected a rejection");
}

describe("SoftwareKeyProvider", () => {
  it.each(KEY_ALGORITHMS)("generates a %s key whose signer's signatures verify, also after reopening", async (alg) => {
    const dir = freshDir();
    const provider = new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST });
    const { ref, spki } = await provider.generate(alg, `Root ${alg}`);
    const data = new TextEncoder().encode("tbsCertificate stand-in");

    const signer = await provider.signer(ref);
    expect(signer.keyAlgorithm).toBe(alg);
    expect(Buffer.from(signer.spki)).toEqual(Buffer.from(spki));
    expect(verifies(alg, spki, data, await signer.sign(data))).toBe(true);

    // A second provider (a restarted process) has to decrypt the file from disk.
    const reopened = await new SoftwareKeyProvider({ dir, passphrase: PASS }).signer(ref);
    expect(Buffer.from(reopened.spki)).toEqual(Buffer.from(spki));
    expect(verifies(alg, spki, data, await reopened.sign(data))).toBe(true);
  });

  it.skipIf(process.platform === "win32")(
    "stores keys as encrypted PEM files, mode 0600, in a 0700 directory, leaving no temp files",
    async () => {
      const dir = freshDir();
      const provider = new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST });
      const { ref } = await provider.generate("P-256", "issuing");
      const file = path.join(dir, `${ref}.key.pem`);
      expect(readdirSync(dir)).toEqual([`${ref}.key.pem`]);
      expect(readFileSync(file, "utf8")).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    },
  );

  it.skipIf(process.platform === "win32")("tightens an existing key directory to 0700", async () => {
    const dir = freshDir();
    mkdirSync(dir, { mode: 0o755 });
    await new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST }).generate("P-256", "ca");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("derives safe, unique refs from labels", async () => {
    const provider = new SoftwareKeyProvider({ dir: freshDir(), passphrase: PASS, iterations: FAST });
    const a = await provider.generate("Ed25519", "Acme Root CA / 2025 ../../etc");
    const b = await provider.generate("Ed25519", "Acme Root CA / 2025 ../../etc");
    for (const { ref } of [a, b]) {
      expect(ref).toMatch(/^acme-root-ca-2025-.*-[0-9a-f]{12}$/);
      expect(ref).not.toContain("..");
      expect(ref).not.toContain("/");
    }
    expect(a.ref).not.toBe(b.ref);
    const empty = await provider.generate("Ed25519", "///");
    expect(empty.ref).toMatch(/^key-[0-9a-f]{12}$/);
  });

  it("refuses refs that could escape the key directory", async () => {
    const dir = freshDir();
    const provider = new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST });
    await provider.generate("P-256", "inside");
    // A valid key file just outside the directory must stay out of reach.
    writeFileSync(path.join(root, "outside.key.pem"), encryptPrivateKey(generatePrivateKey("P-256"), PASS, { iterations: FAST }));
    for (const ref of [
      "../outside",
      "..",
      ".",
      "",
      "a/b",
      "a\\b",
      "/etc/passwd",
      "x/../../outside",
      "a..b",
      ".hidden",
      `${"a".repeat(101)}`,
    ]) {
      const err = await rejection(provider.signer(ref));
      expect(err.code).toBe("invalid_argument");
      expect(err.message).toMatch(/^Cannot use key reference /);
    }
  });

  it("reports an unknown ref as key_unavailable", async () => {
    const provider = new SoftwareKeyProvider({ dir: freshDir(), passphrase: PASS, iterations: FAST });
    const err = await rejection(provider.signer("no-such-key-0123456789ab"));
    expect(err.code).toBe("key_unavailable");
    expect(err.message).toBe("Cannot open CA key: no key with reference no-such-key-0123456789ab");
  });

  it("fails with key_unavailable under the wrong passphrase, without leaking it", async () => {
    const dir = freshDir();
    const { ref } = await new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST }).generate("P-384", "ca");
    const wrong = "wrong passphrase 123";
    const provider = new SoftwareKeyProvider({ dir, passphrase: wrong });
    const err = await rejection(provider.signer(ref));
    expect(err.code).toBe("key_unavailable");
    expect(`${err.message} ${JSON.stringify(err.detail ?? {})}`).not.toContain(wrong);
    expect(`${err.message} ${JSON.stringify(err.detail ?? {})}`).not.toContain(PASS);
    // The failure is not cached: the next attempt tries again (and fails again here).
    expect((await rejection(provider.signer(ref))).code).toBe("key_unavailable");
  });

  it("decrypts once and shares the signer between callers", async () => {
    const dir = freshDir();
    const { ref } = await new SoftwareKeyProvider({ dir, passphrase: PASS, iterations: FAST }).generate("P-256", "ca");
    const provider = new SoftwareKeyProvider({ dir, passphrase: PASS });
    const [a, b] = await Promise.all([provider.signer(ref), provider.signer(ref)]);
    expect(a).toBe(b);
    // Once opened, the file is no longer needed.
    rmSync(path.join(dir, `${ref}.key.pem`));
    expect(await provider.signer(ref)).toBe(a);
  });

  it("never exposes the passphrase when inspected or serialised", async () => {
    const provider = new SoftwareKeyProvider({ dir: freshDir(), passphrase: PASS, iterations: FAST });
    expect(inspect(provider, { showHidden: true, depth: 5 })).not.toContain(PASS);
    expect(JSON.stringify(provider)).not.toContain(PASS);
  });

  it("refuses an empty passphrase", () => {
    expect(() => new SoftwareKeyProvider({ dir: freshDir(), passphrase: "" })).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });
});
