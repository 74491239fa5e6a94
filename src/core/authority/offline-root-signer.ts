import { encodeCertificate, certificateThumbprint, keyIdentifier } from "../../../ca/certificate.js";
import { intermediateCertificateParams } from "../../../ca/ca-certificates.js";
import { readCertificateFields, type CertificateFields } from "../../../ca/certificate-fields.js";
import { encodeCrl } from "../../../ca/crl.js";
import { parseCsr, verifyCsr } from "../../../ca/csr.js";
import { formatName } from "../../../ca/name.js";
import { CeremonyKeys, offlineKeyRef } from "../../../ca/offline-key.js";
import { pemDecode, pemEncode } from "../../../ca/pem.js";
import { randomSerial, serialToHex } from "../../../ca/serial.js";
import type { Signer } from "../../../ca/signer.js";
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CrlRequest, IntermediateRequest, RootCrlOrder, SignedIntermediate } from "./ceremony-files.js";

/** What the offline machine signed, for the operator to read before carrying the result back. */
export interface CeremonySummary {
  rootId: string;
  intermediate?: { subject: string; serial: string; sha256: string; notAfter: string; keyAlgorithm: string };
  rootCrl: { number: string; entries: number; nextUpdate: string };
}

/**
 * The offline half of the root ceremony: runs on the machine the root key is brought to, with
 * no data directory. Opens the root key file, checks it is the key of the root the request
 * names, and signs what the online installation asked for: a new intermediate (from its CSR,
 * whose signature proves the online side holds that key) and the root's CRL.
 */
export class OfflineRootSigner {
  private constructor(
    private readonly signer: Signer,
    private readonly keyRef: string,
    private readonly clock: Clock,
  ) {}

  /** The root key from its encrypted PEM; a wrong passphrase or damaged file is key_unavailable. */
  static async open(keyPem: string, passphrase: string, clock: Clock): Promise<OfflineRootSigner> {
    const keys = new CeremonyKeys();
    const ref = keys.open(keyPem, passphrase);
    return new OfflineRootSigner(await keys.signer(ref), ref, clock);
  }

  async signIntermediate(request: IntermediateRequest): Promise<{ signed: SignedIntermediate; summary: CeremonySummary }> {
    const root = this.rootOf(request.root);
    const csr = parseCsr(request.csr);
    await verifyCsr(csr);
    const now = this.clock.now();
    const notAfter = new Date(Math.min(new Date(request.notAfter).getTime(), root.notAfter.getTime()));
    if (notAfter <= now) throw new AppError("invalid_argument", `Root ${request.root.id} has expired: it cannot sign an intermediate`);
    const params = intermediateCertificateParams({
      subject: csr.subject,
      issuer: root.fields.subject,
      issuerKeyId: keyIdentifier(root.fields.spki),
      spki: csr.spki,
      serial: randomSerial(),
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      urls: request.urls,
    });
    const der = await encodeCertificate(params, this.signer);
    const crl = await this.signCrlOrder(root.fields, request.rootCrl);
    return {
      signed: {
        kind: "dpki-intermediate-signed",
        version: 1,
        rootId: request.root.id,
        keyRef: request.keyRef,
        certificate: pemEncode("CERTIFICATE", der),
        rootCrl: pemEncode("X509 CRL", crl.der),
      },
      summary: {
        rootId: request.root.id,
        intermediate: {
          subject: formatName(csr.subject),
          serial: serialToHex(params.serial),
          sha256: certificateThumbprint(der),
          notAfter: notAfter.toISOString(),
          keyAlgorithm: request.keyAlgorithm,
        },
        rootCrl: crl.summary,
      },
    };
  }

  async signCrl(request: CrlRequest): Promise<{ der: Uint8Array; summary: CeremonySummary }> {
    const root = this.rootOf(request.root);
    const crl = await this.signCrlOrder(root.fields, request.crl);
    return { der: crl.der, summary: { rootId: request.root.id, rootCrl: crl.summary } };
  }

  private rootOf(ref: { id: string; certificate: string }): { fields: CertificateFields; notAfter: Date } {
    const der = pemDecode(ref.certificate, { labels: ["CERTIFICATE"], what: "root certificate" }).der;
    const fields = readCertificateFields(der, "root certificate");
    if (offlineKeyRef(fields.spki) !== this.keyRef) {
      throw new AppError(
        "invalid_argument",
        `The root key file is not the key of root ${ref.id}: bring the key file exported for that root`,
      );
    }
    return { fields, notAfter: ParsedCertificate.parse(der, "root certificate").notAfter };
  }

  private async signCrlOrder(
    root: CertificateFields,
    order: RootCrlOrder,
  ): Promise<{ der: Uint8Array; summary: CeremonySummary["rootCrl"] }> {
    const thisUpdate = this.clock.now();
    const nextUpdate = new Date(thisUpdate.getTime() + order.validityMs);
    const der = await encodeCrl(
      {
        issuer: root.subject,
        thisUpdate,
        nextUpdate,
        crlNumber: BigInt(order.number),
        authorityKeyIdentifier: keyIdentifier(root.spki),
        entries: order.revoked.map((r) => ({
          serial: Buffer.from(r.serial, "hex"),
          revokedAt: new Date(r.revokedAt),
          reason: r.reason ?? undefined,
        })),
      },
      this.signer,
    );
    return { der, summary: { number: order.number, entries: order.revoked.length, nextUpdate: nextUpdate.toISOString() } };
  }
}
