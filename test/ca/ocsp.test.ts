import { verify as cryptoVerify, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCertificate, keyIdentifier } from "../../ca/certificate.js";
import { intermediateCertificateParams, ocspSignerCertificateParams, rootCertificateParams } from "../../ca/ca-certificates.js";
import { DerReader, NULL, TAG, TRUE, explicit, implicit, integer, octetString, oid, sequence } from "../../ca/der.js";
import { encodeName } from "../../ca/name.js";
import {
  MAX_OCSP_CERT_IDS,
  certIdMatchesIssuer,
  encodeOcspError,
  encodeOcspResponse,
  issuerHashes,
  parseOcspRequest,
  type OcspCertStatus,
  type OcspRequest,
  type OcspResponseParams,
} from "../../ca/ocsp.js";
import { OID } from "../../ca/oids.js";
import { pemEncode } from "../../ca/pem.js";
import { PkiError } from "../../ca/pki-error.js";
import type { CertificateParams, NameAttribute } from "../../ca/x509-types.js";
import { hex, makeTestKey, openssl, scratchDir, type TestKey } from "./fixtures.js";

const DAY = 86_400_000;
/** Whole seconds: OCSP times carry no fractions, so comparisons stay exact. */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const REVOKED_AT = new Date(NOW.getTime() - 3 * DAY);
const UNKNOWN_SERIAL = "7fee0000000000000000000000000001";

const name = (cn: string): NameAttribute[] => [
  { oid: OID.organizationName, value: "Acme Devices" },
  { oid: OID.commonName, value: cn },
];

interface Issued {
  key: TestKey;
  der: Uint8Array;
  pem: string;
  serial: string;
}

let root: Issued;
let int: Issued;
let responder: Issued;
let good: Issued;
let revoked: Issued;
let tmp: ReturnType<typeof scratchDir>;
let serial = 0x41000000;

/** A fresh 16-byte serial like ca/serial.ts makes, but predictable per test run. */
function nextSerial(): Uint8Array {
  const bytes = Buffer.alloc(16, 0x11);
  bytes[0] = 0x42;
  bytes.writeUInt32BE(serial++, 12);
  return bytes;
}

async function issue(params: CertificateParams, key: TestKey, signer: TestKey): Promise<Issued> {
  const der = await encodeCertificate(params, signer.signer);
  return { key, der, pem: pemEncode("CERTIFICATE", der), serial: hex(params.serial) };
}

function leafParams(cn: string, key: TestKey, issuer: Issued): CertificateParams {
  return {
    serial: nextSerial(),
    issuer: encodeName(name("Acme Issuing CA")),
    subject: encodeName(name(cn)),
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter: new Date(NOW.getTime() + 30 * DAY),
    spki: key.signer.spki,
    extensions: {
      basicConstraints: { ca: false },
      keyUsage: ["digitalSignature"],
      extendedKeyUsage: ["clientAuth"],
      subjectKeyIdentifier: keyIdentifier(key.signer.spki),
      authorityKeyIdentifier: keyIdentifier(issuer.key.signer.spki),
      subjectAltNames: [{ type: "dns", value: `${cn}.devices.example.com` }],
    },
  };
}

