import { generateKeyPairSync, KeyObject, sign, verify, webcrypto } from "node:crypto";
import type { Row } from "./table.js";

/**
 * The cryptographic floor of one issuance: one P-256 signature (the certificate) plus one
 * P-256 verification (the CSR's proof of possession), with keys already in memory, measured
 * in this run on this machine.
 */
export interface Floor {
  signPerSec: number;
  verifyPerSec: number;
  /** Issuances per second one core could do if these two operations were the only cost. */
  issuancePerCore: number;
  /**
   * The same with the CSR's public key imported first, as every issuance must: each CSR
   * brings a key never seen before. Reported beside the floor, not instead of it.
   */
  withImportPerCore: number;
}

export async function measureFloor(seconds = 1.5): Promise<{ floor: Floor; rows: Row[] }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(400, 7);
  const signature = sign("sha256", data, privateKey);
  const signPerSec = rate(seconds, () => sign("sha256", data, privateKey));
  const verifyPerSec = rate(seconds, () => verify("sha256", data, publicKey, signature));
  const issuancePerCore = 1 / (1 / signPerSec + 1 / verifyPerSec);

  // 256 distinct keys, imported from their raw points the way CSR keys are (ca/csr.ts).
  const requests = Array.from({ length: 256 }, () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = pair.publicKey.export({ format: "der", type: "spki" });
    return { point: spki.subarray(spki.length - 65), signature: sign("sha256", data, pair.privateKey) };
  });
  const curve = { name: "ECDSA", namedCurve: "P-256" };
  const importVerifyPerSec = await rateAsync(seconds, async (i) => {
    const r = requests[i % requests.length]!;
    const key = KeyObject.from(await webcrypto.subtle.importKey("raw", r.point, curve, false, ["verify"]));
    if (!verify("sha256", data, key, r.signature)) throw new Error("floor: a signature did not verify");
  });
  const withImportPerCore = 1 / (1 / signPerSec + 1 / importVerifyPerSec);
  return {
    floor: { signPerSec, verifyPerSec, issuancePerCore, withImportPerCore },
    rows: [
      { case: "P-256 sign (node:crypto, 1 core)", throughput: signPerSec },
      { case: "P-256 verify (node:crypto, 1 core)", throughput: verifyPerSec },
      { case: "floor: sign + verify, 1 core", throughput: issuancePerCore },
      { case: "floor: sign + verify, 2 cores", throughput: 2 * issuancePerCore },
      { case: "P-256 key import + verify, fresh key each (1 core)", throughput: importVerifyPerSec },
      { case: "floor with key import, 2 cores", throughput: 2 * withImportPerCore },
    ],
  };
}

/** Calls per second of a synchronous `fn`, after a short warm-up. */
export function rate(seconds: number, fn: () => void): number {
  for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

/** The same for an async `fn`, awaited one call at a time. */
async function rateAsync(seconds: number, fn: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(i);
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await fn(n + i);
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}
