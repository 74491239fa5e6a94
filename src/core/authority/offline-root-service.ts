import { encodeCertificationRequest } from "../../../ca/certification-request.js";
import { keyIdentifier } from "../../../ca/certificate.js";
import { readCertificateFields } from "../../../ca/certificate-fields.js";
import { readSignedCrl } from "../../../ca/crl-reader.js";
import { isKeyAlgorithm, type KeyAlgorithm } from "../../../ca/key-algorithm.js";
import type { KeyProvider } from "../../../ca/key-provider.js";
import { formatName, parseName } from "../../../ca/name.js";
import { isOfflineKeyRef, offlineKeyRef } from "../../../ca/offline-key.js";
import { OID } from "../../../ca/oids.js";
import { pemEncode } from "../../../ca/pem.js";
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import { PkiError } from "../../../ca/pki-error.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CaRecord } from "../../store/records.js";
import type { Store } from "../../store/store.js";
import type { CaRotationService, RotationResult } from "./ca-rotation-service.js";
import { uniqueSubject } from "./ca-rotation-service.js";
import type { CaService } from "./ca-service.js";
import type { IntermediateRequest, CrlRequest, NewRootOrder, RootCrlOrder, SignedIntermediate } from "./ceremony-files.js";
import type { CrlRecord } from "../../store/records.js";
import type { CrossCertificateRecord } from "../../store/lifecycle-store.js";
import { keyAlgorithmOfSpki } from "../../../ca/spki-algorithm.js";
import { caIdFor } from "./ca-service.js";
import { crlInfo, type CrlInfo, type CrlService } from "./crl-service.js";

const YEAR = 365 * 86_400_000;

export interface OfflineRootDeps {
  store: Store;
  keys: KeyProvider;
  ca: CaService;
  rotation: CaRotationService;
  crl: CrlService;
  clock: Clock;
}

/**
 * The online half of the offline-root ceremony. The data directory never holds the root key,
 * so what needs it goes out as a request file and comes back signed: a new intermediate (its key
 * made here, in the token or a key file) and the root's CRL. Imports check every signature
 * against the root certificate on file before anything is stored.
 */
export class OfflineRootService {
  constructor(
    private readonly deps: OfflineRootDeps,
    private readonly options: { crlValidityMs: number },
  ) {}

  /** A new intermediate key (here) and the request the offline root signs. */
  async requestIntermediate(options: {
    algorithm?: string;
    validityMs?: number;
    /** Also a new offline root, cross-signed by the current one, as the new intermediate's parent. */
    newRoot?: boolean;
    rootValidityMs?: number;
    actor: string;
  }): Promise<IntermediateRequest> {
    const cas = await this.deps.store.listCas();
    const active = cas.find((c) => c.kind === "intermediate" && c.status === "active");
    if (!active) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    const root = this.offlineRoot(cas, active.parentId ?? "");
    const algorithm = options.algorithm ?? active.keyAlgorithm;
    if (!isKeyAlgorithm(algorithm)) throw new AppError("invalid_argument", `Unknown key algorithm "${algorithm}"`);
    const organization =
      readCertificateFields(root.certDer, "CA certificate").subjectAttributes.find((a) => a.oid === OID.organizationName)?.value ?? "dpki";
    const subject = uniqueSubject(organization, "Issuing CA", cas, "intermediate");
    const key = await this.deps.keys.generate(algorithm as KeyAlgorithm, "intermediate");
    const csr = await encodeCertificationRequest(subject, await this.deps.keys.signer(key.ref));
    const now = this.deps.clock.now();
    const urls = this.deps.ca.urlsOf(root);
    // The key exists from now on (in the token or a key file), whether or not the request comes back signed.
    await this.deps.store.appendAudit({
      at: now,
      actor: options.actor,
      action: "ca.request",
      subject: formatName(subject),
      details: { root: root.id, keyAlgorithm: algorithm, keyRef: key.ref },
    });
    return {
      kind: "dpki-intermediate-request",
      version: 1,
      createdAt: now.toISOString(),
      root: { id: root.id, certificate: pemEncode("CERTIFICATE", root.certDer) },
      csr: pemEncode("CERTIFICATE REQUEST", csr),
      keyAlgorithm: algorithm as KeyAlgorithm,
      keyRef: key.ref,
      notAfter: new Date(now.getTime() + (options.validityMs ?? 10 * YEAR)).toISOString(),
      urls: { ...(urls.crl ? { crl: urls.crl } : {}), ...(urls.caIssuers ? { caIssuers: urls.caIssuers } : {}) },
      rootCrl: await this.crlOrder(root),
      ...(options.newRoot ? { newRoot: this.newRootOrder(cas, organization, algorithm as KeyAlgorithm, options.rootValidityMs) } : {}),
    };
  }

