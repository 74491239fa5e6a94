import { readCertificateFields } from "../../../ca/certificate-fields.js";
import type { KeyProvider } from "../../../ca/key-provider.js";
import type { KeyAlgorithm } from "../../../ca/key-algorithm.js";
import { certificateThumbprint, encodeCertificate } from "../../../ca/certificate.js";
import { parseName } from "../../../ca/name.js";
import { OID } from "../../../ca/oids.js";
import {
  certIdMatchesIssuer,
  encodeOcspError,
  encodeOcspResponse,
  issuerHashes,
  parseOcspRequest,
  type IssuerHashes,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspHashAlgorithm,
  type OcspRequest,
} from "../../../ca/ocsp.js";
import { ocspSignerCertificateParams } from "../../../ca/ca-certificates.js";
import { PkiError } from "../../../ca/pki-error.js";
import { randomSerial, serialToHex } from "../../../ca/serial.js";
import type { Signer } from "../../../ca/signer.js";
import type { NameAttribute } from "../../../ca/x509-types.js";
import type { Store } from "../../store/store.js";
import type { CaRecord } from "../../store/records.js";
import type { LifecycleStore, OcspSignerRecord } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CaService } from "./ca-service.js";
import type { CaRotationService } from "./ca-rotation-service.js";
import type { CredentialStatus } from "../lifecycle/credential-status.js";

export interface OcspServiceOptions {
  /** nextUpdate - thisUpdate of every answer: how long a client may rely on it. */
  responseValidityMs: number;
  /** Longest HTTP caching allowed (Cache-Control max-age), never beyond nextUpdate. */
  maxAgeMs: number;
  /** Lifetime of a delegated responder certificate (it cannot be revoked: id-pkix-ocsp-nocheck). */
  signerValidityMs: number;
}

export const DEFAULT_OCSP_OPTIONS: OcspServiceOptions = {
  responseValidityMs: 5 * 60_000,
  maxAgeMs: 60_000,
  signerValidityMs: 7 * 86_400_000,
};

export interface OcspAnswer {
  /** DER OCSPResponse. */
  der: Uint8Array;
  responseStatus: "successful" | OcspErrorStatus;
  /** Statuses in request order (successful answers). */
  statuses: Array<OcspCertStatus["status"]>;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** The request carried a nonce: the answer is unique to it and must not be cached. */
  nonce: boolean;
  /** How long HTTP caches may keep the answer, in seconds (0: do not cache). */
  maxAgeSeconds: number;
}

interface Responder {
  ca: CaRecord;
  signer: Signer;
  certificate: Uint8Array;
  notAfter: Date;
  /** Renew from this instant on (a third of the lifetime left). */
  renewAt: Date;
}

interface IssuerEntry {
  ca: CaRecord;
  hashes: Record<OcspHashAlgorithm, IssuerHashes>;
}

/** How long the set of issuers answered for is trusted from memory (another process may rotate). */
const ISSUER_INDEX_TTL_MS = 5_000;
/** A CertID naming no known issuer re-reads the issuers, at most this often (unknown issuers must not cost a query each). */
const ISSUER_RECHECK_MS = 1_000;
const BACKDATE_MS = 60_000;

/**
 * The OCSP responder (RFC 6960): answers good / revoked (time, reason) / unknown for
 * certificates of every issuing CA still in service, from the live store, signed by a
 * delegated responder certificate per issuer (id-kp-OCSPSigning + nocheck) whose key comes
 * from the key provider and which is renewed well before it expires. Requests whose CertIDs
 * name no issuer dpki serves (or several) get `unauthorized`; undecodable ones `malformedRequest`.
 */
export class OcspService {
  private index: { entries: Promise<IssuerEntry[]>; checkedAt: number } | undefined;
  private readonly responders = new Map<string, Promise<Responder>>();
  private readonly renewing = new Map<string, Promise<Responder>>();

  constructor(
    private readonly deps: {
      store: Store;
      lifecycle: LifecycleStore;
      keys: KeyProvider;
      ca: CaService;
      rotation: CaRotationService;
      status: CredentialStatus;
      clock: Clock;
    },
    private readonly options: OcspServiceOptions = DEFAULT_OCSP_OPTIONS,
  ) {}

