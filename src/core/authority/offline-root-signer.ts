import { encodeCertificate, certificateThumbprint, keyIdentifier } from "../../../ca/certificate.js";
import {
  crossCertificateParams,
  intermediateCertificateParams,
  rootCertificateParams,
  type CaPublicationUrls,
} from "../../../ca/ca-certificates.js";
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
import type { CrlRequest, IntermediateRequest, NewRootOrder, RootCrlOrder, SignedIntermediate } from "./ceremony-files.js";
import { caIdFor } from "./ca-service.js";

/** What the offline machine signed, for the operator to read before carrying the result back. */
export interface CeremonySummary {
  rootId: string;
  newRoot?: { id: string; subject: string; sha256: string; notAfter: string; crossCertificateSha256: string };
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

  /**
   * Signs the requested intermediate. A request for a new root also makes that root here: its
   * key goes to `newRootKey` (encrypted under `passphrase`) before anything is returned, so the
   * certificates never exist without the key they depend on.
   */
  async signIntermediate(
    request: IntermediateRequest,
    newRootKey?: { passphrase: string; save: (pem: string) => void },
  ): Promise<{ signed: SignedIntermediate; summary: CeremonySummary }> {
    const root = this.rootOf(request.root);
    const csr = parseCsr(request.csr);
    await verifyCsr(csr);
    const now = this.clock.now();
    if (root.notAfter <= now) throw new AppError("invalid_argument", `Root ${request.root.id} has expired: it cannot sign`);
    let parent: Parent = {
      subject: root.fields.subject,
      keyId: keyIdentifier(root.fields.spki),
      signer: this.signer,
      notAfter: root.notAfter,
      urls: request.urls,
    };
    let newRoot: { made: NewRoot; parent: Parent } | undefined;
    if (request.newRoot) {
      if (!newRootKey) {
        throw new AppError("bad_request", "This request makes a new root: pass --new-root-key-out FILE, where its encrypted key goes");
      }
      newRoot = await this.makeNewRoot(request.newRoot, root, request.urls, newRootKey);
      parent = newRoot.parent;
    }
    const notAfter = new Date(Math.min(new Date(request.notAfter).getTime(), parent.notAfter.getTime()));
    const params = intermediateCertificateParams({
      subject: csr.subject,
      issuer: parent.subject,
      issuerKeyId: parent.keyId,
      spki: csr.spki,
      serial: randomSerial(),
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      urls: parent.urls,
    });
    const der = await encodeCertificate(params, parent.signer);
    const crl = await this.signCrlOrder(root.fields, request.rootCrl);
    return {
      signed: {
        kind: "dpki-intermediate-signed",
        version: 1,
        rootId: request.root.id,
        keyRef: request.keyRef,
        certificate: pemEncode("CERTIFICATE", der),
        rootCrl: pemEncode("X509 CRL", crl.der),
        ...(newRoot ? { newRoot: newRoot.made.files } : {}),
      },
      summary: {
        rootId: request.root.id,
        ...(newRoot ? { newRoot: newRoot.made.summary } : {}),
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

  /** A new self-signed root (key made here), its cross certificate signed by the current root, and its first (empty) CRL. */
  private async makeNewRoot(
    order: NewRootOrder,
    current: { fields: CertificateFields; notAfter: Date },
    currentUrls: CaPublicationUrls,
    key: { passphrase: string; save: (pem: string) => void },
  ): Promise<{ made: NewRoot; parent: Parent }> {
    const now = this.clock.now();
    const keys = new CeremonyKeys();
    const made = await keys.generate(order.keyAlgorithm, "root");
    const signer = await keys.signer(made.ref);
    const params = rootCertificateParams({
      subject: order.subjectAttributes,
      spki: made.spki,
      serial: randomSerial(),
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + order.validityMs),
    });
    const der = await encodeCertificate(params, signer);
    const id = caIdFor("root", serialToHex(params.serial));
    // What a device that trusts only the current root uses to reach the new one (as `dpki ca rotate --new-root` makes it).
    const crossParams = crossCertificateParams({
      subject: params.subject,
      issuer: current.fields.subject,
      issuerKeyId: keyIdentifier(current.fields.spki),
      spki: made.spki,
      serial: randomSerial(),
      notBefore: params.notBefore,
      notAfter: new Date(Math.min(params.notAfter.getTime(), current.notAfter.getTime())),
      urls: currentUrls,
    });
    const crossDer = await encodeCertificate(crossParams, this.signer);
    const fields = readCertificateFields(der, "new root certificate");
    const crl = await this.signCrlOrder(fields, { number: "1", validityMs: order.crlValidityMs, revoked: [] }, signer);
    key.save(keys.export(made.ref, key.passphrase));
    const fill = (template: string | undefined) => template?.replaceAll("{id}", id);
    return {
      made: {
        files: {
          certificate: pemEncode("CERTIFICATE", der),
          crossCertificate: pemEncode("CERTIFICATE", crossDer),
          crl: pemEncode("X509 CRL", crl.der),
        },
        summary: {
          id,
          subject: formatName(order.subjectAttributes),
          sha256: certificateThumbprint(der),
          notAfter: params.notAfter.toISOString(),
          crossCertificateSha256: certificateThumbprint(crossDer),
        },
      },
      parent: {
        subject: params.subject,
        keyId: params.extensions.subjectKeyIdentifier,
        signer,
        notAfter: params.notAfter,
        urls: {
          ...(order.urlTemplates.crl ? { crl: fill(order.urlTemplates.crl) } : {}),
          ...(order.urlTemplates.caIssuers ? { caIssuers: fill(order.urlTemplates.caIssuers) } : {}),
        },
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
    signer: Signer = this.signer,
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
      signer,
    );
    return { der, summary: { number: order.number, entries: order.revoked.length, nextUpdate: nextUpdate.toISOString() } };
  }
}

/** Who signs the new intermediate: the current root, or the new one. */
interface Parent {
  subject: Uint8Array;
  keyId: Uint8Array;
  signer: Signer;
  notAfter: Date;
  urls: CaPublicationUrls;
}

interface NewRoot {
  files: NonNullable<SignedIntermediate["newRoot"]>;
  summary: NonNullable<CeremonySummary["newRoot"]>;
}
