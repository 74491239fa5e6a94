import type { KeyProvider } from "../../../ca/key-provider.js";
import type { KeyAlgorithm } from "../../../ca/key-algorithm.js";
import type { Signer } from "../../../ca/signer.js";
import type { NameAttribute } from "../../../ca/x509-types.js";
import { encodeCertificate, certificateThumbprint } from "../../../ca/certificate.js";
import {
  intermediateCertificateParams,
  logKeyCertificateParams,
  rootCertificateParams,
  type PublicationUrls,
} from "../../../ca/ca-certificates.js";
import { PkiError } from "../../../ca/pki-error.js";
import { randomSerial, serialToHex } from "../../../ca/serial.js";
import { formatName, parseName } from "../../../ca/name.js";
import { readCertificateFields } from "../../../ca/certificate-fields.js";
import { OID } from "../../../ca/oids.js";
import type { CertificateParams } from "../../../ca/x509-types.js";
import type { Store } from "../../store/store.js";
import type { AuditInput, CaRecord } from "../../store/records.js";
import type { CrossCertificateRecord } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CertifiedLogKey } from "../audit/log-service.js";

const YEAR = 365 * 86_400_000;

export interface CaInitOptions {
  algorithm: KeyAlgorithm;
  /** Organisation placed in both CA subjects. */
  organization: string;
  rootValidityMs?: number;
  intermediateValidityMs?: number;
  actor: string;
  /**
   * Runs once both CAs are signed and before they are stored; a failure stores nothing. The
   * offline-root setup writes the root key out here, so a CA is never stored without its root key.
   */
  beforeStore?: (cas: CaRecord[]) => Promise<void>;
}

/** The CA that signs new certificates, loaded once: its key stays behind the Signer. */
export interface Issuer {
  ca: CaRecord;
  signer: Signer;
  /** DER of the issuer's subject, byte-identical as certificates must carry it. */
  name: Uint8Array;
  keyId: Uint8Array;
  /**
   * What a server or device presents above a leaf: the issuer, then the cross certificates that
   * lead from its root to older roots still in service. Never a self-signed root: trust comes
   * from root.pem, not from the chain.
   */
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
    /** Cross certificates between roots (after a rollover to a new root); none when absent. */
    private readonly crossCertificates: () => Promise<CrossCertificateRecord[]> = async () => [],
    /** Where new roots' keys are made, when not with the other CA keys (a root in a file or offline, issuing keys in a token). */
    private readonly rootKeys: KeyProvider = keys,
  ) {}

  /** Creates the root and its first issuing intermediate. Refuses when a CA already exists. */
  async init(options: CaInitOptions): Promise<CaView[]> {
    if ((await this.store.listCas()).length > 0) {
      throw new AppError("already_exists", "A CA already exists in this data directory; refusing to overwrite it");
    }
    const now = this.clock.now();
    const root = await this.createRoot({
      algorithm: options.algorithm,
      subject: caSubject(options.organization, "Root CA"),
      validityMs: options.rootValidityMs,
    });
    const intermediate = await this.createIntermediate(root, {
      algorithm: options.algorithm,
      subject: caSubject(options.organization, "Issuing CA 1"),
      validityMs: options.intermediateValidityMs,
    });
    await options.beforeStore?.([root, intermediate]);
    await this.store.insertCas(
      [root, intermediate],
      [root, intermediate].map((ca) => caCreatedAudit(ca, now, options.actor)),
    );
    return [root, intermediate].map(caView);
  }

  /** A new self-signed root with a new key: signed, not yet stored. */
  async createRoot(options: { algorithm: KeyAlgorithm; subject: NameAttribute[]; validityMs?: number }): Promise<CaRecord> {
    const now = this.clock.now();
    const key = await this.rootKeys.generate(options.algorithm, "root");
    const params = rootCertificateParams({
      subject: options.subject,
      spki: key.spki,
      serial: randomSerial(),
      notBefore: backdated(now),
      notAfter: new Date(now.getTime() + (options.validityMs ?? 20 * YEAR)),
    });
    return caRecord(
      "root",
      null,
      key.ref,
      options.algorithm,
      params,
      await encodeCertificate(params, await this.rootKeys.signer(key.ref)),
      now,
    );
  }

  /** A new issuing intermediate with a new key, signed by `parent` and never outliving it: not yet stored. */
  async createIntermediate(
    parent: CaRecord,
    options: { algorithm: KeyAlgorithm; subject: NameAttribute[]; validityMs?: number },
  ): Promise<CaRecord> {
    const now = this.clock.now();
    const key = await this.keys.generate(options.algorithm, "intermediate");
    const params = intermediateCertificateParams({
      subject: options.subject,
      issuer: readCertificateFields(parent.certDer, "CA certificate").subject,
      issuerKeyId: Buffer.from(parent.subjectKeyId, "hex"),
      spki: key.spki,
      serial: randomSerial(),
      notBefore: backdated(now),
      notAfter: new Date(Math.min(now.getTime() + (options.validityMs ?? 10 * YEAR), parent.notAfter.getTime())),
      urls: this.urlsOf(parent),
    });
    const der = await encodeCertificate(params, await this.keys.signer(parent.keyRef));
    return caRecord("intermediate", parent.id, key.ref, options.algorithm, params, der, now);
  }

  /**
   * Certificates of the log key (its SubjectPublicKeyInfo) from every root in service whose key
   * is at hand and that is not in `certified`: signed, not yet stored. An offline root's key is
   * at hand only while `init --offline-root` holds it; later it is skipped.
   */
  async certifyLogKey(spki: Uint8Array, certified: ReadonlySet<string>): Promise<CertifiedLogKey[]> {
    const now = this.clock.now();
    const roots = (await this.store.listCas()).filter((ca) => rootInService(ca, now) && !certified.has(ca.id));
    const made: CertifiedLogKey[] = [];
    for (const root of roots) {
      const fields = readCertificateFields(root.certDer, "CA certificate");
      const organization = fields.subjectAttributes.find((a) => a.oid === OID.organizationName)?.value;
      const params = logKeyCertificateParams({
        subject: [
          ...(organization ? [{ oid: OID.organizationName, shortName: "O", value: organization }] : []),
          { oid: OID.commonName, shortName: "CN", value: "Issuance log checkpoint key" },
        ],
        issuer: fields.subject,
        issuerKeyId: Buffer.from(root.subjectKeyId, "hex"),
        spki,
        serial: randomSerial(),
        notBefore: backdated(now),
        notAfter: root.notAfter,
        urls: this.urlsOf(root),
      });
      let signer: Signer;
      try {
        signer = await this.rootKeys.signer(root.keyRef);
      } catch (err) {
        if (err instanceof PkiError && err.code === "key_offline") continue;
        throw err;
      }
      const der = await encodeCertificate(params, signer);
      made.push({ rootId: root.id, der, serial: serialToHex(params.serial), sha256: certificateThumbprint(der) });
    }
    return made;
  }

  /** Where relying parties reach this CA's CRL, certificate and OCSP responder. */
  urlsOf(ca: CaRecord): PublicationUrls {
    return typeof this.urls === "function" ? this.urls(ca) : this.urls;
  }

  async list(): Promise<CaView[]> {
    return (await this.store.listCas()).map(caView);
  }

  /** The root above the active issuer. */
  async root(): Promise<CaRecord> {
    const cas = await this.store.listCas();
    const active = cas.find((c) => c.kind === "intermediate" && c.status === "active");
    const root = cas.find((c) => c.id === active?.parentId) ?? cas.find((c) => c.kind === "root");
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
        // The chain is re-read with the issuer: a root retired by another process drops its cross certificate.
        return Promise.all([this.issuer(active.id), this.crossCertificates()]).then(([issuer, crosses]) => ({
          ...issuer,
          chain: servedChain(active, cas, crosses, this.clock.now()),
        }));
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
    const chain = servedChain(ca, cas, await this.crossCertificates(), this.clock.now());
    return {
      ca,
      signer,
      name: readCertificateFields(ca.certDer, "CA certificate").subject,
      keyId: Buffer.from(ca.subjectKeyId, "hex"),
      chain,
      urls: this.urlsOf(ca),
    };
  }
}