  /** Forgets the issuers in service (after a rotation in this process). */
  invalidate(): void {
    this.index = undefined;
  }

  /** Answers one DER OCSPRequest. Never throws for bad input: OCSP errors are answers too. */
  async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    let request: OcspRequest;
    try {
      request = parseOcspRequest(requestDer);
    } catch (err) {
      if (err instanceof PkiError) return errorAnswer("malformedRequest");
      throw err;
    }
    let entries = await this.issuers();
    let matched = request.certIds.map((id) => entries.find((e) => certIdMatchesIssuer(id, e.hashes)));
    if (matched.some((m) => !m) && this.index && Date.now() - this.index.checkedAt > ISSUER_RECHECK_MS) {
      // An issuer created moments ago (a rollover, maybe by another process): look again before refusing.
      entries = await this.issuers(true);
      matched = request.certIds.map((id) => entries.find((e) => certIdMatchesIssuer(id, e.hashes)));
    }
    const issuer = matched[0];
    if (!issuer || matched.some((m) => m !== issuer)) return errorAnswer("unauthorized");

    let responder: Responder;
    try {
      responder = await this.responder(issuer.ca);
    } catch (err) {
      // The CA key is unavailable (no passphrase, HSM down): the client should try again later.
      if (err instanceof PkiError || (err instanceof AppError && err.code === "key_unavailable")) return errorAnswer("tryLater");
      throw err;
    }

