import { createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import type * as X509 from "@peculiar/x509";

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
