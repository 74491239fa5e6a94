import { X509Certificate } from "node:crypto";
import { PkiError } from "./pki-error.js";

/**
 * The Ed25519 key of a log, taken from a certificate in `bundlePem` that `rootPem` issued and
 * signed, valid at `now`: what lets an auditor who trusts only the root trust a log key. Throws
 * PkiError naming why none qualifies.
 */
export function certifiedLogKey(bundlePem: string, rootPem: string, now: Date): Uint8Array {
  const root = parse(rootPem, "the root certificate");
  const certs = (bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem, i) =>
    parse(pem, `log key certificate ${i + 1}`),
  );
  if (certs.length === 0) throw new PkiError("invalid_argument", "No log key certificate to check against the root");
  const reasons: string[] = [];
  for (const cert of certs) {
    if (!cert.checkIssued(root) || !cert.verify(root.publicKey)) {
      reasons.push(`${cert.serialNumber.toLowerCase()}: not signed by ${root.subject.replace(/\n/g, ", ")}`);
    } else if (cert.ca) {
      reasons.push(`${cert.serialNumber.toLowerCase()}: a CA certificate, not a log key's`);
    } else if (new Date(cert.validFrom) > now || new Date(cert.validTo) <= now) {
      reasons.push(`${cert.serialNumber.toLowerCase()}: not valid now (${cert.validFrom} to ${cert.validTo})`);
    } else if (cert.publicKey.asymmetricKeyType !== "ed25519") {
      reasons.push(`${cert.serialNumber.toLowerCase()}: certifies a ${cert.publicKey.asymmetricKeyType} key, not Ed25519`);
    } else {
      return new Uint8Array(cert.publicKey.export({ type: "spki", format: "der" }));
    }
  }
  throw new PkiError("invalid_argument", `No log key certificate is issued by that root and valid: ${reasons.join("; ")}`);
}

function parse(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new PkiError("invalid_argument", `Cannot read ${what}: not a PEM or DER certificate`);
  }
}