beforeAll(async () => {
  tmp = scratchDir();
  const [rootKey, intKey, responderKey, goodKey, revokedKey] = await Promise.all(
    ["P-256", "P-256", "P-256", "P-256", "P-256"].map(() => makeTestKey("P-256")),
  );
  const validity = { notBefore: new Date(NOW.getTime() - 2 * DAY), notAfter: new Date(NOW.getTime() + 365 * DAY) };
  root = await issue(
    rootCertificateParams({ subject: name("Acme Root CA"), spki: rootKey!.signer.spki, serial: nextSerial(), ...validity }),
    rootKey!,
    rootKey!,
  );
  int = await issue(
    intermediateCertificateParams({
      subject: name("Acme Issuing CA"),
      issuer: encodeName(name("Acme Root CA")),
      issuerKeyId: keyIdentifier(rootKey!.signer.spki),
      spki: intKey!.signer.spki,
      serial: nextSerial(),
      ...validity,
    }),
    intKey!,
    rootKey!,
  );
  responder = await issue(
    ocspSignerCertificateParams({
      subject: name("Acme Issuing CA OCSP Responder"),
      issuer: encodeName(name("Acme Issuing CA")),
      issuerKeyId: keyIdentifier(intKey!.signer.spki),
      spki: responderKey!.signer.spki,
      serial: nextSerial(),
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + 7 * DAY),
    }),
    responderKey!,
    intKey!,
  );
  good = await issue(leafParams("device-good", goodKey!, int), goodKey!, intKey!);
  revoked = await issue(leafParams("device-revoked", revokedKey!, int), revokedKey!, intKey!);
  tmp.write("root.pem", root.pem);
  tmp.write("int.pem", int.pem);
  tmp.write("chain.pem", int.pem + root.pem);
  tmp.write("responder.pem", responder.pem);
  tmp.write("responder-key.pem", responder.key.privateKey.export({ format: "pem", type: "pkcs8" }) as string);
  tmp.write("good.pem", good.pem);
  tmp.write("revoked.pem", revoked.pem);
});

afterAll(() => tmp?.cleanup());

/** The CertID selection every request below asks about: a good, a revoked and an unknown serial. */
const CERT_ARGS = ["-cert", "good.pem", "-cert", "revoked.pem", "-serial", `0x${UNKNOWN_SERIAL}`];

/** `openssl ocsp -issuer int.pem <args> -reqout req.der`: a request exactly as OpenSSL sends it. */
function opensslRequest(args: string[], file = "req.der"): Uint8Array {
  const result = openssl(["ocsp", "-issuer", tmp.path("int.pem"), ...withPaths(args), "-reqout", tmp.path(file)]);
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(tmp.path(file));
}

/** Makes bare file names of the scratch dir absolute. */
function withPaths(args: string[]): string[] {
  return args.map((arg) => (/^[a-z-]+\.(pem|der)$/.test(arg) ? tmp.path(arg) : arg));
}

function statusOf(serialHex: string): OcspCertStatus {
  if (serialHex === good.serial) return { status: "good" };
  if (serialHex === revoked.serial) return { status: "revoked", revokedAt: REVOKED_AT, reason: "keyCompromise" };
  return { status: "unknown" };
}

function responseParams(request: OcspRequest, overrides: Partial<OcspResponseParams> = {}): OcspResponseParams {
  return {
    producedAt: NOW,
    responses: request.certIds.map((certId) => ({
      certId,
      certStatus: statusOf(certId.serial),
      thisUpdate: new Date(NOW.getTime() - 60_000),
      nextUpdate: new Date(NOW.getTime() + DAY),
    })),
    ...(request.nonce ? { nonce: request.nonce } : {}),
    responderCertificate: responder.der,
    ...overrides,
  };
}

/**
 * `openssl ocsp -respin resp.der -reqin req.der <verify args> -resp_text`: verifies the
 * signature and chain and checks the nonce against the request (openssl ignores -reqin once
 * -cert/-serial build a request of their own, so status lines come from opensslStatus).
 */
function opensslVerify(response: Uint8Array, verifyArgs: string[], reqin: string) {
  tmp.write("resp.der", response);
  return openssl(["ocsp", "-respin", tmp.path("resp.der"), "-reqin", tmp.path(reqin), ...withPaths(verifyArgs), "-resp_text"]);
}

/**
 * `openssl ocsp -respin resp.der -issuer int.pem -no_nonce [-sha256] -cert good.pem -cert revoked.pem
 * -serial 0x… <verify args>`: verifies again and prints one status line per CertID.
 */
function opensslStatus(response: Uint8Array, verifyArgs: string[], digest: string[] = []) {
  tmp.write("resp.der", response);
  return openssl([
    "ocsp",
    "-respin",
    tmp.path("resp.der"),
    "-issuer",
    tmp.path("int.pem"),
    "-no_nonce",
    ...digest,
    ...withPaths(CERT_ARGS),
    ...withPaths(verifyArgs),
  ]);
}

