import { pemEncode } from "../ca/pem.js";
import { normaliseSerialHex } from "../ca/serial.js";
import type { Services } from "./app.js";
import type {
  AuditQuery,
  BatchResultView,
  CertificateQuery,
  IssueInput,
  IssuedView,
  Operations,
  ProfileView,
  TokenCreateInput,
} from "./operations.js";
import { AppError, toAppError } from "./errors.js";
import { parseDuration } from "./duration.js";
import { crlInfo } from "./core/crl-service.js";
import type { IssueRequest } from "./core/issuance-service.js";

/** Operations backed by in-process services, acting as `actor` (the CLI user or an API token). */
export class LocalOperations implements Operations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
  ) {}

  async caList() {
    return this.services.lifecycle.rotation.status();
  }

  async caChainPem() {
    // The active issuer's chain, plus (after a rollover) the retired issuers still in service and any cross certificate.
    return (await this.services.lifecycle.rotation.chainBundle()).map((der) => pemEncode("CERTIFICATE", der)).join("");
  }

  async issue(input: IssueInput): Promise<IssuedView> {
    const issued = await this.services.issuance.issue(this.request(input));
    return {
      certificate: issued.certificate,
      pem: pemEncode("CERTIFICATE", issued.der),
      chainPem: chainPem(issued.chain),
    };
  }

  async issueBatch(items: IssueInput[], onProgress?: (done: number, total: number) => void): Promise<BatchResultView[]> {
    const requests: IssueRequest[] = [];
    const early: Array<BatchResultView | undefined> = [];
    for (const item of items) {
      try {
        requests.push(this.request(item));
        early.push(undefined);
      } catch (err) {
        early.push({ ok: false, error: errorView(err) });
      }
    }
    let done = early.filter(Boolean).length;
    const results = await this.services.issuance.issueMany(requests, () => onProgress?.(++done, items.length));
    let next = 0;
    return early.map((e) => {
      if (e) return e;
      const r = results[next++]!;
      return r.ok
        ? { ok: true, certificate: r.issued.certificate, pem: pemEncode("CERTIFICATE", r.issued.der) }
        : { ok: false, error: { code: r.error.code, message: r.error.message } };
    });
  }

  async getCertificate(id: string) {
    const record = await this.services.certificates.find(id);
    const view = await this.services.certificates.get(record.serial);
    return { ...view, pem: pemEncode("CERTIFICATE", record.der) };
  }

  async listCertificates(query: CertificateQuery) {
    return this.services.certificates.list({
      status: query.status,
      subject: query.subject,
      profile: query.profile,
      expiringWithinMs: query.expiringWithin ? parseDuration(query.expiringWithin) : undefined,
      after: query.after,
      limit: query.limit,
    });
  }

  async revoke(id: string, reason: string) {
    return this.services.certificates.revoke(id, reason, this.actor);
  }

  async crl(caId?: string) {
    if (caId !== undefined) {
      const ca = (await this.services.store.listCas()).find((c) => c.id === caId);
      if (!ca) throw new AppError("not_found", `No CA with id ${caId}`);
      if (ca.kind !== "intermediate") throw new AppError("not_found", `${caId} is a root: only issuing CAs publish a CRL`);
    }
    const crl = await this.services.crl.current(this.actor, caId);
    return { info: crlInfo(crl), der: crl.der };
  }

  async auditLog(query: AuditQuery) {
    let serial: string | undefined;
    if (query.serial) {
      serial = normaliseSerialHex(query.serial) ?? undefined;
      if (!serial) throw new AppError("invalid_argument", `"${query.serial}" is not a hex serial number`);
    }
    return this.services.audit.list(
      { since: query.since ? parseTime(query.since) : undefined, serial, action: query.action, actor: query.actor },
      query.after,
      query.limit,
    );
  }

  async auditVerify() {
    return this.services.audit.verify();
  }

  async profiles(): Promise<ProfileView[]> {
    return [...this.services.policies.profiles.values()].map((p) => ({
      name: p.name,
      description: p.description,
      keyAlgorithms: p.keyAlgorithms,
      defaultValidityDays: p.defaultValidityMs / 86_400_000,
      maxValidityDays: p.maxValidityMs / 86_400_000,
      subjectAltNames: p.subjectAltNames.allowed,
      extendedKeyUsage: p.extendedKeyUsage,
    }));
  }

  async tokenCreate(input: TokenCreateInput) {
    const { expires, ...rest } = input;
    return this.services.tokens.create({ ...rest, expiresInMs: expires ? parseDuration(expires) : undefined }, this.actor);
  }

  async tokenList() {
    return this.services.tokens.list();
  }

  async tokenRevoke(id: string) {
    return this.services.tokens.revoke(id, this.actor);
  }

  private request(input: IssueInput): IssueRequest {
    return {
      csr: csrInput(input.csr),
      profile: input.profile,
      validityMs: input.validity ? parseDuration(input.validity) : undefined,
      actor: this.actor,
    };
  }
}

function parseTime(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw new AppError("invalid_argument", `Cannot parse time "${text}": use ISO 8601, e.g. 2026-01-31T00:00:00Z`);
  return d;
}

function errorView(err: unknown): { code: string; message: string } {
  const e = toAppError(err);
  return { code: e.code, message: e.message };
}

/** The API carries CSRs as PEM or as base64 DER (as DPS does); the engine takes PEM text or bytes. */
function csrInput(text: string): string | Uint8Array {
  if (text.includes("-----BEGIN")) return text;
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new AppError("bad_encoding", "Cannot parse CSR: neither PEM nor base64 DER");
  return Buffer.from(compact, "base64");
}

/** Every certificate of an issuer carries the same chain (one array per cached issuer): encoded once. */
const chainPems = new WeakMap<readonly Uint8Array[], string>();

function chainPem(chain: readonly Uint8Array[]): string {
  let pem = chainPems.get(chain);
  if (pem === undefined) chainPems.set(chain, (pem = chain.map((der) => pemEncode("CERTIFICATE", der)).join("")));
  return pem;
}
