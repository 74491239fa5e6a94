import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

/**
 * Distinct P-256 CSRs for load: made once with the x509 library (not the code under test),
 * then cycled. Every issuance still parses and verifies its CSR in full.
 */
export async function csrPool(count: number, prefix = "bench-dev"): Promise<string[]> {
  const pems: string[] = [];
  for (let i = 0; i < count; i++) {
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${prefix}-${i}`,
      keys: keys as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    pems.push(csr.toString("pem"));
  }
  return pems;
}