function expectVerified(result: { status: number; stdout: string; stderr: string }): void {
  expect(result.status, result.stderr).toBe(0);
  expect(result.stderr).toContain("Response verify OK");
  expect(result.stderr).not.toContain("WARNING");
}

function expectStatusLines(stdout: string): void {
  expect(stdout).toMatch(/good\.pem: good\n/);
  expect(stdout).toMatch(/revoked\.pem: revoked\n\tThis Update: .*\n\tNext Update: .*\n\tReason: keyCompromise\n\tRevocation Time: /);
  expect(stdout).toContain(`0x${UNKNOWN_SERIAL}: unknown\n`);
}

/** Serial → status as `-resp_text` prints each SingleResponse. */
function statusesInText(text: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of text.matchAll(/Serial Number: ([0-9A-F]+)\n\s+Cert Status: (\w+)/g)) found[match[1]!.toLowerCase()] = match[2]!;
  return found;
}

describe("parseOcspRequest on requests made by openssl", () => {
  it("reads SHA-1 CertIDs, serials and the nonce", () => {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS));
    expect(request.signed).toBe(false);
    expect(request.certIds.map((id) => id.serial)).toEqual([good.serial, revoked.serial, UNKNOWN_SERIAL]);
    const hashes = issuerHashes(int.der);
    for (const certId of request.certIds) {
      expect(certId.hashAlgorithm).toBe("sha1");
      expect(hex(certId.issuerNameHash)).toBe(hex(hashes.sha1.nameHash));
      expect(hex(certId.issuerKeyHash)).toBe(hex(hashes.sha1.keyHash));
      expect(certIdMatchesIssuer(certId, hashes)).toBe(true);
      expect(certIdMatchesIssuer(certId, issuerHashes(root.der))).toBe(false);
      expect(certId.raw[0]).toBe(TAG.SEQUENCE);
    }
    // OpenSSL's nonce extnValue is itself an OCTET STRING of 16 random bytes.
    expect(request.nonce).toBeDefined();
    expect(request.nonce!.length).toBe(18);
    expect([...request.nonce!.subarray(0, 2)]).toEqual([0x04, 16]);
  });

  it("reads SHA-256 CertIDs and requests without a nonce", () => {
    const request = parseOcspRequest(opensslRequest(["-no_nonce", "-sha256", ...CERT_ARGS]));
    expect(request.nonce).toBeUndefined();
    expect(request.certIds.map((id) => id.hashAlgorithm)).toEqual(["sha256", "sha256", "sha256"]);
    expect(request.certIds.every((id) => certIdMatchesIssuer(id, issuerHashes(int.der)))).toBe(true);
    expect(request.certIds.map((id) => id.serial)).toEqual([good.serial, revoked.serial, UNKNOWN_SERIAL]);
  });

  it("accepts a signed request and ignores its signature", () => {
    const request = parseOcspRequest(
      opensslRequest(["-signer", "responder.pem", "-signkey", "responder-key.pem", "-cert", "good.pem"], "signed-req.der"),
    );
    expect(request.signed).toBe(true);
    expect(request.certIds.map((id) => id.serial)).toEqual([good.serial]);
  });
});

