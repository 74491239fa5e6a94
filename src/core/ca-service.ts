import { X509Certificate } from "@peculiar/x509";
import type { KeyProvider } from "../../ca/key-provider.js";
import type { KeyAlgorithm } from "../../ca/key-algorithm.js";
import type { Signer } from "../../ca/signer.js";
import type { NameAttribute } from "../../ca/x509-types.js";
import { encodeCertificate, certificateThumbprint } from "../../ca/certificate.js";
import { intermediateCertificateParams, rootCertificateParams, type PublicationUrls } from "../../ca/ca-certificates.js";
import { randomSerial, serialToHex } from "../../ca/serial.js";
import { formatName } from "../../ca/name.js";
import type { Store } from "../store/store.js";
import type { CaRecord } from "../store/records.js";
import type { Clock } from "../clock.js";
import { AppError } from "../errors.js";

const YEAR = 365 * 86_400_000;

export interface CaInitOptions {
  algorithm: KeyAlgorithm;
  /** Organisation placed in both CA subjects. */
  organization: string;
  rootValidityMs?: number;
  intermediateValidityMs?: number;
  actor: string;
}

/** The CA that signs new certificates, loaded once: its key stays behind the Signer. */
export interface Issuer {
  ca: CaRecord;
  signer: Signer;
  /** DER of the issuer's subject, byte-identical as certificates must carry it. */
  name: Uint8Array;
  keyId: Uint8Array;
  /** DER certificates from the issuer up to the root (issuer first). */
  chain: Uint8Array[];
  urls: PublicationUrls;
}

export interface CaView {
  id: string;
  kind: "root" | "intermediate";
  parentId: string | null;
  status: "active" | "retired";
  subject: string;
  keyAlgorithm: string;
  serial: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
}

/** How long the active issuer is trusted from memory before the store is asked again (another process may rotate it). */
const ACTIVE_ISSUER_TTL_MS = 5_000;

export class CaService {
  private issuers = new Map<string, Promise<Issuer>>();
  private active: { issuer: Promise<Issuer>; checkedAt: number } | undefined;

  constructor(
    private readonly store: Store,
    private readonly keys: KeyProvider,
    private readonly clock: Clock,
    /** Where relying parties reach each issuer's CRL, OCSP responder and certificate (per CA, so retired issuers stay reachable after a rollover). */
    private readonly urls: PublicationUrls | ((ca: CaRecord) => PublicationUrls),
  ) {}

  /** Creates the root and its first issuing intermediate. Refuses when a CA already exists. */
  async init(options: CaInitOptions): Promise<CaView[]> {
    if ((await this.store.listCas()).length > 0) {
      throw new AppError("already_exists", "A CA already exists in this data directory; refusing to overwrite it");
    }
    const now = this.clock.now();
    // Backdate a little so devices with slightly slow clocks accept the CA at once.
    const notBefore = new Date(now.getTime() - 60_000);
    const org = options.organization;

    const rootKey = await this.keys.generate(options.algorithm, "root");
    const rootSigner = await this.keys.signer(rootKey.ref);
    const rootSubject: NameAttribute[] = [
      { oid: "2.5.4.10", shortName: "O", value: org },
      { oid: "2.5.4.3", shortName: "CN", value: `${org} Root CA` },
    ];
    const rootSerial = randomSerial();
    const rootParams = rootCertificateParams({
      subject: rootSubject,
      spki: rootKey.spki,
      serial: rootSerial,
      notBefore,
      notAfter: new Date(now.getTime() + (options.rootValidityMs ?? 20 * YEAR)),
    });
    const rootDer = await encodeCertificate(rootParams, rootSigner);

    const interKey = await this.keys.generate(options.algorithm, "intermediate");
    const interSubject: NameAttribute[] = [
      { oid: "2.5.4.10", shortName: "O", value: org },
      { oid: "2.5.4.3", shortName: "CN", value: `${org} Issuing CA 1` },
    ];
    const interSerial = randomSerial();
    const interNotAfter = new Date(Math.min(now.getTime() + (options.intermediateValidityMs ?? 10 * YEAR), rootParams.notAfter.getTime()));
    const interParams = intermediateCertificateParams({
      subject: interSubject,
      issuer: rootParams.subject,
      issuerKeyId: rootParams.extensions.subjectKeyIdentifier,
      spki: interKey.spki,
      serial: interSerial,
      notBefore,
      notAfter: interNotAfter,
    });
    const interDer = await encodeCertificate(interParams, rootSigner);

    const rootRecord: CaRecord = {
      id: "root-" + serialToHex(rootSerial).slice(0, 8),
      kind: "root",
      parentId: null,
      keyRef: rootKey.ref,
      keyAlgorithm: options.algorithm,
      certDer: rootDer,
      subject: formatName(rootSubject),
      subjectKeyId: Buffer.from(rootParams.extensions.subjectKeyIdentifier).toString("hex"),
      notBefore,
      notAfter: rootParams.notAfter,
      status: "active",
      createdAt: now,
    };
    const interRecord: CaRecord = {
      id: "int-" + serialToHex(interSerial).slice(0, 8),
      kind: "intermediate",
      parentId: rootRecord.id,
      keyRef: interKey.ref,
      keyAlgorithm: options.algorithm,
      certDer: interDer,
      subject: formatName(interSubject),
      subjectKeyId: Buffer.from(interParams.extensions.subjectKeyIdentifier).toString("hex"),
      notBefore,
      notAfter: interNotAfter,
      status: "active",
      createdAt: now,
    };
    const audit = [rootRecord, interRecord].map((ca) => ({
      at: now,
      actor: options.actor,
      action: "ca.create",
      subject: ca.subject,
      serial: serialOf(ca.certDer),
      details: {
        caId: ca.id,
        kind: ca.kind,
        keyAlgorithm: ca.keyAlgorithm,
        sha256: certificateThumbprint(ca.certDer),
        notAfter: ca.notAfter.toISOString(),
      },
    }));
    await this.store.insertCas([rootRecord, interRecord], audit);
    return [rootRecord, interRecord].map(caView);
  }

