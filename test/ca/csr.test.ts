import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCsr, verifyCsr, type ParsedCsr } from "../../ca/csr.js";
import { formatName } from "../../ca/name.js";
import { OID } from "../../ca/oids.js";
import { pemEncode } from "../../ca/pem.js";
import type { PublicKeyInfo } from "../../ca/key-algorithm.js";
import { openssl, opensslBytes, scratchDir } from "./fixtures.js";

const SAN_EXT = "subjectAltName=DNS:dev-1.example.com,IP:192.0.2.1,IP:2001:db8::1,URI:urn:dev:1,email:ops@example.com";
const EXPECTED_SANS = [
  { type: "dns", value: "dev-1.example.com" },
  { type: "ip", value: "192.0.2.1" },
  { type: "ip", value: "2001:db8::1" },
  { type: "uri", value: "urn:dev:1" },
  { type: "email", value: "ops@example.com" },
];

interface OpensslCase {
  name: string;
  newkey: string[];
  extra: string[];
  key: PublicKeyInfo;
  signatureAlgorithm: string;
}

const OPENSSL_CASES: OpensslCase[] = [
  {
    name: "EC P-256",
    newkey: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    extra: [],
    key: { kind: "ec", curve: "P-256" },
    signatureAlgorithm: OID.ecdsaWithSha256,
  },
  {
    name: "EC P-384",
    newkey: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
    extra: ["-sha384"],
    key: { kind: "ec", curve: "P-384" },
    signatureAlgorithm: OID.ecdsaWithSha384,
  },
  {
    name: "RSA-2048",
    newkey: ["-newkey", "rsa:2048"],
    extra: [],
    key: { kind: "rsa", bits: 2048 },
    signatureAlgorithm: OID.sha256WithRsaEncryption,
  },
  {
    name: "RSA-2048 with RSASSA-PSS",
    newkey: ["-newkey", "rsa:2048"],
    extra: ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    key: { kind: "rsa", bits: 2048 },
    signatureAlgorithm: OID.rsassaPss,
  },
  { name: "Ed25519", newkey: ["-newkey", "ed25519"], extra: [], key: { kind: "ed25519" }, signatureAlgorithm: OID.ed25519 },
];

/** Independent read of the same CSR by @peculiar/x509. */
function libraryView(der: Uint8Array) {
  const csr = new x509.Pkcs10CertificateRequest(der);
  // getExtension(class) does not find CSR extensions in @peculiar/x509 2.2; look up by OID.
  const san = csr.getExtension(OID.subjectAltName) as x509.SubjectAlternativeNameExtension | null;
  return {
    subject: csr.subject,
    sans: (san?.names.items ?? []).map((n) => ({ type: n.type === "url" ? "uri" : n.type, value: n.value })),
    spki: Buffer.from(csr.publicKey.rawData).toString("hex"),
  };
}

/** IP addresses compared as bytes: the two sides may spell IPv6 differently. */
function canonicalIp(name: { type: string; value: string }) {
  if (name.type !== "ip") return name;
  return { type: "ip", value: new URL(`http://${name.value.includes(":") ? `[${name.value}]` : name.value}`).hostname };
}

function expectAgreesWithLibrary(parsed: ParsedCsr): void {
  const lib = libraryView(parsed.der);
  expect(formatName(parsed.subject)).toBe(lib.subject);
  expect(Buffer.from(parsed.spki).toString("hex")).toBe(lib.spki);
  expect(lib.sans.map(canonicalIp)).toEqual(parsed.subjectAltNames.map(canonicalIp));
}