  private newRootOrder(cas: CaRecord[], organization: string, keyAlgorithm: KeyAlgorithm, validityMs = 20 * YEAR): NewRootOrder {
    const subject = uniqueSubject(organization, "Root CA", cas, "root");
    // The new root's URLs hang off its id, which the offline machine learns when it draws the serial.
    const urls = this.deps.ca.urlsOf({ ...cas.find((c) => c.kind === "root")!, id: "{id}" });
    return {
      subject: formatName(subject),
      subjectAttributes: subject.map(({ oid, shortName, value }) => ({ oid, shortName: shortName ?? "", value })),
      keyAlgorithm,
      validityMs,
      urlTemplates: { ...(urls.crl ? { crl: urls.crl } : {}), ...(urls.caIssuers ? { caIssuers: urls.caIssuers } : {}) },
      crlValidityMs: this.options.crlValidityMs,
    };
  }

  /** Installs the intermediate the offline root signed as the active issuer, and the root CRL signed with it. */
  async importIntermediate(
    signed: SignedIntermediate,
    actor: string,
  ): Promise<RotationResult & { rootCrl: CrlInfo; newRootCrl?: CrlInfo }> {
    const cas = await this.deps.store.listCas();
    const root = this.offlineRoot(cas, signed.rootId);
    const rootCert = ParsedCertificate.parse(root.certDer);
    const now = this.deps.clock.now();
    let parent = { record: root, cert: rootCert };
    let newRoot: { record: CaRecord; cross: CrossCertificateRecord; crl: CrlRecord } | undefined;
    if (signed.newRoot) {
      const cert = ParsedCertificate.parse(signed.newRoot.certificate, "the new root");
      const cross = ParsedCertificate.parse(signed.newRoot.crossCertificate, "the cross certificate");
      if (!cert.isCa || !cert.issuedBy(cert)) throw new AppError("bad_signature", "The new root is not a self-signed CA certificate");
      if (!cross.isCa || !cross.issuedBy(rootCert) || !Buffer.from(cross.spki).equals(cert.spki) || cross.subject !== cert.subject) {
        throw new AppError("bad_signature", `The cross certificate is not the new root's name and key signed by root ${root.id}`);
      }
      const record = caRecordOf(cert, "root", null, offlineKeyRef(cert.spki), keyAlgorithmOfSpki(cert.spki), now);
      if (cas.some((c) => c.id === record.id)) throw new AppError("already_exists", `${record.id} is already installed`);
      const { serials: _none, ...crl } = await this.checkedCrl(record, signed.newRoot.crl);
      newRoot = {
        record,
        cross: {
          caId: record.id,
          issuerCaId: root.id,
          serial: readCertificateFields(cross.der, "the cross certificate").serial,
          certDer: cross.der,
          notBefore: cross.notBefore,
          notAfter: cross.notAfter,
          createdAt: now,
        },
        crl,
      };
      parent = { record, cert };
    }
    const cert = ParsedCertificate.parse(signed.certificate, "the signed intermediate");
    if (!cert.isCa || !cert.issuedBy(parent.cert)) {
      throw new AppError("bad_signature", `The signed intermediate is not a CA certificate signed by root ${parent.record.id}`);
    }
    const signer = await this.deps.keys.signer(signed.keyRef);
    if (!Buffer.from(signer.spki).equals(cert.spki)) {
      throw new AppError("bad_signature", "The signed intermediate is not for the key this installation requested (keyRef)");
    }
    if (cas.some((c) => Buffer.from(c.certDer).equals(cert.der)))
      throw new AppError("already_exists", "This intermediate is already installed");
    const { serials: _serials, ...crl } = await this.checkedCrl(root, signed.rootCrl);
    const inter = caRecordOf(cert, "intermediate", parent.record.id, signed.keyRef, signer.keyAlgorithm, now);
    const result = await this.deps.rotation.installIntermediate(
      inter,
      actor,
      newRoot ? { root: newRoot.record, crossCertificate: newRoot.cross } : undefined,
    );
    await this.deps.crl.importCrl(crl, actor, root.subject);
    if (newRoot) await this.deps.crl.importCrl(newRoot.crl, actor, newRoot.record.subject);
    return { ...result, rootCrl: crlInfo(crl), ...(newRoot ? { newRootCrl: crlInfo(newRoot.crl) } : {}) };
  }

