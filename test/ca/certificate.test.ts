import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { certificateThumbprint, encodeCertificate, keyIdentifier } from "../../ca/certificate.js";
import { DerReader } from "../../ca/der.js";
import { encodeName } from "../../ca/name.js";
import { OID } from "../../ca/oids.js";
import { pemEncode } from "../../ca/pem.js";
import { PkiError } from "../../ca/pki-error.js";
import type { CertificateExtensions, CertificateParams, NameAttribute } from "../../ca/x509-types.js";
import { TEST_ALGORITHMS, hex, makeTestKey, openssl, scratchDir, type TestKey } from "./fixtures.js";

const NOT_BEFORE = new Date("2024-03-01T10:20:30Z");
const NOT_AFTER_LEAF = new Date("2025-03-01T10:20:30Z");
// After 2049: RFC 5280 §4.1.2.5 switches to GeneralizedTime.
const NOT_AFTER_CA = new Date("2054-03-01T00:00:00Z");

const ISSUER: NameAttribute[] = [
  { oid: OID.countryName, value: "DE" },
  { oid: OID.organizationName, value: "Acme Devices" },
  { oid: OID.commonName, value: "Acme Issuing CA 1" },
];
const LEAF_SUBJECT: NameAttribute[] = [
  { oid: OID.organizationName, value: "Acme Devices" },
  { oid: OID.commonName, value: "device-0001" },
];
// The same names for @peculiar/x509, with string types spelled out: its default is
// PrintableString whenever the value allows, dpki's is UTF8String (RFC 5280 §4.1.2.4).
const LIB_ISSUER = [
  { C: [{ printableString: "DE" }] },
  { O: [{ utf8String: "Acme Devices" }] },
  { CN: [{ utf8String: "Acme Issuing CA 1" }] },
];
const LIB_LEAF_SUBJECT = [{ O: [{ utf8String: "Acme Devices" }] }, { CN: [{ utf8String: "device-0001" }] }];

const CRL_URL = "http://pki.example.com/crl/issuing-1.crl";
const OCSP_URL = "http://ocsp.example.com";
const CA_ISSUERS_URL = "http://pki.example.com/issuing-1.cer";

interface Case {
  name: string;
  params: CertificateParams;
  libExtensions: x509.Extension[];
}

function tbsOf(der: Uint8Array): Uint8Array {
  const reader = new DerReader("certificate");
  return reader.sequence(reader.parse(der), "Certificate", 3, 3)[0]!.raw;
}

