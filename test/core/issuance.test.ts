import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Services } from "../../src/app.js";
import { servicesWithCa, stateCounts } from "../helpers/services.js";
import { opensslCsr, type CsrKey } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";

let services: Services;
const dir = tempDir();

beforeAll(async () => {
  services = await servicesWithCa();
});

function csr(name: string, subject: string, key: CsrKey = "ec-p256", addext: string[] = []): string {
  return readFileSync(opensslCsr(dir, name, { key, subject, addext }), "utf8");
}

describe("issuance", () => {
  it("issues a device certificate that carries exactly what the profile grants", async () => {
    const issued = await services.issuance.issue({
      csr: csr("d1", "/CN=sensor-0001/O=Acme", "ec-p256", ["subjectAltName=URI:urn:dev:sensor-0001"]),
      profile: "device",
      actor: "t",
    });
    const cert = new x509.X509Certificate(issued.der);
    expect(cert.subject).toBe("CN=sensor-0001, O=Acme");
    expect(BigInt("0x" + cert.serialNumber) >= 2n ** 64n).toBe(true);
    expect(cert.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: false, critical: true });
    expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).toBeTruthy();
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe((await services.ca.activeIssuer()).ca.subjectKeyId);
    expect(cert.getExtension(x509.CRLDistributionPointsExtension)).toBeTruthy();
    expect(cert.getExtension(x509.AuthorityInfoAccessExtension)!.ocsp[0]!.value).toMatch(/\/ocsp$/);
    const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000;
    expect(days).toBe(365);
    // Node's own X.509 stack agrees the issuer signed it.
    const issuer = new X509Certificate(issued.chain[0]!);
    expect(new X509Certificate(issued.der).checkIssued(issuer)).toBe(true);
    expect(new X509Certificate(issued.der).verify(issuer.publicKey)).toBe(true);
    expect(issued.certificate).toMatchObject({
      status: "good",
      profile: "device",
      commonName: "sensor-0001",
      subjectAltNames: ["uri:urn:dev:sensor-0001"],
    });

    const log = await services.audit.list({ serial: issued.certificate.serial }, null);
    expect(log.items).toHaveLength(1);
    expect(log.items[0]).toMatchObject({ action: "cert.issue", actor: "t", profile: "device", policyHash: services.policies.hash });
  });

  it("accepts RSA-2048 and P-384 keys; Ed25519 only where the profile allows it", async () => {
    await expect(
      services.issuance.issue({ csr: csr("r", "/CN=rsa-dev", "rsa-2048"), profile: "device", actor: "t" }),
    ).resolves.toBeTruthy();
    await expect(
      services.issuance.issue({ csr: csr("p384", "/CN=p384-dev", "ec-p384"), profile: "device", actor: "t" }),
    ).resolves.toBeTruthy();
    await expect(services.issuance.issue({ csr: csr("ed", "/CN=ed-dev", "ed25519"), profile: "device", actor: "t" })).rejects.toMatchObject(
      { code: "profile_violation" },
    );
    await expect(
      services.issuance.issue({ csr: csr("ed2", "/CN=ed-gw", "ed25519"), profile: "gateway", actor: "t" }),
    ).resolves.toBeTruthy();
  });

  it("honours a requested validity up to the profile maximum", async () => {
    const issued = await services.issuance.issue({
      csr: csr("v", "/CN=short"),
      profile: "device",
      actor: "t",
      validityMs: 30 * 86_400_000,
    });
    expect(new Date(issued.certificate.notAfter).getTime() - new Date(issued.certificate.notBefore).getTime()).toBe(30 * 86_400_000);
  });

  const refusals: Array<[string, () => Parameters<Services["issuance"]["issue"]>[0], string, RegExp]> = [
    [
      "an RSA-1024 key",
      () => ({ csr: csr("weak", "/CN=weak", "rsa-1024"), profile: "device", actor: "t" }),
      "weak_key",
      /RSA key of 1024 bits/,
    ],
    ["a P-521 key", () => ({ csr: csr("p521", "/CN=p521", "ec-p521"), profile: "device", actor: "t" }), "weak_key", /P-521/],
    [
      "a CN outside the pattern",
      () => ({ csr: csr("cn", "/CN=bad name!"), profile: "device", actor: "t" }),
      "profile_violation",
      /does not match/,
    ],
    ["a missing CN", () => ({ csr: csr("nocn", "/O=Acme"), profile: "device", actor: "t" }), "profile_violation", /CN is required/],
    [
      "a disallowed subject attribute",
      () => ({ csr: csr("loc", "/CN=dev/L=Berlin"), profile: "device", actor: "t" }),
      "profile_violation",
      /attribute L/,
    ],
    [
      "a disallowed SAN type",
      () => ({ csr: csr("ip", "/CN=dev", "ec-p256", ["subjectAltName=IP:10.0.0.1"]), profile: "device", actor: "t" }),
      "profile_violation",
      /type ip/,
    ],
    [
      "CA:true",
      () => ({ csr: csr("ca", "/CN=dev", "ec-p256", ["basicConstraints=critical,CA:TRUE"]), profile: "device", actor: "t" }),
      "profile_violation",
      /CA:true/,
    ],
    [
      "an extra key usage",
      () => ({ csr: csr("ku", "/CN=dev", "ec-p256", ["keyUsage=digitalSignature,keyCertSign"]), profile: "device", actor: "t" }),
      "profile_violation",
      /keyCertSign/,
    ],
    [
      "an extra extended key usage",
      () => ({ csr: csr("eku", "/CN=dev", "ec-p256", ["extendedKeyUsage=serverAuth"]), profile: "device", actor: "t" }),
      "profile_violation",
      /serverAuth/,
    ],
    [
      "a validity above the maximum",
      () => ({ csr: csr("long", "/CN=dev"), profile: "device", actor: "t", validityMs: 900 * 86_400_000 }),
      "profile_violation",
      /exceeds the maximum/,
    ],
    [
      "an unknown profile",
      () => ({ csr: csr("unk", "/CN=dev"), profile: "toaster", actor: "t" }),
      "not_found",
      /Unknown profile "toaster"/,
    ],
    [
      "random bytes",
      () => ({ csr: new Uint8Array([0x30, 0x82, 0x01, 0x00, 1, 2, 3]), profile: "device", actor: "t" }),
      "bad_encoding",
      /Cannot parse CSR/,
    ],
    [
      "a broken PEM",
      () => ({ csr: "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n", profile: "device", actor: "t" }),
      "bad_encoding",
      /CSR/,
    ],
    [
      "a CSR with a broken signature",
      () => ({ csr: tamperSignature(csr("sig", "/CN=dev")), profile: "device", actor: "t" }),
      "bad_signature",
      /signature/i,
    ],
  ];

  for (const [what, request, code, message] of refusals) {
    it(`refuses ${what}, naming the problem and changing nothing`, async () => {
      const req = request();
      const before = await stateCounts(services);
      const err = await services.issuance.issue(req).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(message);
      expect(await stateCounts(services)).toEqual(before);
    });
  }

  it("gives every certificate in a batch a unique serial and a log entry", async () => {
    const requests = Array.from({ length: 40 }, (_, i) => ({ csr: csr(`b${i}`, `/CN=batch-${i}`), profile: "device", actor: "factory" }));
    requests.push({ csr: "garbage", profile: "device", actor: "factory" });
    const before = await stateCounts(services);
    const results = await services.issuance.issueMany(requests);
    expect(results.filter((r) => r.ok)).toHaveLength(40);
    expect(results[40]).toMatchObject({ ok: false, error: { code: "bad_encoding" } });
    const serials = new Set(results.flatMap((r) => (r.ok ? [r.issued.certificate.serial] : [])));
    expect(serials.size).toBe(40);
    expect(await stateCounts(services)).toEqual({ certificates: before.certificates + 40, audit: before.audit + 40 });
    expect(await services.audit.verify()).toMatchObject({ ok: true });
  });
});

/** Flips a bit inside the CSR's signature, keeping the DER well-formed. */
function tamperSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  der[der.length - 5] ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}