  async list(): Promise<CaView[]> {
    return (await this.store.listCas()).map(caView);
  }

  async root(): Promise<CaRecord> {
    const root = (await this.store.listCas()).find((c) => c.kind === "root");
    if (!root) throw notInitialised();
    return root;
  }

  /** The active issuing intermediate, with its signer and chain; read from the store at most every few seconds. */
  activeIssuer(): Promise<Issuer> {
    const now = Date.now();
    if (!this.active || now - this.active.checkedAt > ACTIVE_ISSUER_TTL_MS) {
      const issuer = this.store.listCas().then((cas) => {
        const active = cas.find((c) => c.kind === "intermediate" && c.status === "active");
        if (!active) throw notInitialised();
        return this.issuer(active.id);
      });
      this.active = { issuer, checkedAt: now };
      issuer.catch(() => (this.active = undefined));
    }
    return this.active.issuer;
  }

  /** Forget the cached active issuer (after a rollover in this process). */
  refreshActive(): void {
    this.active = undefined;
  }

  /** Any intermediate by id (retired ones still sign their CRLs). */
  issuer(caId: string): Promise<Issuer> {
    let loading = this.issuers.get(caId);
    if (!loading) {
      loading = this.loadIssuer(caId);
      this.issuers.set(caId, loading);
      loading.catch(() => this.issuers.delete(caId));
    }
    return loading;
  }

  private async loadIssuer(caId: string): Promise<Issuer> {
    const cas = await this.store.listCas();
    const ca = cas.find((c) => c.id === caId);
    if (!ca) throw new AppError("not_found", `No CA with id ${caId}`);
    const signer = await this.keys.signer(ca.keyRef);
    const chain: Uint8Array[] = [];
    for (let c: CaRecord | undefined = ca; c; c = cas.find((p) => p.id === c!.parentId)) chain.push(c.certDer);
    const cert = new X509Certificate(ca.certDer);
    return {
      ca,
      signer,
      name: new Uint8Array(cert.subjectName.toArrayBuffer()),
      keyId: Buffer.from(ca.subjectKeyId, "hex"),
      chain,
      urls: typeof this.urls === "function" ? this.urls(ca) : this.urls,
    };
  }
}

export function caView(ca: CaRecord): CaView {
  return {
    id: ca.id,
    kind: ca.kind,
    parentId: ca.parentId,
    status: ca.status,
    subject: ca.subject,
    keyAlgorithm: ca.keyAlgorithm,
    serial: serialOf(ca.certDer),
    sha256: certificateThumbprint(ca.certDer),
    notBefore: ca.notBefore.toISOString(),
    notAfter: ca.notAfter.toISOString(),
  };
}

function serialOf(der: Uint8Array): string {
  return new X509Certificate(der).serialNumber.toLowerCase();
}

function notInitialised(): AppError {
  return new AppError("not_initialized", "No CA yet: run `dpki init` first");
}