function cases(issuer: TestKey, subject: TestKey): Case[] {
  const ski = keyIdentifier(subject.signer.spki);
  const aki = keyIdentifier(issuer.signer.spki);
  const common = { issuer: encodeName(ISSUER), spki: subject.signer.spki, notBefore: NOT_BEFORE };
  const leafExtensions: CertificateExtensions = {
    basicConstraints: { ca: false },
    keyUsage: ["digitalSignature"],
    extendedKeyUsage: ["clientAuth"],
    subjectKeyIdentifier: ski,
    authorityKeyIdentifier: aki,
    subjectAltNames: [
      { type: "dns", value: "device-0001.devices.example.com" },
      { type: "ip", value: "192.0.2.17" },
      { type: "uri", value: "urn:dev:ops:acme-device-0001" },
      { type: "email", value: "ops@example.com" },
    ],
    crlDistributionPoints: [CRL_URL],
    ocspUrls: [OCSP_URL],
    caIssuersUrls: [CA_ISSUERS_URL],
  };
  return [
    {
      name: "leaf",
      params: {
        ...common,
        // Top bit set: the encoder must add a 0x00 to keep the INTEGER positive.
        serial: Buffer.from("8a11f2b3c4d5e6f708192a3b4c5d6e7f", "hex"),
        subject: encodeName(LEAF_SUBJECT),
        notAfter: NOT_AFTER_LEAF,
        extensions: leafExtensions,
      },
      libExtensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([OID.clientAuth]),
        new x509.SubjectKeyIdentifierExtension(hex(ski)),
        new x509.AuthorityKeyIdentifierExtension(hex(aki)),
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "device-0001.devices.example.com" },
          { type: "ip", value: "192.0.2.17" },
          { type: "url", value: "urn:dev:ops:acme-device-0001" },
          { type: "email", value: "ops@example.com" },
        ]),
        new x509.CRLDistributionPointsExtension([CRL_URL]),
        new x509.AuthorityInfoAccessExtension({ ocsp: [OCSP_URL], caIssuers: [CA_ISSUERS_URL] }),
      ],
    },
    {
      name: "CA (pathLen 0)",
      params: {
        ...common,
        serial: Buffer.from("0012345678", "hex"), // redundant leading zero is stripped
        subject: encodeName([...ISSUER.slice(0, 2), { oid: OID.commonName, value: "Acme Sub CA" }]),
        notAfter: NOT_AFTER_CA,
        extensions: {
          basicConstraints: { ca: true, pathLength: 0 },
          keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
          subjectKeyIdentifier: ski,
          authorityKeyIdentifier: aki,
          crlDistributionPoints: [CRL_URL],
        },
      },
      libExtensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        new x509.SubjectKeyIdentifierExtension(hex(ski)),
        new x509.AuthorityKeyIdentifierExtension(hex(aki)),
        new x509.CRLDistributionPointsExtension([CRL_URL]),
      ],
    },
    {
      name: "OCSP signer",
      params: {
        ...common,
        serial: Buffer.from("01", "hex"),
        subject: encodeName([{ oid: OID.commonName, value: "Acme OCSP Responder" }]),
        notAfter: NOT_AFTER_LEAF,
        extensions: {
          basicConstraints: { ca: false },
          keyUsage: ["digitalSignature"],
          extendedKeyUsage: ["ocspSigning"],
          subjectKeyIdentifier: ski,
          authorityKeyIdentifier: aki,
          ocspNoCheck: true,
        },
      },
      libExtensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([OID.ocspSigning]),
        new x509.SubjectKeyIdentifierExtension(hex(ski)),
        new x509.AuthorityKeyIdentifierExtension(hex(aki)),
        new x509.Extension(OID.ocspNoCheck, false, Uint8Array.of(0x05, 0x00)),
      ],
    },
  ];
}

const LIB_SUBJECTS: Record<string, x509.JsonName> = {
  leaf: LIB_LEAF_SUBJECT,
  "CA (pathLen 0)": [{ C: [{ printableString: "DE" }] }, { O: [{ utf8String: "Acme Devices" }] }, { CN: [{ utf8String: "Acme Sub CA" }] }],
  "OCSP signer": [{ CN: [{ utf8String: "Acme OCSP Responder" }] }],
} as unknown as Record<string, x509.JsonName>;

describe.each(TEST_ALGORITHMS)("encodeCertificate with %s keys matches @peculiar/x509", (algorithm) => {
  let issuer: TestKey;
  let subject: TestKey;
  beforeAll(async () => {
    [issuer, subject] = await Promise.all([makeTestKey(algorithm), makeTestKey(algorithm)]);
  });

  for (const name of ["leaf", "CA (pathLen 0)", "OCSP signer"]) {
    it(name, async () => {
      const testCase = cases(issuer, subject).find((c) => c.name === name)!;
      const ours = await encodeCertificate(testCase.params, issuer.signer);
      const theirs = await x509.X509CertificateGenerator.create({
        serialNumber: hex(testCase.params.serial),
        subject: LIB_SUBJECTS[name] as x509.JsonName,
        issuer: LIB_ISSUER as unknown as x509.JsonName,
        notBefore: testCase.params.notBefore,
        notAfter: testCase.params.notAfter,
        publicKey: subject.signer.spki,
        signingKey: issuer.cryptoKey,
        signingAlgorithm: issuer.signingAlgorithm,
        extensions: testCase.libExtensions,
      });
      const theirsDer = new Uint8Array(theirs.rawData);
      expect(hex(tbsOf(ours))).toBe(hex(tbsOf(theirsDer)));
      if (issuer.deterministic) expect(hex(ours)).toBe(hex(theirsDer));

      // And the library, as an independent parser, reads back what was meant.
      const parsed = new x509.X509Certificate(ours);
      expect(await parsed.verify({ publicKey: new x509.PublicKey(issuer.signer.spki), signatureOnly: true })).toBe(true);
      expect(parsed.notBefore.toISOString()).toBe(testCase.params.notBefore.toISOString());
      expect(parsed.notAfter.toISOString()).toBe(testCase.params.notAfter.toISOString());
      expect(parsed.issuer).toBe("C=DE, O=Acme Devices, CN=Acme Issuing CA 1");
      expect(hex(new Uint8Array(parsed.publicKey.rawData))).toBe(hex(subject.signer.spki));
      const bc = parsed.getExtension(x509.BasicConstraintsExtension)!;
      expect(bc.critical).toBe(true);
      expect(bc.ca).toBe(testCase.params.extensions.basicConstraints.ca);
      expect(parsed.getExtension(x509.KeyUsagesExtension)!.critical).toBe(true);
      expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).toBe(hex(testCase.params.extensions.subjectKeyIdentifier));
      expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(hex(keyIdentifier(issuer.signer.spki)));
    });
  }
});

