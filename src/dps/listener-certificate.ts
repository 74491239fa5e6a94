import { pemEncode } from "../../ca/pem.js";
import type { IssuanceService } from "../core/issuance/issuance-service.js";
import { issueServerCertificate } from "../core/issuance/server-certificate-request.js";

export interface ListenerCertificate {
  /** PKCS#8 PEM of a fresh P-256 key; it lives only in this process. */
  key: string;
  /** The certificate then its issuing chain, PEM. */
  cert: string;
  serial: string;
}

/**
 * Issues the device listener its own TLS certificate from dpki's CA under the `server`
 * profile, with every host name and IP address devices use as SANs (the Azure SDKs verify
 * them, and send no SNI for IP literals). The issuance is logged like any other.
 */
export async function issueListenerCertificate(issuance: IssuanceService, names: string[], actor: string): Promise<ListenerCertificate> {
  const { privateKey, issued } = await issueServerCertificate(issuance, names, { actor, purpose: "dps device listener" });
  return {
    key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    cert: [issued.der, ...issued.chain].map((der) => pemEncode("CERTIFICATE", der)).join(""),
    serial: issued.certificate.serial,
  };
}
