import { generateKeyPairSync, randomBytes } from "node:crypto";
import { encodeCrl, type RevokedEntry } from "../ca/crl.js";
import { createSoftwareSigner } from "../ca/software-signer.js";
import { encodeName } from "../ca/name.js";
import { REVOCATION_REASONS, type RevocationReason } from "../ca/revocation-reason.js";
import type { Row } from "./table.js";

const REASONS = Object.keys(REVOCATION_REASONS) as RevocationReason[];

/** CRL build time (encode + sign) for large revocation lists. */
export async function benchCrl(sizes: number[] = [100_000, 1_000_000]): Promise<Row[]> {
  const signer = createSoftwareSigner(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
  const issuer = encodeName([{ oid: "2.5.4.3", shortName: "CN", value: "Bench Issuing CA" }]);
  const rows: Row[] = [];
  for (const size of sizes) {
    const entries: RevokedEntry[] = Array.from({ length: size }, (_, i) => ({
      serial: randomBytes(16),
      revokedAt: new Date(1_700_000_000_000 + i * 1000),
      reason: REASONS[i % REASONS.length],
    }));
    const start = performance.now();
    const der = await encodeCrl(
      {
        issuer,
        thisUpdate: new Date(),
        nextUpdate: new Date(Date.now() + 7 * 86_400_000),
        crlNumber: 1n,
        authorityKeyIdentifier: randomBytes(20),
        entries,
      },
      signer,
    );
    rows.push({
      case: `CRL build, ${size.toLocaleString("en-US")} revoked`,
      seconds: (performance.now() - start) / 1000,
      note: `${(der.length / 2 ** 20).toFixed(1)} MB DER`,
    });
  }
  return rows;
}
