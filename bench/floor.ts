import { generateKeyPairSync, sign, verify } from "node:crypto";
import type { Row } from "./table.js";

/**
 * The cryptographic floor of one issuance: one P-256 signature (the certificate) plus one
 * P-256 verification (the CSR's proof of possession), measured in this run on this machine.
 */
export interface Floor {
  signPerSec: number;
  verifyPerSec: number;
  /** Issuances per second one core could do if crypto were the only cost. */
  issuancePerCore: number;
  /** The same over the thread pool (what the async signer uses), all cores. */
  issuanceAllCores: number;
}

export async function measureFloor(seconds = 1.5): Promise<{ floor: Floor; rows: Row[] }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(400, 7);
  const signature = sign("sha256", data, privateKey);

  const signPerSec = rate(seconds, () => sign("sha256", data, privateKey));
  const verifyPerSec = rate(seconds, () => verify("sha256", data, publicKey, signature));
  const issuancePerCore = 1 / (1 / signPerSec + 1 / verifyPerSec);

  // Thread-pool rate with 64 operations in flight: what callback-style crypto reaches on all cores.
  const pooled = await pooledRate(seconds, (done) =>
    sign("sha256", data, privateKey, () => verify("sha256", data, publicKey, signature, () => done())),
  );
  return {
    floor: { signPerSec, verifyPerSec, issuancePerCore, issuanceAllCores: pooled },
    rows: [
      { case: "P-256 sign (node:crypto, 1 thread)", throughput: signPerSec },
      { case: "P-256 verify (node:crypto, 1 thread)", throughput: verifyPerSec },
      { case: "floor: sign+verify, 1 core", throughput: issuancePerCore },
      { case: "floor: sign+verify, thread pool, 64 in flight", throughput: pooled },
    ],
  };
}

function rate(seconds: number, fn: () => void): number {
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

function pooledRate(seconds: number, op: (done: () => void) => void): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    let inFlight = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    const launch = () => {
      while (inFlight < 64 && performance.now() < end) {
        inFlight++;
        op(() => {
          inFlight--;
          n++;
          if (performance.now() < end) launch();
          else if (inFlight === 0) resolve(n / ((performance.now() - start) / 1000));
        });
      }
    };
    launch();
  });
}
