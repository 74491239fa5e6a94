/** Certificates from CAs that are not dpki's (a device vendor's), made with @peculiar/x509. */
import { X509Certificate, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { pemEncode } from "../../ca/pem.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY = 86_400_000;
let serial = 1;

export interface TestCert {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  /** Certificate PEM. */
  pem: string;
  /** PKCS#8 private key PEM. */
  keyPem: string;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return pemEncode(
    "PRIVATE KEY",
    new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey)),
  );
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<TestCert> {
  return { cert, keys, pem: cert.toString("pem") + "\n", keyPem: await keyPem(keys) };
}

/** A CA certificate: self-signed when `issuer` is absent. */
export async function testCa(name: string, issuer?: TestCert): Promise<TestCert> {
  const keys = await newKeys();
  const now = Date.now();
  const extensions = [
    new x509.BasicConstraintsExtension(true, 2, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(issuer ? [await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)] : []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    subject: `CN=${name}`,
    issuer: issuer ? issuer.cert.subject : `CN=${name}`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
    signingKey: (issuer ?? { keys }).keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return finish(cert, keys);
}

/** A device certificate with CN = `cn`, signed by `issuer` (self-signed when absent). */
export async function testLeaf(cn: string, issuer?: TestCert, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<TestCert> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    subject: `CN=${cn}`,
    issuer: issuer ? issuer.cert.subject : `CN=${cn}`,
    notBefore: validity.notBefore ?? new Date(now - DAY),
    notAfter: validity.notAfter ?? new Date(now + 30 * DAY),
    signingKey: (issuer ?? { keys }).keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(issuer ? [await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)] : []),
    ],
  });
  return finish(cert, keys);
}

export function thumbprint(cert: TestCert): string {
  return new X509Certificate(cert.pem).fingerprint256.replace(/:/g, "").toLowerCase();
}
