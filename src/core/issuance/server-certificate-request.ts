import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import type * as X509 from "@peculiar/x509";
import type { IssuanceService, IssuedCertificate } from "./issuance-service.js";
import { AppError } from "../../errors.js";

let x509Module: Promise<typeof X509> | undefined;

/**
 * The x509 library, loaded on first use: it is large (a third of a CLI command's start-up) and
 * only building a request needs it, so commands that never do so do not pay for it.
 */
function loadX509(): Promise<typeof X509> {
  return (x509Module ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);
    return x509;
  })());
}

/**
 * A PKCS#10 request for a key, with CN and SANs, built by the x509 library (dpki's own
 * listeners and device tooling need it rarely: it is no hot path). Returns DER.
 */
export async function buildCertificateRequest(privateKey: KeyObject, commonName: string | null, names: string[] = []): Promise<Uint8Array> {
  const x509 = await loadX509();
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", createPublicKey(privateKey).export({ type: "spki", format: "der" }), alg, true, [
      "verify",
    ]),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: commonName ? [{ CN: [commonName] }] : [],
    keys: keys as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: names.length
      ? [new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? ("ip" as const) : ("dns" as const), value: n })))]
      : [],
  });
  return new Uint8Array(csr.rawData);
}

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
