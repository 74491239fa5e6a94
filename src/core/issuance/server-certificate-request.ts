import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { buildCertificateRequest } from "../../../ca/certificate-request-builder.js";
import type { IssuanceService, IssuedCertificate } from "./issuance-service.js";
import { AppError } from "../../errors.js";

/**
 * Issues one of dpki's own listeners a TLS certificate for `names` (host names and IP
 * addresses) from its CA under the `server` profile, through the normal issuance path: it
 * is in the log and revocable like any other. The new P-256 key is returned to the caller.
 */
export async function issueServerCertificate(
  issuance: IssuanceService,
  names: string[],
  audit: { actor: string; purpose: string },
): Promise<{ privateKey: KeyObject; issued: IssuedCertificate }> {
  if (names.length === 0) throw new AppError("invalid_argument", "A server certificate needs at least one host name or IP address");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const csr = await buildCertificateRequest(privateKey, names.find((n) => !isIP(n)) ?? "dpki", names);
  const issued = await issuance.issue({ csr, profile: "server", actor: audit.actor, details: { purpose: audit.purpose } });
  return { privateKey, issued };
}