describe("encodeOcspResponse checked by openssl", () => {
  it("answers good / revoked (keyCompromise) / unknown with the nonce echoed, verified up to the root", async () => {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS, "req.der"));
    const response = await encodeOcspResponse(responseParams(request), responder.key.signer);
    // The chain file holds the intermediate (to build the responder's chain) and the root.
    const result = opensslVerify(response, ["-CAfile", "chain.pem"], "req.der");
    expectVerified(result);
    expect(result.stdout).toContain("OCSP Response Status: successful (0x0)");
    expect(result.stdout).toContain("Response Type: Basic OCSP Response");
    expect(result.stdout).toContain(`Responder Id: ${hex(keyIdentifier(responder.key.signer.spki)).toUpperCase()}`);
    expect(result.stdout).toContain("OCSP Nonce: ");
    expect(result.stdout).toContain("Revocation Reason: keyCompromise (0x1)");
    expect(result.stdout).toContain("OCSP Signing");
    expect(result.stdout).toContain("OCSP No Check");
    expect(statusesInText(result.stdout)).toEqual({ [good.serial]: "good", [revoked.serial]: "revoked", [UNKNOWN_SERIAL]: "unknown" });

    const status = opensslStatus(response, ["-CAfile", "chain.pem"]);
    expectVerified(status);
    expectStatusLines(status.stdout);
    // Only the root trusted, the intermediate given as an untrusted helper.
    const rootOnly = opensslStatus(response, ["-CAfile", "root.pem", "-verify_other", "int.pem"]);
    expectVerified(rootOnly);
    expectStatusLines(rootOnly.stdout);
  });

  it("verifies against -VAfile with SHA-256 CertIDs and no nonce", async () => {
    const request = parseOcspRequest(opensslRequest(["-no_nonce", "-sha256", ...CERT_ARGS], "req256.der"));
    const response = await encodeOcspResponse(responseParams(request), responder.key.signer);
    const verified = opensslVerify(response, ["-VAfile", "responder.pem"], "req256.der");
    expectVerified(verified);
    expect(verified.stdout).not.toContain("OCSP Nonce");
    expect(verified.stdout).toContain("Hash Algorithm: sha256");
    const status = opensslStatus(response, ["-VAfile", "responder.pem"], ["-sha256"]);
    expectVerified(status);
    expectStatusLines(status.stdout);
  });

  it("is signed by the CA itself when no responder certificate is given", async () => {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS, "req.der"));
    const response = await encodeOcspResponse(responseParams(request, { responderCertificate: undefined }), int.key.signer);
    expectVerified(opensslVerify(response, ["-CAfile", "root.pem", "-verify_other", "int.pem"], "req.der"));
    const status = opensslStatus(response, ["-CAfile", "root.pem", "-verify_other", "int.pem"]);
    expectVerified(status);
    expectStatusLines(status.stdout);
  });

  it("is caught by openssl when the nonce does not match or the signer is not authorised", async () => {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS, "req.der"));
    const otherNonce = Uint8Array.from(request.nonce!);
    otherNonce[otherNonce.length - 1]! ^= 1;
    const wrongNonce = opensslVerify(
      await encodeOcspResponse(responseParams(request, { nonce: otherNonce }), responder.key.signer),
      ["-CAfile", "chain.pem"],
      "req.der",
    );
    expect(wrongNonce.status).not.toBe(0);
    expect(wrongNonce.stderr).toContain("Nonce Verify error");
    const noNonce = opensslVerify(
      await encodeOcspResponse(responseParams(request, { nonce: undefined }), responder.key.signer),
      ["-CAfile", "chain.pem"],
      "req.der",
    );
    expect(noNonce.stderr).toContain("WARNING: no nonce in response");

    // A leaf key with its clientAuth certificate is no OCSP responder for the intermediate.
    const rogue = await encodeOcspResponse(responseParams(request, { responderCertificate: good.der }), good.key.signer);
    const refused = opensslStatus(rogue, ["-CAfile", "chain.pem"]);
    expect(refused.stderr).toContain("Response Verify Failure");
  });
});

/** The tbsResponseData bytes and the pieces around them, read with the strict DER reader. */
function basicResponse(response: Uint8Array): { basic: Uint8Array; tbs: Uint8Array; signature: Uint8Array } {
  const reader = new DerReader("test OCSP response");
  const [, responseBytes] = reader.sequence(reader.parse(response), "OCSPResponse", 2, 2);
  const [, basicOctets] = reader.sequence(reader.sequence(responseBytes, "responseBytes", 1, 1, 0xa0)[0], "ResponseBytes", 2, 2);
  const basic = reader.octetString(basicOctets, "response");
  const [tbs, , signature] = reader.sequence(reader.parse(basic), "BasicOCSPResponse", 3, 4);
  return { basic, tbs: tbs!.raw, signature: reader.bitStringBytes(signature, "signature") };
}

