import { generateKeyPairSync } from "node:crypto";
import { isIP } from "node:net";
import { buildCsr, commonNameSubject } from "../../ca/csr-builder.js";
import { pemEncode } from "../../ca/pem.js";
import { createSoftwareSigner } from "../../ca/software-signer.js";
import type { SubjectAltName } from "../../ca/x509-types.js";
import type { IssuanceService } from "../core/issuance-service.js";
import { AppError } from "../errors.js";

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
  if (names.length === 0)
    throw new AppError("invalid_argument", "The device listener needs at least one host name or IP address for its certificate");
  const sans: SubjectAltName[] = names.map((n) => (isIP(n) ? { type: "ip", value: n } : { type: "dns", value: n }));
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const firstDns = names.find((n) => !isIP(n));
  const csr = await buildCsr({
    subject: firstDns ? commonNameSubject(firstDns) : [],
    subjectAltNames: sans,
    signer: createSoftwareSigner(privateKey),
  });
  const issued = await issuance.issue({ csr, profile: "server", actor, details: { purpose: "dps device listener" } });
  return {
    key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    cert: [issued.der, ...issued.chain.slice(0, -1)].map((der) => pemEncode("CERTIFICATE", der)).join(""),
    serial: issued.certificate.serial,
  };
}