describe("encodeCertificate details", () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeTestKey("P-256");
  });

  const base = (): CertificateParams => ({
    serial: Uint8Array.of(0x42),
    issuer: encodeName(ISSUER),
    subject: encodeName(LEAF_SUBJECT),
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER_LEAF,
    spki: key.signer.spki,
    extensions: { basicConstraints: { ca: false }, keyUsage: ["digitalSignature"], subjectKeyIdentifier: keyIdentifier(key.signer.spki) },
  });

  it("marks subjectAltName critical only when the subject is empty (RFC 5280 §4.2.1.6)", async () => {
    const params = base();
    params.subject = encodeName([]);
    params.extensions.subjectAltNames = [{ type: "ip", value: "2001:db8::17" }];
    const parsed = new x509.X509Certificate(await encodeCertificate(params, key.signer));
    const san = parsed.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.critical).toBe(true);
    expect(san.names.items.map((n) => n.value)).toEqual(["2001:db8::17"]);
    params.subject = encodeName(LEAF_SUBJECT);
    const withSubject = new x509.X509Certificate(await encodeCertificate(params, key.signer));
    expect(withSubject.getExtension(x509.SubjectAlternativeNameExtension)!.critical).toBe(false);
  });

  it("encodes keyUsage as a DER named bit list with trailing zero bits trimmed", async () => {
    const params = base();
    params.extensions.keyUsage = ["keyCertSign", "cRLSign"];
    const der = await encodeCertificate(params, key.signer);
    // extnValue 03 02 01 06: one unused bit, bits 5 and 6 set.
    expect(hex(der)).toContain("0603551d0f0101ff040403020106");
    params.extensions.keyUsage = ["digitalSignature", "decipherOnly"];
    // decipherOnly is bit 8: two octets, seven unused bits.
    expect(hex(await encodeCertificate(params, key.signer))).toContain("0603551d0f0101ff04050303078080");
  });

  it("refuses parameters RFC 5280 forbids", async () => {
    const zeroSerial = { ...base(), serial: Uint8Array.of(0, 0) };
    await expect(encodeCertificate(zeroSerial, key.signer)).rejects.toMatchObject({ code: "invalid_argument" });
    const longSerial = { ...base(), serial: new Uint8Array(21).fill(1) };
    await expect(encodeCertificate(longSerial, key.signer)).rejects.toBeInstanceOf(PkiError);
    const leafWithPathLen = base();
    leafWithPathLen.extensions.basicConstraints = { ca: false, pathLength: 0 };
    await expect(encodeCertificate(leafWithPathLen, key.signer)).rejects.toMatchObject({ code: "invalid_argument" });
    const backwards = { ...base(), notAfter: new Date("2020-01-01T00:00:00Z") };
    await expect(encodeCertificate(backwards, key.signer)).rejects.toMatchObject({ code: "invalid_argument" });
    const noUsage = base();
    noUsage.extensions.keyUsage = [];
    await expect(encodeCertificate(noUsage, key.signer)).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("computes the thumbprint and RFC 5280 method 1 key identifier", async () => {
    const der = await encodeCertificate(base(), key.signer);
    const parsed = new x509.X509Certificate(der);
    expect(certificateThumbprint(der)).toBe(hex(new Uint8Array(await parsed.getThumbprint("SHA-256"))));
    expect(hex(keyIdentifier(key.signer.spki))).toBe(hex(new Uint8Array(await parsed.publicKey.getKeyIdentifier("SHA-1"))));
  });
});

