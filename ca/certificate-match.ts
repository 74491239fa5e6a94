import { X509Certificate } from "node:crypto";
import { parseCsr } from "./csr.js";

/**
 * Whether an existing certificate already answers a CSR: it holds the CSR's public key, is
 * inside its validity period at `now`, and was signed by one of `issuers` (DER or PEM). A
 * factory re-run uses this to skip what an interrupted run already signed. Revocation is not
 * known here: the caller re-issues with --force after revoking.
 */
export function certificateMatchesCsr(
  certificatePem: string | Uint8Array,
  csr: string | Uint8Array,
  issuers: ReadonlyArray<string | Uint8Array>,
  now: Date,
): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificatePem);
  } catch {
    return false;
  }
  let spki: Uint8Array;
  try {
    spki = parseCsr(csr).spki;
  } catch {
    return false;
  }
  if (Buffer.compare(cert.publicKey.export({ type: "spki", format: "der" }), Buffer.from(spki)) !== 0) return false;
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) return false;
  return issuers.some((issuer) => {
    try {
      const ca = new X509Certificate(issuer);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
}
