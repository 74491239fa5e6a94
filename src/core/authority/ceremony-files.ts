import { isKeyAlgorithm, type KeyAlgorithm } from "../../../ca/key-algorithm.js";
import { isRevocationReason, type RevocationReason } from "../../../ca/revocation-reason.js";
import { AppError } from "../../errors.js";

/**
 * The files carried between the online installation and the offline machine holding the root
 * key. Plain JSON with PEM inside, so an operator can read what is about to be signed.
 */

/** What a root's CRL (its ARL) should say: the online side knows which intermediates are revoked. */
export interface RootCrlOrder {
  /** CRL number, decimal: one more than the latest stored. */
  number: string;
  /** nextUpdate - thisUpdate, ms. */
  validityMs: number;
  revoked: Array<{ serial: string; revokedAt: string; reason: RevocationReason | null }>;
}

interface RootRef {
  id: string;
  /** PEM. */
  certificate: string;
}

export interface IntermediateRequest {
  kind: "dpki-intermediate-request";
  version: 1;
  createdAt: string;
  root: RootRef;
  /** PKCS #10 (PEM), signed by the new intermediate's key: the subject and key to certify. */
  csr: string;
  keyAlgorithm: KeyAlgorithm;
  /** Where the online side keeps the key (a token object or key file); echoed back, never used offline. */
  keyRef: string;
  /** Latest notAfter asked for; the offline side never goes past the root's. */
  notAfter: string;
  /** The root's CRL and certificate URLs, which the intermediate certificate carries. */
  urls: { crl?: string; caIssuers?: string };
  /** Signed in the same sitting: a fresh CRL of the root. */
  rootCrl: RootCrlOrder;
  /**
   * A rollover to a new offline root: made on the offline machine, cross-signed by the current
   * root, and the parent of the new intermediate. `urls` are then the current root's (for the
   * cross certificate); the intermediate gets the new root's, from the templates.
   */
  newRoot?: NewRootOrder;
}

export interface NewRootOrder {
  /** "O=…, CN=…", for the operator to read; `subjectAttributes` is what gets encoded. */
  subject: string;
  subjectAttributes: Array<{ oid: string; shortName: string; value: string }>;
  keyAlgorithm: KeyAlgorithm;
  validityMs: number;
  /** The new root's CRL and certificate URLs with `{id}` for its id, known only once its serial is drawn. */
  urlTemplates: { crl?: string; caIssuers?: string };
  /** nextUpdate - thisUpdate of the new root's first CRL, ms. */
  crlValidityMs: number;
}

export interface SignedIntermediate {
  kind: "dpki-intermediate-signed";
  version: 1;
  rootId: string;
  keyRef: string;
  /** PEM. */
  certificate: string;
  /** The root's new CRL, PEM. */
  rootCrl: string;
  /** With a new root: its certificate, the cross certificate (signed by `rootId`) and its first CRL, PEM. */
  newRoot?: { certificate: string; crossCertificate: string; crl: string };
}

export interface CrlRequest {
  kind: "dpki-crl-request";
  version: 1;
  createdAt: string;
  root: RootRef;
  crl: RootCrlOrder;
}

type CeremonyFile = IntermediateRequest | SignedIntermediate | CrlRequest;

const WHAT: Record<CeremonyFile["kind"], string> = {
  "dpki-intermediate-request": "an intermediate request (`dpki ca request-intermediate`)",
  "dpki-intermediate-signed": "a signed intermediate (`dpki ca sign-intermediate`)",
  "dpki-crl-request": "a root CRL request (`dpki ca request-crl`)",
};

export function parseIntermediateRequest(text: string, source: string): IntermediateRequest {
  const file = parseFile(text, source, "dpki-intermediate-request");
  const r = new Fields(file, source);
  r.root("root");
  r.string("createdAt");
  r.pem("csr", "CERTIFICATE REQUEST");
  r.string("keyRef");
  if (!isKeyAlgorithm(r.string("keyAlgorithm"))) r.fail("keyAlgorithm is not a dpki key algorithm");
  r.date("notAfter");
  const urls = r.object("urls");
  for (const key of ["crl", "caIssuers"])
    if (urls[key] !== undefined && typeof urls[key] !== "string") r.fail(`urls.${key} must be a string`);
  r.crlOrder("rootCrl");
  if (file.newRoot !== undefined) r.newRootOrder("newRoot");
  return file as unknown as IntermediateRequest;
}

export function parseSignedIntermediate(text: string, source: string): SignedIntermediate {
  const file = parseFile(text, source, "dpki-intermediate-signed");
  const r = new Fields(file, source);
  r.string("rootId");
  r.string("keyRef");
  r.pem("certificate", "CERTIFICATE");
  r.pem("rootCrl", "X509 CRL");
  if (file.newRoot !== undefined) {
    const newRoot = r.object("newRoot");
    r.pem("certificate", "CERTIFICATE", newRoot, "newRoot.");
    r.pem("crossCertificate", "CERTIFICATE", newRoot, "newRoot.");
    r.pem("crl", "X509 CRL", newRoot, "newRoot.");
  }
  return file as unknown as SignedIntermediate;
}