describe("encodeOcspResponse cross-checked with pkijs", () => {
  const fixedTimes = {
    producedAt: new Date("2025-06-01T12:00:00Z"),
    thisUpdate: new Date("2025-06-01T11:59:00Z"),
    nextUpdate: new Date("2025-06-02T12:00:00Z"),
    revokedAt: new Date("2025-05-29T08:30:15Z"),
  };

  async function fixedResponse(): Promise<{ request: OcspRequest; response: Uint8Array }> {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS, "req.der"));
    const statuses: OcspCertStatus[] = [
      { status: "good" },
      { status: "revoked", revokedAt: fixedTimes.revokedAt, reason: "keyCompromise" },
      { status: "unknown" },
    ];
    const response = await encodeOcspResponse(
      {
        producedAt: fixedTimes.producedAt,
        responses: request.certIds.map((certId, i) => ({
          certId,
          certStatus: statuses[i]!,
          thisUpdate: fixedTimes.thisUpdate,
          nextUpdate: fixedTimes.nextUpdate,
        })),
        nonce: request.nonce!,
        responderCertificate: responder.der,
      },
      responder.key.signer,
    );
    return { request, response };
  }

  it("parses with pkijs to the same fields, and the signature verifies", async () => {
    const { request, response } = await fixedResponse();
    const ocsp = pkijs.OCSPResponse.fromBER(response);
    expect(ocsp.responseStatus.valueBlock.valueDec).toBe(0);
    expect(ocsp.responseBytes!.responseType).toBe("1.3.6.1.5.5.7.48.1.1");
    const basic = pkijs.BasicOCSPResponse.fromBER(ocsp.responseBytes!.response.valueBlock.valueHexView);
    const data = basic.tbsResponseData;
    expect(data.version).toBeUndefined();
    expect(hex((data.responderID as asn1js.OctetString).valueBlock.valueHexView)).toBe(hex(keyIdentifier(responder.key.signer.spki)));
    expect(data.producedAt.getTime()).toBe(fixedTimes.producedAt.getTime());
    expect(data.responses).toHaveLength(3);
    data.responses.forEach((single, i) => {
      expect(hex(single.certID.serialNumber.valueBlock.valueHexView)).toBe(request.certIds[i]!.serial);
      expect(hex(new Uint8Array(single.certID.toSchema().toBER()))).toBe(hex(request.certIds[i]!.raw));
      expect(single.thisUpdate.getTime()).toBe(fixedTimes.thisUpdate.getTime());
      expect(single.nextUpdate!.getTime()).toBe(fixedTimes.nextUpdate.getTime());
      expect(single.certStatus.idBlock.tagNumber).toBe(i);
    });
    const revokedInfo = (data.responses[1]!.certStatus as asn1js.Constructed).valueBlock.value;
    expect((revokedInfo[0] as asn1js.GeneralizedTime).toDate().getTime()).toBe(fixedTimes.revokedAt.getTime());
    expect(((revokedInfo[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec).toBe(1);
    expect(data.responseExtensions).toHaveLength(1);
    expect(data.responseExtensions![0]!.extnID).toBe("1.3.6.1.5.5.7.48.1.2");
    expect(hex(data.responseExtensions![0]!.extnValue.valueBlock.valueHexView)).toBe(hex(request.nonce!));
    expect(basic.signatureAlgorithm.algorithmId).toBe(OID.ecdsaWithSha256);
    expect(basic.certs).toHaveLength(1);
    expect(hex(new Uint8Array(basic.certs![0]!.toSchema().toBER()))).toBe(hex(responder.der));

    const { tbs, signature } = basicResponse(response);
    expect(hex(new Uint8Array(data.tbsView))).toBe(hex(tbs));
    const responderKey = createPublicKey({ key: Buffer.from(responder.key.signer.spki), format: "der", type: "spki" });
    expect(cryptoVerify("sha256", tbs, responderKey, signature)).toBe(true);
  });

  it("has tbsResponseData byte-identical to what pkijs builds from the same inputs", async () => {
    const { request, response } = await fixedResponse();
    const status = (tagNumber: number) => new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber }, lenBlockLength: 1 });
    const revokedInfo = new asn1js.Constructed({
      idBlock: { tagClass: 3, tagNumber: 1 },
      value: [
        new asn1js.GeneralizedTime({ valueDate: fixedTimes.revokedAt }),
        new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: 1 })] }),
      ],
    });
    const statuses = [status(0), revokedInfo, status(2)];
    const data = new pkijs.ResponseData({
      responderID: new asn1js.OctetString({ valueHex: keyIdentifier(responder.key.signer.spki) }),
      producedAt: fixedTimes.producedAt,
      responses: request.certIds.map(
        (certId, i) =>
          new pkijs.SingleResponse({
            certID: pkijs.CertID.fromBER(certId.raw),
            certStatus: statuses[i],
            thisUpdate: fixedTimes.thisUpdate,
            nextUpdate: fixedTimes.nextUpdate,
          }),
      ),
      responseExtensions: [new pkijs.Extension({ extnID: "1.3.6.1.5.5.7.48.1.2", extnValue: Buffer.from(request.nonce!) })],
    });
    const expected = new Uint8Array(data.toSchema(true).toBER());
    expect(hex(basicResponse(response).tbs)).toBe(hex(expected));
  });
});

