/** Shared helpers for the CA engine tests: keys in both node:crypto and WebCrypto form, openssl. */
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { createSoftwareSigner } from "../../ca/software-signer.js";
import type { Signer } from "../../ca/signer.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type TestAlgorithm = "P-256" | "P-384" | "RSA-2048" | "Ed25519";
export const TEST_ALGORITHMS: readonly TestAlgorithm[] = ["P-256", "P-384", "RSA-2048", "Ed25519"];

export interface TestKey {
  algorithm: TestAlgorithm;
  privateKey: KeyObject;
  signer: Signer;
  /** The same private key imported into WebCrypto, for @peculiar/x509. */
  cryptoKey: CryptoKey;
  /** What @peculiar/x509 needs as signingAlgorithm for this key. */
  signingAlgorithm: Algorithm & { hash?: string };
  /** PKCS#1 v1.5 and Ed25519 signatures are deterministic: whole certificates compare equal. */
  deterministic: boolean;
}

const IMPORT: Record<TestAlgorithm, { importAlg: Algorithm & Record<string, unknown>; signingAlgorithm: Algorithm & { hash?: string } }> = {
  "P-256": { importAlg: { name: "ECDSA", namedCurve: "P-256" }, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } },
  "P-384": { importAlg: { name: "ECDSA", namedCurve: "P-384" }, signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } },
  "RSA-2048": {
    importAlg: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  },
  Ed25519: { importAlg: { name: "Ed25519" }, signingAlgorithm: { name: "Ed25519" } },
};

export function generateKey(algorithm: TestAlgorithm): KeyObject {
  switch (algorithm) {
    case "P-256":
    case "P-384":
      return generateKeyPairSync("ec", { namedCurve: algorithm }).privateKey;
    case "RSA-2048":
      return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    case "Ed25519":
      return generateKeyPairSync("ed25519").privateKey;
  }
}

export async function makeTestKey(algorithm: TestAlgorithm): Promise<TestKey> {
  const privateKey = generateKey(algorithm);
  const { importAlg, signingAlgorithm } = IMPORT[algorithm];
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  const cryptoKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, importAlg, false, ["sign"]);
  return {
    algorithm,
    privateKey,
    signer: createSoftwareSigner(privateKey),
    cryptoKey: cryptoKey as unknown as CryptoKey,
    signingAlgorithm,
    deterministic: algorithm === "RSA-2048" || algorithm === "Ed25519",
  };
}

/** A scratch directory under the OS temp dir, removed by the returned cleanup. */
export function scratchDir(): {
  dir: string;
  path: (name: string) => string;
  write: (name: string, data: string | Uint8Array) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), "dpki-ca-test-"));
  return {
    dir,
    path: (name) => join(dir, name),
    write: (name, data) => {
      const path = join(dir, name);
      writeFileSync(path, data);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs openssl; returns status and both outputs (openssl prints some results on stderr). */
export function openssl(args: string[], input?: string | Uint8Array): { status: number; stdout: string; stderr: string } {
  const result = spawnSync("openssl", args, { input, maxBuffer: 1 << 28 });
  return { status: result.status ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Runs openssl and returns its stdout as bytes, failing on a non-zero exit. */
export function opensslBytes(args: string[], input?: string | Uint8Array): Buffer {
  return execFileSync("openssl", args, { input, maxBuffer: 1 << 28, stdio: ["pipe", "pipe", "pipe"] });
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
