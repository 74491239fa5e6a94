import { generateKeyPairSync, sign, verify } from "node:crypto";
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
}

export async function measureFloor(seconds = 1.5): Promise<{ floor: Floor; rows: Row[] }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(400, 7);
  const signature = sign("sha256", data, privateKey);
  const signPerSec = rate(seconds, () => sign("sha256", data, privateKey));
  const verifyPerSec = rate(seconds, () => verify("sha256", data, publicKey, signature));
  const issuancePerCore = 1 / (1 / signPerSec + 1 / verifyPerSec);
  return {
    floor: { signPerSec, verifyPerSec, issuancePerCore },
    rows: [
      { case: "P-256 sign (node:crypto, 1 core)", throughput: signPerSec },
      { case: "P-256 verify (node:crypto, 1 core)", throughput: verifyPerSec },
      { case: "floor: sign + verify, 1 core", throughput: issuancePerCore },
      { case: "floor: sign + verify, 2 cores", throughput: 2 * issuancePerCore },
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