describe("encodeOcspResponse refusals", () => {
  it("refuses a responder certificate for another key, no responses, and nextUpdate before thisUpdate", async () => {
    const request = parseOcspRequest(opensslRequest(CERT_ARGS, "req.der"));
    await expect(
      encodeOcspResponse(responseParams(request, { responderCertificate: good.der }), responder.key.signer),
    ).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("responderCertificate is not for the signer's key"),
    });
    await expect(encodeOcspResponse(responseParams(request, { responses: [] }), responder.key.signer)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    const backwards = responseParams(request);
    backwards.responses[0]!.nextUpdate = new Date(backwards.responses[0]!.thisUpdate.getTime() - 1000);
    await expect(encodeOcspResponse(backwards, responder.key.signer)).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("nextUpdate"),
    });
  });
});

describe("encodeOcspError", () => {
  it("encodes each unsuccessful status without responseBytes", () => {
    const statuses = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
    for (const [status, code] of Object.entries(statuses)) {
      const der = encodeOcspError(status as keyof typeof statuses);
      expect(hex(der)).toBe(`30030a01${code.toString(16).padStart(2, "0")}`);
      const parsed = pkijs.OCSPResponse.fromBER(der);
      expect(parsed.responseStatus.valueBlock.valueDec).toBe(code);
      expect(parsed.responseBytes).toBeUndefined();
    }
    tmp.write("err.der", encodeOcspError("tryLater"));
    const text = openssl(["ocsp", "-respin", tmp.path("err.der"), "-resp_text", "-noverify"]);
    expect(text.stdout).toContain("Responder Error: trylater (3)");
    expect(() => encodeOcspError("successful" as never)).toThrow(PkiError);
  });
});