export function parseCrlRequest(text: string, source: string): CrlRequest {
  const file = parseFile(text, source, "dpki-crl-request");
  const r = new Fields(file, source);
  r.root("root");
  r.string("createdAt");
  r.crlOrder("crl");
  return file as unknown as CrlRequest;
}

function parseFile(text: string, source: string, kind: CeremonyFile["kind"]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError("bad_encoding", `Cannot read ${source}: not JSON; expected ${WHAT[kind]}`);
  }
  const file = parsed as Record<string, unknown> | null;
  if (typeof file !== "object" || file === null || Array.isArray(file)) {
    throw new AppError("bad_encoding", `Cannot read ${source}: expected ${WHAT[kind]}`);
  }
  if (file.kind !== kind) {
    const found = typeof file.kind === "string" && file.kind in WHAT ? WHAT[file.kind as CeremonyFile["kind"]] : "something else";
    throw new AppError("bad_encoding", `Cannot read ${source}: it is ${found}, expected ${WHAT[kind]}`);
  }
  if (file.version !== 1) throw new AppError("bad_encoding", `Cannot read ${source}: version ${String(file.version)} is not 1`);
  return file;
}

/** Field checks that name the file and the field in every failure. */
class Fields {
  constructor(
    private readonly file: Record<string, unknown>,
    private readonly source: string,
  ) {}

  fail(why: string): never {
    throw new AppError("bad_encoding", `Cannot read ${this.source}: ${why}`);
  }

  string(key: string, from: Record<string, unknown> = this.file, prefix = ""): string {
    const value = from[key];
    if (typeof value !== "string" || value === "") this.fail(`${prefix}${key} is missing or not a string`);
    return value as string;
  }

  date(key: string, from: Record<string, unknown> = this.file, prefix = ""): Date {
    const date = new Date(this.string(key, from, prefix));
    if (Number.isNaN(date.getTime())) this.fail(`${prefix}${key} is not a date`);
    return date;
  }

  pem(key: string, label: string, from: Record<string, unknown> = this.file, prefix = ""): string {
    const value = this.string(key, from, prefix);
    if (!value.includes(`-----BEGIN ${label}-----`)) this.fail(`${prefix}${key} is not a PEM ${label}`);
    return value;
  }

  object(key: string, from: Record<string, unknown> = this.file, prefix = ""): Record<string, unknown> {
    const value = from[key];
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail(`${prefix}${key} is missing or not an object`);
    return value as Record<string, unknown>;
  }

  root(key: string): void {
    const root = this.object(key);
    this.string("id", root, `${key}.`);
    this.pem("certificate", "CERTIFICATE", root, `${key}.`);
  }

  newRootOrder(key: string): void {
    const order = this.object(key);
    const where = `${key}.`;
    this.string("subject", order, where);
    const attrs = order.subjectAttributes;
    if (!Array.isArray(attrs) || attrs.length === 0) this.fail(`${where}subjectAttributes is not a list`);
    for (const a of attrs as Array<Record<string, unknown>>) {
      if (
        typeof a !== "object" ||
        a === null ||
        typeof a.oid !== "string" ||
        typeof a.shortName !== "string" ||
        typeof a.value !== "string"
      ) {
        this.fail(`${where}subjectAttributes holds an entry that is not {oid, shortName, value}`);
      }
    }
    if (!isKeyAlgorithm(this.string("keyAlgorithm", order, where))) this.fail(`${where}keyAlgorithm is not a dpki key algorithm`);
    for (const ms of ["validityMs", "crlValidityMs"]) {
      const value = order[ms];
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) this.fail(`${where}${ms} is not a positive number`);
    }
    const templates = this.object("urlTemplates", order, where);
    for (const k of ["crl", "caIssuers"]) {
      if (templates[k] !== undefined && (typeof templates[k] !== "string" || !(templates[k] as string).includes("{id}"))) {
        this.fail(`${where}urlTemplates.${k} must be a string with {id}`);
      }
    }
  }

  crlOrder(key: string): void {
    const order = this.object(key);
    if (!/^[1-9][0-9]{0,40}$/.test(this.string("number", order, `${key}.`))) this.fail(`${key}.number is not a positive decimal number`);
    const validity = order.validityMs;
    if (typeof validity !== "number" || !Number.isSafeInteger(validity) || validity <= 0)
      this.fail(`${key}.validityMs is not a positive number`);
    const revoked = order.revoked;
    if (!Array.isArray(revoked)) this.fail(`${key}.revoked is not a list`);
    for (const [i, entry] of (revoked as unknown[]).entries()) {
      const e = entry as Record<string, unknown>;
      const where = `${key}.revoked[${i}].`;
      if (typeof e !== "object" || e === null) this.fail(`${where.slice(0, -1)} is not an object`);
      if (!/^[0-9a-f]{2,40}$/.test(this.string("serial", e, where))) this.fail(`${where}serial is not lowercase hex`);
      this.date("revokedAt", e, where);
      if (e.reason !== null && (typeof e.reason !== "string" || !isRevocationReason(e.reason)))
        this.fail(`${where}reason is not an RFC 5280 reason`);
    }
  }
}
