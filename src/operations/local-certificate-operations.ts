import { pemEncode } from "../../ca/pem.js";
import { normaliseSerialHex } from "../../ca/serial.js";
import type { Services } from "../app.js";
import type {
  AuditCheckQuery,
  AuditQuery,
  BatchResultView,
  CertificateOperations,
  CertificateQuery,
  IssueInput,
  IssuedView,
  LogCheckpointView,
  LogProofView,
  ProfileView,
  TokenCreateInput,
} from "./certificate-operations.js";
import { AppError, toAppError } from "../errors.js";
import { parseDuration } from "../duration.js";
import { crlInfo } from "../core/authority/crl-service.js";
import { DEFAULT_CHECK_WINDOW } from "../core/audit/finding.js";
import type { IssueRequest } from "../core/issuance/issuance-service.js";

/** CertificateOperations on in-process services, acting as `actor` (the CLI user or an API token). */
export class LocalCertificateOperations implements CertificateOperations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
    /** A scoped API token's ID scope: it sees and touches only that scope's certificates, log entries and tokens. */
    private readonly scope: string | null = null,
  ) {}

  /** Whole-log and CA-wide operations cover every scope: refused to a scoped caller. */
  private unscoped(what: string): void {
    if (this.scope !== null) throw new AppError("forbidden", `${what} covers every scope: it needs an unscoped token`);
  }

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
    const record = await this.services.certificates.find(id, this.scope);
    const view = await this.services.certificates.get(record.serial, this.scope);
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
      scope: this.scope,
    });
  }

  async revoke(id: string, reason: string) {
    return this.services.certificates.revoke(id, reason, this.actor, this.scope);
  }

  async crl(caId?: string) {
    if (caId !== undefined) {
      const ca = (await this.services.store.listCas()).find((c) => c.id === caId);
      if (!ca) throw new AppError("not_found", `No CA with id ${caId}`);
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
    const order = query.order ?? "newest";
    if (order !== "newest" && order !== "oldest") {
      throw new AppError("invalid_argument", `order must be newest or oldest, not "${query.order}"`);
    }
    return this.services.audit.list(
      {
        since: query.since ? parseTime(query.since) : undefined,
        serial,
        action: query.action,
        actor: query.actor,
        refusals: query.refusals,
        text: query.text,
        scope: this.scope ?? undefined,
        order,
      },
      query.after,
      query.limit,
    );
  }

  async auditVerify() {
    this.unscoped("Verifying the log");
    return this.services.audit.verify();
  }

  async auditCheckpoint(): Promise<LogCheckpointView> {
    this.unscoped("A log checkpoint");
    const log = this.services.log;
    const c = await log.checkpoint();
    return {
      origin: log.origin,
      size: c.size,
      root: c.root.toString("base64"),
      note: c.note,
      verifierKey: await log.verifierKey(),
      keyCertificates: (await log.keyCertificates()).map((k) => ({ rootId: k.rootId, certificate: pemEncode("CERTIFICATE", k.der) })),
      createdAt: c.createdAt.toISOString(),
    };
  }

  async auditProve(target: { serial?: string; seq?: number }): Promise<LogProofView> {
    this.unscoped("A log proof");
    let proved;
    if (target.serial !== undefined) {
      const serial = normaliseSerialHex(target.serial);
      if (!serial) throw new AppError("invalid_argument", `"${target.serial}" is not a hex serial number`);
      proved = await this.services.log.proveCertificate(serial);
    } else if (target.seq !== undefined) {
      proved = await this.services.log.proveEntry(target.seq);
    } else {
      throw new AppError("invalid_argument", "Name the entry to prove: a certificate serial or an entry number");
    }
    return {
      seq: proved.entry.seq,
      action: proved.entry.action,
      serial: proved.entry.serial ?? null,
      proof: proved.proof,
      checkpointSize: proved.checkpoint.size,
    };
  }

  async auditCheck(query: AuditCheckQuery) {
    this.unscoped("Checking the installation");
    return this.services.auditCheck.run({
      caExpiryWithinMs: parseDuration(query.within ?? DEFAULT_CHECK_WINDOW),
      tokenUnusedForMs: parseDuration(query.unusedFor ?? DEFAULT_CHECK_WINDOW),
    });
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
    // A scoped admin mints tokens for its own scope only.
    if (this.scope !== null && input.scope !== undefined && input.scope.toLowerCase() !== this.scope.toLowerCase()) {
      throw new AppError("forbidden", `A token of scope ${this.scope} can create tokens of that scope only`);
    }
    const scope = this.scope ?? rest.scope;
    return this.services.tokens.create({ ...rest, scope, expiresInMs: expires ? parseDuration(expires) : undefined }, this.actor);
  }

  async tokenList() {
    const all = await this.services.tokens.list();
    return this.scope === null ? all : all.filter((t) => t.scope?.toLowerCase() === this.scope!.toLowerCase());
  }

  async tokenRevoke(id: string) {
    if (this.scope !== null && !(await this.tokenList()).some((t) => t.id === id || t.name === id)) {
      throw new AppError("not_found", `No token ${id}`);
    }
    return this.services.tokens.revoke(id, this.actor);
  }

  async operatorAdd(name: string) {
    this.unscoped("Operators");
    return this.services.operators.add(name, this.actor);
  }

  async operatorList() {
    this.unscoped("Operators");
    return this.services.operators.list();
  }

  async operatorShow(name: string) {
    this.unscoped("Operators");
    return this.services.operators.get(name);
  }

  async operatorDisable(name: string) {
    this.unscoped("Operators");
    return this.services.operators.disable(name, this.actor);
  }

  async operatorTotpEnroll(name: string) {
    this.unscoped("Operators");
    return this.services.operators.enrollTotp(name, this.actor);
  }

  private request(input: IssueInput): IssueRequest {
    return {
      csr: csrInput(input.csr),
      profile: input.profile,
      validityMs: input.validity ? parseDuration(input.validity) : undefined,
      actor: this.actor,
      scope: this.scope,
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