describe("parseOcspRequest refusals", () => {
  function expectRefusal(der: Uint8Array, code: string, message: string | RegExp): void {
    try {
      parseOcspRequest(der);
    } catch (error) {
      expect(error).toBeInstanceOf(PkiError);
      expect((error as PkiError).code).toBe(code);
      expect((error as PkiError).message).toMatch(message);
      return;
    }
    throw new Error("expected a refusal");
  }

  /** A request built by hand: certIds, and request extensions as [oid, critical, value]. */
  function handRequest(certIds: Uint8Array[], extensions: [string, boolean, Uint8Array][] = []): Uint8Array {
    const fields = [sequence(...certIds.map((certId) => sequence(certId)))];
    if (extensions.length) {
      fields.push(
        explicit(
          2,
          sequence(...extensions.map(([id, critical, value]) => sequence(oid(id), ...(critical ? [TRUE] : []), octetString(value)))),
        ),
      );
    }
    return sequence(sequence(...fields));
  }
  const sha1CertId = (serialByte: number, hashOid = "1.3.14.3.2.26", hashLength = 20) =>
    sequence(
      sequence(oid(hashOid), NULL),
      octetString(new Uint8Array(hashLength)),
      octetString(new Uint8Array(hashLength)),
      integer(Uint8Array.of(serialByte)),
    );

  it("refuses garbage and truncated requests as bad_encoding", () => {
    expectRefusal(Buffer.from("GET / HTTP/1.1\r\n\r\n"), "bad_encoding", /^Cannot parse OCSP request: /);
    expectRefusal(new Uint8Array(0), "bad_encoding", /^Cannot parse OCSP request: empty input/);
    const real = opensslRequest(CERT_ARGS, "req.der");
    expectRefusal(real.subarray(0, real.length - 7), "bad_encoding", /^Cannot parse OCSP request: truncated DER/);
    expectRefusal(Buffer.concat([real, Uint8Array.of(0)]), "bad_encoding", /trailing bytes/);
    expectRefusal(sequence(sequence(sequence())), "bad_encoding", /requestList is empty/);
    expectRefusal(
      handRequest([sha1CertId(1, "1.2.840.113549.2.5", 16)]),
      "bad_encoding",
      /unsupported CertID hash algorithm 1\.2\.840\.113549\.2\.5/,
    );
    expectRefusal(handRequest([sha1CertId(1, OID.sha256, 20)]), "bad_encoding", /not 32-byte sha256 digests/);
  });

  it("refuses more than MAX_OCSP_CERT_IDS CertIDs as invalid_argument", () => {
    const serials = Array.from({ length: MAX_OCSP_CERT_IDS + 1 }, (_, i) => ["-serial", String(1000 + i)]).flat();
    expectRefusal(opensslRequest(serials, "big-req.der"), "invalid_argument", /33 CertIDs, at most 32/);
    const atLimit = parseOcspRequest(opensslRequest(serials.slice(2), "limit-req.der"));
    expect(atLimit.certIds).toHaveLength(MAX_OCSP_CERT_IDS);
  });

  it("refuses an unknown critical extension and an oversized nonce, ignores unknown non-critical ones", () => {
    expectRefusal(handRequest([sha1CertId(1)], [["1.2.3.4", true, NULL]]), "invalid_argument", /unsupported critical extension 1\.2\.3\.4/);
    expectRefusal(
      handRequest([sha1CertId(1)], [["1.3.6.1.5.5.7.48.1.2", false, new Uint8Array(200)]]),
      "invalid_argument",
      /nonce of 200 bytes/,
    );
    const lenient = parseOcspRequest(
      handRequest(
        [sha1CertId(1)],
        [
          ["1.2.3.4", false, NULL],
          ["1.3.6.1.5.5.7.48.1.2", true, Uint8Array.of(4, 1, 9)],
        ],
      ),
    );
    expect(lenient.certIds[0]!.serial).toBe("01");
    expect(hex(lenient.nonce!)).toBe("040109");
  });

  it("tolerates an explicit v1 version and a requestorName, refuses other versions", () => {
    const requestList = sequence(sequence(sha1CertId(5)));
    const requestorName = explicit(1, implicit(2, Buffer.from("client.example.com")));
    const v1 = parseOcspRequest(sequence(sequence(explicit(0, integer(Uint8Array.of(0))), requestorName, requestList)));
    expect(v1.certIds.map((id) => id.serial)).toEqual(["05"]);
    expectRefusal(sequence(sequence(explicit(0, integer(Uint8Array.of(1))), requestList)), "bad_encoding", /unsupported version/);
    expectRefusal(sequence(sequence(requestList, sequence())), "bad_encoding", /requestExtensions: expected tag 0xa2/);
  });
});

describe("ocspSignerCertificateParams", () => {
  it("gives a delegated responder certificate openssl recognises as an OCSP helper", () => {
    const text = openssl(["x509", "-in", tmp.path("responder.pem"), "-noout", "-text", "-purpose"]).stdout;
    expect(text).toContain("CA:FALSE");
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+OCSP Signing\n/);
    expect(text).toContain("OCSP No Check");
    expect(text).toContain("OCSP helper : Yes");
    const verified = openssl([
      "verify",
      "-CAfile",
      tmp.path("root.pem"),
      "-untrusted",
      tmp.path("int.pem"),
      "-purpose",
      "ocsphelper",
      tmp.path("responder.pem"),
    ]);
    expect(verified.stdout.trim(), verified.stderr).toMatch(/: OK$/);
  });
});
