import "reflect-metadata";
import { createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

/**
 * A PKCS#10 request for a key, with CN and SANs, built by the x509 library (dpki's own
 * listeners and device tooling need it rarely: it is no hot path). Returns DER.
 */
export async function buildCertificateRequest(privateKey: KeyObject, commonName: string | null, names: string[] = []): Promise<Uint8Array> {
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