describe("parseCsr + verifyCsr on openssl req output", () => {
  const csrs = new Map<string, string>();
  beforeAll(() => {
    const tmp = scratchDir();
    try {
      for (const c of OPENSSL_CASES) {
        const out = tmp.path(`${c.name}.csr`);
        const args = [
          "req",
          "-new",
          ...c.newkey,
          "-nodes",
          "-keyout",
          tmp.path(`${c.name}.key`),
          "-subj",
          "/CN=dev-1/O=Acme Devices",
          "-addext",
          SAN_EXT,
          ...c.extra,
          "-out",
          out,
        ];
        const result = openssl(args);
        if (result.status !== 0) throw new Error(result.stderr);
        csrs.set(c.name, opensslBytes(["req", "-in", out]).toString("latin1"));
      }
    } finally {
      tmp.cleanup();
    }
  });

  it.each(OPENSSL_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const parsed = parseCsr(csrs.get(c.name)!);
    await verifyCsr(parsed);
    expect(parsed.subject).toEqual([
      { oid: OID.commonName, shortName: "CN", value: "dev-1", tag: 12 },
      { oid: OID.organizationName, shortName: "O", value: "Acme Devices", tag: 12 },
    ]);
    expect(parsed.publicKey).toEqual(c.key);
    expect(parsed.signatureAlgorithm).toBe(c.signatureAlgorithm);
    expect(parsed.subjectAltNames).toEqual(EXPECTED_SANS);
    expect(parsed.requestedExtensions.map((e) => e.oid)).toEqual([OID.subjectAltName]);
    if (c.key.kind !== "ed25519") expectAgreesWithLibrary(parsed);
  });

  it("accepts DER, PEM bytes, the NEW CERTIFICATE REQUEST label and surrounding whitespace", async () => {
    const pem = csrs.get("EC P-256")!;
    const der = parseCsr(pem).der;
    await verifyCsr(parseCsr(der));
    await verifyCsr(parseCsr(Buffer.from(`\n  ${pem}\n\n`)));
    await verifyCsr(parseCsr(`\r\n${pemEncode("NEW CERTIFICATE REQUEST", der).replace(/\n/g, "\r\n")}  `));
  });

  it("reports every requested extension, so a profile can refuse CA:TRUE", () => {
    const tmp = scratchDir();
    try {
      const out = tmp.path("ca.csr");
      const args = [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        tmp.path("k"),
        "-subj",
        "/CN=sneaky",
      ];
      const result = openssl([...args, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign", "-out", out]);
      expect(result.status).toBe(0);
      const parsed = parseCsr(opensslBytes(["req", "-in", out]));
      expect(parsed.requestedExtensions.map((e) => [e.oid, e.critical, Buffer.from(e.value).toString("hex")])).toEqual([
        [OID.basicConstraints, true, "30030101ff"],
        [OID.keyUsage, false, "03020204"],
      ]);
      expect(parsed.subjectAltNames).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });
});

describe("parseCsr + verifyCsr on @peculiar/x509 output", () => {
  it.each([
    ["P-256", { name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }, { kind: "ec", curve: "P-256" }],
    ["P-384", { name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }, { kind: "ec", curve: "P-384" }],
    [
      "RSA-2048",
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      { kind: "rsa", bits: 2048 },
    ],
  ] as const)("%s", async (_name, keyAlg, signingAlgorithm, expectedKey) => {
    const keys = (await webcrypto.subtle.generateKey(keyAlg as unknown as EcKeyGenParams, false, [
      "sign",
      "verify",
    ])) as unknown as CryptoKeyPair;
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=lib-device, O=Acme",
      keys,
      signingAlgorithm: signingAlgorithm as unknown as Algorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "dev-1.example.com" },
          { type: "ip", value: "192.0.2.1" },
        ]),
      ],
    });
    const parsed = parseCsr(request.toString("pem"));
    await verifyCsr(parsed);
    expect(formatName(parsed.subject)).toBe(request.subject);
    expect(parsed.publicKey).toEqual(expectedKey);
    expect(parsed.subjectAltNames).toEqual(EXPECTED_SANS.slice(0, 2));
    expect(Buffer.from(parsed.spki).toString("hex")).toBe(Buffer.from(request.publicKey.rawData).toString("hex"));
  });
});