/** A root devices may still trust: not retired by the operator, not expired. */
export function rootInService(ca: CaRecord, now: Date): boolean {
  return ca.kind === "root" && ca.status === "active" && ca.notAfter > now;
}

/**
 * The issuer, then the cross certificates from its root to every older root still in service
 * (newest first), so a device holding only an older root still builds a path. No self-signed root.
 */
export function servedChain(issuer: CaRecord, cas: CaRecord[], crosses: CrossCertificateRecord[], now: Date): Uint8Array[] {
  const chain = [issuer.certDer];
  const reached = new Set<string>();
  const todo = issuer.kind === "root" ? [issuer.id] : issuer.parentId ? [issuer.parentId] : [];
  while (todo.length > 0) {
    const rootId = todo.shift()!;
    if (reached.has(rootId)) continue;
    reached.add(rootId);
    for (const x of crosses) {
      const signer = cas.find((c) => c.id === x.issuerCaId);
      if (x.caId !== rootId || x.notAfter <= now || !signer || !rootInService(signer, now)) continue;
      chain.push(x.certDer);
      todo.push(signer.id);
    }
  }
  return chain;
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
  return readCertificateFields(der, "CA certificate").serial;
}

/** Backdated a little so devices with slightly slow clocks accept a new CA at once. */
function backdated(now: Date): Date {
  return new Date(now.getTime() - 60_000);
}

/** O=<organization>, CN=<organization> <label>. */
export function caSubject(organization: string, label: string): NameAttribute[] {
  return [
    { oid: OID.organizationName, shortName: "O", value: organization },
    { oid: OID.commonName, shortName: "CN", value: `${organization} ${label}` },
  ];
}

function caRecord(
  kind: CaRecord["kind"],
  parentId: string | null,
  keyRef: string,
  keyAlgorithm: KeyAlgorithm,
  params: CertificateParams,
  der: Uint8Array,
  createdAt: Date,
): CaRecord {
  return {
    id: caIdFor(kind, serialToHex(params.serial)),
    kind,
    parentId,
    keyRef,
    keyAlgorithm,
    certDer: der,
    subject: formatName(parseName(params.subject)),
    subjectKeyId: Buffer.from(params.extensions.subjectKeyIdentifier).toString("hex"),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    status: "active",
    createdAt,
  };
}

/** A CA's id: its kind and its serial's last octets (the first ones are the clock, alike for CAs made within a minute). */
export function caIdFor(kind: CaRecord["kind"], serialHex: string): string {
  return `${kind === "root" ? "root" : "int"}-${serialHex.slice(-8)}`;
}

/** The log entry of a CA's creation (init, rotation). */
export function caCreatedAudit(ca: CaRecord, at: Date, actor: string): AuditInput {
  return {
    at,
    actor,
    action: "ca.create",
    subject: ca.subject,
    serial: serialOf(ca.certDer),
    details: {
      caId: ca.id,
      kind: ca.kind,
      keyAlgorithm: ca.keyAlgorithm,
      parentId: ca.parentId,
      sha256: certificateThumbprint(ca.certDer),
      notAfter: ca.notAfter.toISOString(),
    },
  };
}

function notInitialised(): AppError {
  return new AppError("not_initialized", "No CA yet: run `dpki init` first");
}
