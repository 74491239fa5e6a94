import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeCertificate, keyIdentifier } from "../../ca/certificate.js";
import { encodeCrl, type CrlParams, type RevokedEntry } from "../../ca/crl.js";
import { encodeName } from "../../ca/name.js";
import { OID } from "../../ca/oids.js";
import { pemEncode } from "../../ca/pem.js";
import { REVOCATION_REASONS } from "../../ca/revocation-reason.js";
import { hex, makeTestKey, openssl, scratchDir, type TestKey } from "./fixtures.js";

const CA_NAME = encodeName([
  { oid: OID.organizationName, value: "Acme Devices" },
  { oid: OID.commonName, value: "Acme Issuing CA 1" },
]);
const THIS_UPDATE = new Date("2025-06-01T12:00:00Z");
const NEXT_UPDATE = new Date("2025-06-08T12:00:00Z");

let ca: TestKey;
let caPem: string;

beforeAll(async () => {
  ca = await makeTestKey("P-256");
  const now = Date.now();
  const caCert = await encodeCertificate(
    {
      serial: Uint8Array.of(1),
      issuer: CA_NAME,
      subject: CA_NAME,
      notBefore: new Date(now - 86400_000),
      notAfter: new Date(now + 365 * 86400_000),
      spki: ca.signer.spki,
      extensions: {
        basicConstraints: { ca: true },
        keyUsage: ["keyCertSign", "cRLSign"],
        subjectKeyIdentifier: keyIdentifier(ca.signer.spki),
      },
    },
    ca.signer,
  );
  caPem = pemEncode("CERTIFICATE", caCert);
});

function crlParams(entries: Iterable<RevokedEntry>, overrides: Partial<CrlParams> = {}): CrlParams {
  return {
    issuer: CA_NAME,
    thisUpdate: THIS_UPDATE,
    nextUpdate: NEXT_UPDATE,
    crlNumber: 42n,
    authorityKeyIdentifier: keyIdentifier(ca.signer.spki),
    entries,
    ...overrides,
  };
}

/** Runs `openssl crl` with signature verification; returns its text output. */
function opensslCrlText(crl: Uint8Array, extra: string[] = []): string {
  const tmp = scratchDir();
  try {
    const result = openssl([
      "crl",
      "-inform",
      "DER",
      "-in",
      tmp.write("crl.der", crl),
      "-CAfile",
      tmp.write("ca.pem", caPem),
      "-noout",
      "-text",
      ...extra,
    ]);
    expect(result.status).toBe(0);
    expect(result.stderr.trim()).toBe("verify OK");
    return result.stdout;
  } finally {
    tmp.cleanup();
  }
}

/** Serial i as 9 bytes with the top bit set, so every entry needs the 0x00 pad. */
function serialOf(i: number): Uint8Array {
  const bytes = Buffer.alloc(9);
  bytes[0] = 0x80;
  bytes.writeUInt32BE(i, 5);
  return bytes;
}

const REASON_CYCLE = [undefined, "keyCompromise", "superseded", "cessationOfOperation", "unspecified", "affiliationChanged"] as const;

function* manyEntries(count: number): Generator<RevokedEntry> {
  const base = Date.UTC(2025, 0, 1);
  for (let i = 1; i <= count; i++) {
    const reason = REASON_CYCLE[i % REASON_CYCLE.length];
    yield { serial: serialOf(i), revokedAt: new Date(base + i * 1000), ...(reason ? { reason } : {}) };
  }
}

