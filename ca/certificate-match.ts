import { ParsedCertificate } from "./x509-certificate.js";
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
  let cert: ParsedCertificate;
  try {
    cert = ParsedCertificate.parse(certificatePem);
  } catch {
    return false;
  }
  let spki: Uint8Array;
  try {
    spki = parseCsr(csr).spki;
  } catch {
    return false;
  }
  if (Buffer.compare(cert.spki, spki) !== 0) return false;
  if (!cert.validAt(now)) return false;
  return issuers.some((issuer) => {
    try {
      return cert.issuedBy(ParsedCertificate.parse(issuer));
    } catch {
      return false;
    }
  });
}