    const now = this.deps.clock.now();
    const thisUpdate = now;
    const nextUpdate = new Date(now.getTime() + this.options.responseValidityMs);
    const responses = await Promise.all(
      request.certIds.map(async (certId) => ({
        certId,
        certStatus: await this.certStatus(issuer.ca.id, certId.serial, now),
        thisUpdate,
        nextUpdate,
      })),
    );
    const der = await encodeOcspResponse(
      { producedAt: now, responses, nonce: request.nonce, responderCertificate: responder.certificate },
      responder.signer,
    );
    const maxAgeMs = Math.min(this.options.maxAgeMs, nextUpdate.getTime() - now.getTime());
    return {
      der,
      responseStatus: "successful",
      statuses: responses.map((r) => r.certStatus.status),
      thisUpdate,
      nextUpdate,
      nonce: request.nonce !== undefined,
      maxAgeSeconds: request.nonce ? 0 : Math.floor(maxAgeMs / 1000),
    };
  }

  /**
   * Loads (or issues) the responder certificate of every issuer in service, so the first
   * request does not pay for it and a missing key shows up at start.
   */
  async prepare(): Promise<Array<{ caId: string; serial: string; notAfter: string }>> {
    const out = [];
    for (const entry of await this.issuers(true)) {
      const responder = await this.responder(entry.ca);
      out.push({ caId: entry.ca.id, serial: certificateSerial(responder.certificate), notAfter: responder.notAfter.toISOString() });
    }
    return out;
  }

  private async certStatus(issuerCaId: string, serial: string, now: Date): Promise<OcspCertStatus> {
    const cert = await this.deps.store.getCertificate({ serial });
    if (!cert || cert.issuerCaId !== issuerCaId) return { status: "unknown" };
    const state = await this.deps.status.of(cert, now);
    return state.status === "good" ? { status: "good" } : { status: "revoked", revokedAt: state.revokedAt, reason: state.reason };
  }

  /** Issuers in service with their CertID hashes; re-read every few seconds. */
  private issuers(fresh = false): Promise<IssuerEntry[]> {
    const now = Date.now();
    if (fresh || !this.index || now - this.index.checkedAt > ISSUER_INDEX_TTL_MS) {
      const entries = this.deps.rotation.servingIntermediates().then((cas) => cas.map((ca) => ({ ca, hashes: issuerHashes(ca.certDer) })));
      this.index = { entries, checkedAt: now };
      entries.catch(() => (this.index = undefined));
    }
    return this.index.entries;
  }

  /** The current responder of an issuer, renewed in the background once a third of its lifetime is left. */
  private async responder(ca: CaRecord): Promise<Responder> {
    let loading = this.responders.get(ca.id);
    if (!loading) {
      loading = this.loadResponder(ca);
      this.responders.set(ca.id, loading);
      loading.catch(() => this.responders.delete(ca.id));
    }
    const current = await loading;
    const now = this.deps.clock.now();
    if (now < current.renewAt) return current;
    let renewal = this.renewing.get(ca.id);
    if (!renewal) {
      renewal = this.loadResponder(ca).finally(() => this.renewing.delete(ca.id));
      this.renewing.set(ca.id, renewal);
      renewal.then(
        (r) => this.responders.set(ca.id, Promise.resolve(r)),
        () => {},
      );
    }
    // Keep answering with the current one while it is valid; wait for the new one otherwise.
    return now < current.notAfter ? current : renewal;
  }

  /** The issuer's freshest responder certificate from the store if it has life left, else a new one. */
  private async loadResponder(ca: CaRecord): Promise<Responder> {
    const now = this.deps.clock.now();
    const stored = await this.deps.lifecycle.latestOcspSigner(ca.id);
    if (stored && now < renewAt(stored)) {
      return {
        ca,
        signer: await this.deps.keys.signer(stored.keyRef),
        certificate: stored.certDer,
        notAfter: stored.notAfter,
        renewAt: renewAt(stored),
      };
    }
    return this.issueResponder(ca, now);
  }

  private async issueResponder(ca: CaRecord, now: Date): Promise<Responder> {
    const issuer = await this.deps.ca.issuer(ca.id);
    const key = await this.deps.keys.generate(ca.keyAlgorithm as KeyAlgorithm, `ocsp-${ca.id}`);
    const serial = randomSerial();
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const notAfter = new Date(Math.min(now.getTime() + this.options.signerValidityMs, ca.notAfter.getTime()));
    if (notAfter <= now) throw new AppError("unavailable", `Issuing CA ${ca.id} has expired; it cannot delegate OCSP signing`);
    const params = ocspSignerCertificateParams({
      subject: responderSubject(parseName(issuer.name, "issuer name")),
      issuer: issuer.name,
      issuerKeyId: issuer.keyId,
      spki: key.spki,
      serial,
      notBefore,
      notAfter,
    });
    const der = await encodeCertificate(params, issuer.signer);
    const record: OcspSignerRecord = {
      serial: serialToHex(serial),
      issuerCaId: ca.id,
      keyRef: key.ref,
      certDer: der,
      notBefore,
      notAfter,
      createdAt: now,
    };
    await this.deps.lifecycle.insertOcspSigner(record, {
      at: now,
      actor: "system:ocsp",
      action: "ocsp.signer.issue",
      subject: `${ca.subject} OCSP Responder`,
      serial: record.serial,
      details: { issuer: ca.id, sha256: certificateThumbprint(der), notAfter: notAfter.toISOString(), keyAlgorithm: ca.keyAlgorithm },
    });
    return { ca, signer: await this.deps.keys.signer(key.ref), certificate: der, notAfter, renewAt: renewAt(record) };
  }
}

/** Renew once a third of the lifetime is left. */
function renewAt(signer: Pick<OcspSignerRecord, "notBefore" | "notAfter">): Date {
  const life = signer.notAfter.getTime() - signer.notBefore.getTime();
  return new Date(signer.notAfter.getTime() - life / 3);
}

function responderSubject(issuer: NameAttribute[]): NameAttribute[] {
  const cn = issuer.find((a) => a.oid === OID.commonName)?.value ?? "dpki";
  return [
    ...issuer.filter((a) => a.oid !== OID.commonName).map(({ oid, shortName, value }) => ({ oid, shortName, value })),
    { oid: OID.commonName, shortName: "CN", value: `${cn} OCSP Responder` },
  ];
}

function certificateSerial(der: Uint8Array): string {
  return readCertificateFields(der).serial;
}

function errorAnswer(status: OcspErrorStatus): OcspAnswer {
  return { der: encodeOcspError(status), responseStatus: status, statuses: [], nonce: false, maxAgeSeconds: 0 };
}