describe("a root → intermediate → leaf chain", () => {
  it("is accepted by openssl verify -x509_strict and printed by openssl x509", async () => {
    const [rootKey, interKey, leafKey] = await Promise.all([makeTestKey("RSA-2048"), makeTestKey("P-384"), makeTestKey("P-256")]);
    const rootName = encodeName([
      { oid: OID.organizationName, value: "Acme Devices" },
      { oid: OID.commonName, value: "Acme Root CA" },
    ]);
    const interName = encodeName([
      { oid: OID.organizationName, value: "Acme Devices" },
      { oid: OID.commonName, value: "Acme Issuing CA 1" },
    ]);
    const now = Date.now();
    const validity = { notBefore: new Date(now - 3600_000), notAfter: new Date(now + 86400_000 * 365) };
    const root = await encodeCertificate(
      {
        ...validity,
        serial: Uint8Array.of(1),
        issuer: rootName,
        subject: rootName,
        spki: rootKey.signer.spki,
        extensions: {
          basicConstraints: { ca: true },
          keyUsage: ["keyCertSign", "cRLSign"],
          subjectKeyIdentifier: keyIdentifier(rootKey.signer.spki),
        },
      },
      rootKey.signer,
    );
    const inter = await encodeCertificate(
      {
        ...validity,
        serial: Uint8Array.of(2),
        issuer: rootName,
        subject: interName,
        spki: interKey.signer.spki,
        extensions: {
          basicConstraints: { ca: true, pathLength: 0 },
          keyUsage: ["keyCertSign", "cRLSign"],
          subjectKeyIdentifier: keyIdentifier(interKey.signer.spki),
          authorityKeyIdentifier: keyIdentifier(rootKey.signer.spki),
        },
      },
      rootKey.signer,
    );
    const leaf = await encodeCertificate(
      {
        ...validity,
        serial: Buffer.from("f1e2d3c4b5a697887766554433221100", "hex"),
        issuer: interName,
        subject: encodeName([{ oid: OID.commonName, value: "device-0001" }]),
        spki: leafKey.signer.spki,
        extensions: {
          basicConstraints: { ca: false },
          keyUsage: ["digitalSignature"],
          extendedKeyUsage: ["clientAuth"],
          subjectKeyIdentifier: keyIdentifier(leafKey.signer.spki),
          authorityKeyIdentifier: keyIdentifier(interKey.signer.spki),
          subjectAltNames: [{ type: "dns", value: "device-0001.example.com" }],
          crlDistributionPoints: [CRL_URL],
          ocspUrls: [OCSP_URL],
          caIssuersUrls: [CA_ISSUERS_URL],
        },
      },
      interKey.signer,
    );
    const tmp = scratchDir();
    try {
      const rootPem = tmp.write("root.pem", pemEncode("CERTIFICATE", root));
      const interPem = tmp.write("inter.pem", pemEncode("CERTIFICATE", inter));
      const leafPem = tmp.write("leaf.pem", pemEncode("CERTIFICATE", leaf));
      const verify = openssl(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", rootPem, "-untrusted", interPem, leafPem]);
      expect(verify.stderr).toBe("");
      expect(verify.stdout.trim()).toBe(`${leafPem}: OK`);

      const text = openssl(["x509", "-noout", "-text", "-in", leafPem]);
      expect(text.status).toBe(0);
      expect(text.stdout).toContain("Serial Number:\n            f1:e2:d3:c4:b5:a6:97:88:77:66:55:44:33:22:11:00");
      expect(text.stdout).toContain("Issuer: O = Acme Devices, CN = Acme Issuing CA 1");
      expect(text.stdout).toContain("Subject: CN = device-0001");
      expect(text.stdout).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
      expect(text.stdout).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
      expect(text.stdout).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication/);
      expect(text.stdout).toMatch(/X509v3 Subject Alternative Name: \n\s+DNS:device-0001.example.com/);
      expect(text.stdout).toContain(`URI:${CRL_URL}`);
      expect(text.stdout).toContain(`OCSP - URI:${OCSP_URL}`);
      expect(text.stdout).toContain(`CA Issuers - URI:${CA_ISSUERS_URL}`);
      expect(text.stdout).toContain("ecdsa-with-SHA384");
    } finally {
      tmp.cleanup();
    }
  });
});