describe("parseCsr + verifyCsr refusals", () => {
  let pem: string;
  let der: Uint8Array;
  beforeAll(() => {
    const tmp = scratchDir();
    try {
      const out = tmp.path("r.csr");
      openssl([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        tmp.path("k"),
        "-subj",
        "/CN=dev-1",
        "-out",
        out,
      ]);
      pem = opensslBytes(["req", "-in", out]).toString("latin1");
      der = parseCsr(pem).der;
    } finally {
      tmp.cleanup();
    }
  });

  const badEncoding = (input: string | Uint8Array, message: RegExp) =>
    expect(() => parseCsr(input)).toThrow(expect.objectContaining({ code: "bad_encoding", message: expect.stringMatching(message) }));

  it("refuses random bytes", () => {
    // Fixed pseudo-random bytes, so the test does not depend on luck.
    const noise = Buffer.concat([0, 1, 2, 3].map((i) => createHash("sha256").update(`noise ${i}`).digest()));
    badEncoding(noise, /^Cannot parse CSR: /);
    badEncoding(Uint8Array.of(0x30, 0x80, 0, 0), /indefinite length/);
    badEncoding(new Uint8Array(0), /empty input/);
  });

  it("refuses truncated DER and trailing bytes", () => {
    badEncoding(der.subarray(0, der.length - 10), /truncated/);
    badEncoding(Buffer.concat([der, Uint8Array.of(0, 0)]), /2 trailing bytes/);
    badEncoding(`${pem}garbage`, /PEM/);
  });

  it("refuses bad PEM armour", () => {
    badEncoding(pem.replace("-----END CERTIFICATE REQUEST-----", "-----END CERTIFICATE-----"), /does not match/);
    badEncoding(pem.replace(/CERTIFICATE REQUEST/g, "CERTIFICATE"), /unexpected PEM label "CERTIFICATE"/);
    badEncoding(pem.replace("-----END CERTIFICATE REQUEST-----", ""), /BEGIN\/END armour/);
    badEncoding(pem.replace(/\n(.)/, "\n!$1"), /not valid base64/);
    badEncoding(`${pem}${pem}`, /more than one PEM block/);
  });

  it("refuses non-minimal DER lengths", () => {
    // Re-encode the outer length in long form with one redundant leading zero octet.
    const lengthOctets = der[1]! & 0x7f;
    const body = der.subarray(2 + lengthOctets);
    const stretched = Buffer.concat([Uint8Array.of(0x30, 0x80 | (lengthOctets + 1), 0), der.subarray(2, 2 + lengthOctets), body]);
    badEncoding(stretched, /non-minimal length/);
  });

  it("refuses a CSR with one flipped signature byte", async () => {
    const tampered = Buffer.from(der);
    tampered[tampered.length - 1]! ^= 0x01;
    await expect(verifyCsr(parseCsr(tampered))).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a CSR whose subject was altered after signing", async () => {
    const tampered = Buffer.from(der);
    const at = tampered.indexOf("dev-1");
    tampered.write("dev-2", at, "latin1");
    const parsed = parseCsr(tampered);
    expect(parsed.subject[0]!.value).toBe("dev-2");
    await expect(verifyCsr(parsed)).rejects.toMatchObject({
      code: "bad_signature",
      message: "CSR signature does not verify with the CSR's public key",
    });
  });

  it("refuses signature algorithms it does not support", async () => {
    // Swap ecdsa-with-SHA256 for a same-length OID the engine does not know (1.2.840.10045.4.1.1).
    const sha256Oid = Buffer.from("06082a8648ce3d040302", "hex");
    const tampered = Buffer.from(der);
    Buffer.from("06082a8648ce3d040101", "hex").copy(tampered, tampered.lastIndexOf(sha256Oid));
    await expect(verifyCsr(parseCsr(tampered))).rejects.toMatchObject({ code: "unsupported_algorithm" });
  });
  it("names a refused SHA-1 signature algorithm and what to use instead", async () => {
    const scratch = scratchDir();
    try {
      const sha1 = opensslBytes([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        scratch.path("sha1.key"),
        "-subj",
        "/CN=dev-sha1",
        "-sha1",
        "-outform",
        "DER",
      ]);
      await expect(verifyCsr(parseCsr(sha1))).rejects.toMatchObject({
        code: "unsupported_algorithm",
        message: "Cannot verify CSR: ecdsa-with-SHA1 (1.2.840.10045.4.1) is not accepted; use SHA-256 or stronger",
      });
    } finally {
      scratch.cleanup();
    }
  });
});