describe("encodeCrl", () => {
  const three: RevokedEntry[] = [
    { serial: Buffer.from("0a1b2c3d", "hex"), revokedAt: new Date("2025-05-01T08:00:00Z"), reason: "keyCompromise" },
    { serial: Buffer.from("ff00ff00ff00ff00", "hex"), revokedAt: new Date("2025-05-02T09:30:00Z"), reason: "superseded" },
    { serial: Buffer.from("0003", "hex"), revokedAt: new Date("2051-01-01T00:00:00Z"), reason: "unspecified" },
  ];

  it("writes a v2 CRL openssl verifies and prints with the reasons", async () => {
    const text = opensslCrlText(await encodeCrl(crlParams(three), ca.signer));
    expect(text).toContain("Version 2 (0x1)");
    expect(text).toContain("Issuer: O = Acme Devices, CN = Acme Issuing CA 1");
    expect(text).toContain("Last Update: Jun  1 12:00:00 2025 GMT");
    expect(text).toContain("Next Update: Jun  8 12:00:00 2025 GMT");
    expect(text).toMatch(/X509v3 CRL Number: \n\s+42\n/);
    expect(text).toMatch(
      /Serial Number: 0A1B2C3D\n\s+Revocation Date: May  1 08:00:00 2025 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Key Compromise/,
    );
    expect(text).toMatch(
      /Serial Number: FF00FF00FF00FF00\n\s+Revocation Date: May  2 09:30:00 2025 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Superseded/,
    );
    // "unspecified" is expressed by leaving reasonCode out (RFC 5280 §5.3.1); 2051 is a GeneralizedTime.
    expect(text).toMatch(/Serial Number: 03\n\s+Revocation Date: Jan  1 00:00:00 2051 GMT\n\s+Signature Algorithm/);
  });

  it("is parsed back to the same entries by @peculiar/x509", async () => {
    const crl = new x509.X509Crl(await encodeCrl(crlParams(three), ca.signer));
    expect(await crl.verify({ publicKey: new x509.PublicKey(ca.signer.spki) })).toBe(true);
    expect(crl.thisUpdate.toISOString()).toBe(THIS_UPDATE.toISOString());
    expect(crl.nextUpdate!.toISOString()).toBe(NEXT_UPDATE.toISOString());
    expect(crl.entries.map((e) => [e.serialNumber, e.revocationDate.toISOString(), e.reason])).toEqual([
      ["0a1b2c3d", "2025-05-01T08:00:00.000Z", REVOCATION_REASONS.keyCompromise],
      ["ff00ff00ff00ff00", "2025-05-02T09:30:00.000Z", REVOCATION_REASONS.superseded],
      ["03", "2051-01-01T00:00:00.000Z", undefined],
    ]);
    const aki = crl.getExtension(OID.authorityKeyIdentifier) as x509.AuthorityKeyIdentifierExtension;
    expect(aki.keyId).toBe(hex(keyIdentifier(ca.signer.spki)));
  });

  it("leaves revokedCertificates out when there are no entries", async () => {
    const text = opensslCrlText(await encodeCrl(crlParams([]), ca.signer));
    expect(text).toContain("No Revoked Certificates.");
  });

  it("refuses bad parameters", async () => {
    await expect(encodeCrl(crlParams([], { nextUpdate: THIS_UPDATE }), ca.signer)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(encodeCrl(crlParams([{ serial: Uint8Array.of(0), revokedAt: THIS_UPDATE }]), ca.signer)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await expect(encodeCrl(crlParams([], { crlNumber: 1n << 160n }), ca.signer)).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("builds 100k entries quickly; openssl verifies all, the library reads 1k", async () => {
    const crl = await encodeCrl(crlParams(manyEntries(100_000)), ca.signer);
    // Full comparison through openssl's text output: @peculiar/x509 2.2 cannot parse it
    // (asn1js stops with "Maximum ASN.1 node count exceeded" already at 10k entries), so the
    // library check below runs on a 1k-entry CRL.
    const text = opensslCrlText(crl);
    const serials = [...text.matchAll(/Serial Number: ([0-9A-F]+)\n\s+Revocation Date: ([^\n]+)/g)];
    expect(serials).toHaveLength(100_000);
    const expected = [...manyEntries(100_000)];
    for (const i of [0, 1, 4, 99_999, 54_321]) {
      expect(serials[i]![1]).toBe(hex(expected[i]!.serial).toUpperCase());
    }
    expect(text.match(/Key Compromise/g)).toHaveLength(expected.filter((e) => e.reason === "keyCompromise").length);

    const small = new x509.X509Crl(await encodeCrl(crlParams(manyEntries(1000)), ca.signer));
    expect(await small.verify({ publicKey: new x509.PublicKey(ca.signer.spki) })).toBe(true);
    expect(small.entries).toHaveLength(1000);
    expected.slice(0, 1000).forEach((entry, i) => {
      const parsed = small.entries[i]!;
      expect(parsed.serialNumber).toBe(hex(entry.serial)); // the library drops the 0x00 pad
      expect(parsed.revocationDate.getTime()).toBe(entry.revokedAt.getTime());
      expect(parsed.reason).toBe(entry.reason && entry.reason !== "unspecified" ? REVOCATION_REASONS[entry.reason] : undefined);
    });
  });

  it("makes openssl verify -crl_check reject a revoked leaf and accept a good one", async () => {
    const leafKey = await makeTestKey("P-256");
    const now = Date.now();
    const leaf = (serial: number) =>
      encodeCertificate(
        {
          serial: Uint8Array.of(serial),
          issuer: CA_NAME,
          subject: encodeName([{ oid: OID.commonName, value: `device-${serial}` }]),
          notBefore: new Date(now - 3600_000),
          notAfter: new Date(now + 86400_000),
          spki: leafKey.signer.spki,
          extensions: {
            basicConstraints: { ca: false },
            keyUsage: ["digitalSignature"],
            subjectKeyIdentifier: keyIdentifier(leafKey.signer.spki),
            authorityKeyIdentifier: keyIdentifier(ca.signer.spki),
          },
        },
        ca.signer,
      );
    const crl = await encodeCrl(
      crlParams([{ serial: Uint8Array.of(0x66), revokedAt: new Date(now - 60_000), reason: "keyCompromise" }], {
        thisUpdate: new Date(now - 60_000),
        nextUpdate: new Date(now + 86400_000),
      }),
      ca.signer,
    );
    const tmp = scratchDir();
    try {
      const caFile = tmp.write("ca.pem", caPem);
      const crlFile = tmp.write("crl.pem", pemEncode("X509 CRL", crl));
      const good = tmp.write("good.pem", pemEncode("CERTIFICATE", await leaf(0x65)));
      const revoked = tmp.write("revoked.pem", pemEncode("CERTIFICATE", await leaf(0x66)));
      const verify = (file: string) => openssl(["verify", "-x509_strict", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, file]);
      expect(verify(good).stdout.trim()).toBe(`${good}: OK`);
      const refused = verify(revoked);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain("certificate revoked");
    } finally {
      tmp.cleanup();
    }
  });
});