  /** The request for a fresh CRL of an offline root (the active issuer's root when none is named). */
  async requestCrl(rootId?: string): Promise<CrlRequest> {
    const cas = await this.deps.store.listCas();
    const id = rootId ?? cas.find((c) => c.kind === "intermediate" && c.status === "active")?.parentId;
    if (!id) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    const root = this.offlineRoot(cas, id);
    return {
      kind: "dpki-crl-request",
      version: 1,
      createdAt: this.deps.clock.now().toISOString(),
      root: { id: root.id, certificate: pemEncode("CERTIFICATE", root.certDer) },
      crl: await this.crlOrder(root),
    };
  }

  /** Stores a CRL an offline root signed (PEM or DER), after checking its signature, issuer and number. */
  async importCrl(input: string | Uint8Array, actor: string): Promise<CrlInfo & { missingRevocations: number }> {
    const cas = await this.deps.store.listCas();
    for (const root of cas.filter((c) => c.kind === "root" && isOfflineKeyRef(c.keyRef))) {
      let checked;
      try {
        checked = await this.checkedCrl(root, input);
      } catch (err) {
        // Not this root's signature: try the next offline root.
        if ((err instanceof AppError || err instanceof PkiError) && err.code === "bad_signature") continue;
        throw err;
      }
      const { serials, ...crl } = checked;
      await this.deps.crl.importCrl(crl, actor, root.subject);
      const listed = new Set(serials);
      const missing = (await this.deps.crl.revokedBelow(root.id)).filter((e) => !listed.has(Buffer.from(e.serial).toString("hex"))).length;
      return { ...crlInfo(crl), missingRevocations: missing };
    }
    throw new AppError("not_found", "The CRL is not signed by any offline root of this installation");
  }

  private offlineRoot(cas: CaRecord[], rootId: string): CaRecord {
    const root = cas.find((c) => c.id === rootId);
    if (!root || root.kind !== "root") throw new AppError("not_found", `No root with id ${rootId}`);
    if (!isOfflineKeyRef(root.keyRef)) {
      throw new AppError(
        "invalid_argument",
        `The key of root ${root.id} is not offline: use \`dpki ca rotate\` (and the CRL is signed as needed)`,
      );
    }
    return root;
  }

  private async crlOrder(root: CaRecord): Promise<RootCrlOrder> {
    const latest = await this.deps.store.latestCrlNumber(root.id);
    const revoked = await this.deps.crl.revokedBelow(root.id);
    return {
      number: ((latest ?? 0n) + 1n).toString(),
      validityMs: this.options.crlValidityMs,
      revoked: revoked.map((r) => ({
        serial: Buffer.from(r.serial).toString("hex"),
        revokedAt: r.revokedAt.toISOString(),
        reason: r.reason ?? null,
      })),
    };
  }

  private async checkedCrl(root: CaRecord, input: string | Uint8Array) {
    const fields = readCertificateFields(root.certDer, "CA certificate");
    const crl = readSignedCrl(input, fields.spki);
    if (!Buffer.from(crl.issuer).equals(fields.subject)) throw new AppError("bad_signature", `The CRL's issuer is not root ${root.id}`);
    const latest = await this.deps.store.latestCrlNumber(root.id);
    if (latest !== null && crl.crlNumber <= latest) {
      throw new AppError("conflict", `CRL number ${crl.crlNumber} of root ${root.id} is not newer than the stored ${latest}`);
    }
    return {
      issuerCaId: root.id,
      number: crl.crlNumber,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      entries: crl.revokedSerials.length,
      der: crl.der,
      serials: crl.revokedSerials,
    };
  }
}

/** The record of a CA certificate signed elsewhere; its SKI is what dpki writes, SHA-1 of the key. */
function caRecordOf(
  cert: ParsedCertificate,
  kind: CaRecord["kind"],
  parentId: string | null,
  keyRef: string,
  keyAlgorithm: string,
  createdAt: Date,
): CaRecord {
  const fields = readCertificateFields(cert.der, "CA certificate");
  return {
    id: caIdFor(kind, fields.serial),
    kind,
    parentId,
    keyRef,
    keyAlgorithm,
    certDer: cert.der,
    subject: formatName(parseName(fields.subject)),
    subjectKeyId: Buffer.from(keyIdentifier(fields.spki)).toString("hex"),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    status: "active",
    createdAt,
  };
}
