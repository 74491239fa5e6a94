import type { CertificateView } from "../core/issuance/certificate-view.js";
import type { CaStatusView } from "../core/authority/ca-rotation-service.js";
import type { CrlInfo } from "../core/authority/crl-service.js";
import type { AuditEntryView } from "../core/audit/audit-service.js";
import type { AuditCheckReport } from "../core/audit/finding.js";
import type { ChainVerdict } from "../store/audit-chain.js";
import type { Page } from "../store/store.js";
import type { TokenView } from "../core/tokens/token-service.js";
import type { OperatorView } from "../core/tokens/operator-service.js";
import type { TokenRole } from "../store/token-store.js";

/** The part of Operations for CAs, certificates, CRLs, the audit log, profiles and API tokens. */
export interface CertificateOperations {
  /** Every CA with its lifecycle state, the one vocabulary of `ca list`, `ca status` and the API. */
  caList(): Promise<CaStatusView[]>;
  /** PEM of the issuers in service and their cross certificates (no self-signed root). */
  caChainPem(): Promise<string>;
  issue(input: IssueInput): Promise<IssuedView>;
  issueBatch(items: IssueInput[], onProgress?: (done: number, total: number) => void): Promise<BatchResultView[]>;
  getCertificate(id: string): Promise<CertificateWithPem>;
  listCertificates(query: CertificateQuery): Promise<Page<CertificateView>>;
  revoke(id: string, reason: string): Promise<CertificateView>;
  /** The current CRL of the active issuer, or of the issuing CA `caId` (a retired one keeps its CRL). */
  crl(caId?: string): Promise<{ info: CrlInfo; der: Uint8Array }>;
  auditLog(query: AuditQuery): Promise<Page<AuditEntryView>>;
  auditVerify(): Promise<ChainVerdict>;
  /** A signed checkpoint of the whole log (signing a new one when entries were added). */
  auditCheckpoint(): Promise<LogCheckpointView>;
  /** A tlog-proof that one entry (or the issuance of one certificate) is in the signed log. */
  auditProve(target: { serial?: string; seq?: number }): Promise<LogProofView>;
  /** The audit checks' findings (shared and weak keys, profile drift, expiring CAs, idle tokens …). */
  auditCheck(query: AuditCheckQuery): Promise<AuditCheckReport>;
  profiles(): Promise<ProfileView[]>;
  /** Creates an API token; the secret is in the result only, never stored or shown again. */
  tokenCreate(input: TokenCreateInput): Promise<{ token: TokenView; secret: string }>;
  tokenList(): Promise<TokenView[]>;
  /** Revokes by id or name; effective at once. */
  tokenRevoke(id: string): Promise<TokenView>;
  /** Adds a named operator that tokens can then be minted for (unscoped callers only). */
  operatorAdd(name: string): Promise<OperatorView>;
  operatorList(): Promise<OperatorView[]>;
  operatorShow(name: string): Promise<OperatorView>;
  /** Disables an operator and revokes all their tokens at once. */
  operatorDisable(name: string): Promise<OperatorDisabledView>;
  /** Enrolls the operator in TOTP step-up: the otpauth:// URI (holding the secret) is in the result only. */
  operatorTotpEnroll(name: string): Promise<{ operator: OperatorView; uri: string }>;
}

export type OperatorDisabledView = OperatorView & { revokedTokens: string[] };

export interface LogCheckpointView {
  origin: string;
  size: number;
  /** Base64 RFC 6962 root hash. */
  root: string;
  /** The C2SP signed note, verbatim. */
  note: string;
  /** The note verifier key to check it with. */
  verifierKey: string;
  /** The log key certified by each root that has signed it (PEM), so trusting a root is enough to trust the key. */
  keyCertificates: Array<{ rootId: string; certificate: string }>;
  createdAt: string;
}

export interface LogProofView {
  seq: number;
  action: string;
  serial: string | null;
  /** The c2sp.org/tlog-proof@v1 text. */
  proof: string;
  checkpointSize: number;
}

export interface TokenCreateInput {
  role: TokenRole;
  name?: string;
  profiles?: string[];
  quotaPerDay?: number;
  scope?: string;
  hub?: string;
  /** The operator the token is minted for. */
  operator?: string;
  /** Duration like "90d"; never expires when absent. */
  expires?: string;
}

export interface IssueInput {
  /** PEM, or base64 DER. */
  csr: string;
  profile: string;
  /** Duration like "90d"; the profile's default when absent. */
  validity?: string;
}

export interface IssuedView {
  certificate: CertificateView;
  pem: string;
  /** Issuer first, root last. */
  chainPem: string;
}

export type BatchResultView =
  { ok: true; certificate: CertificateView; pem: string } | { ok: false; error: { code: string; message: string } };

export interface CertificateWithPem extends CertificateView {
  pem: string;
}

export interface CertificateQuery {
  status?: "good" | "revoked" | "expired";
  subject?: string;
  profile?: string;
  /** Duration like "30d". */
  expiringWithin?: string;
  after?: string;
  limit?: number;
}

export interface AuditQuery {
  since?: string;
  serial?: string;
  action?: string;
  actor?: string;
  /** Only refused attempts (auth.deny, cert.refuse, dps.register.refuse, sas.issue.refuse). */
  refusals?: boolean;
  /** Case-insensitive text in the subject, actor, action, serial or details. */
  text?: string;
  /** Newest first unless "oldest" (the order `after` cursors continue in). */
  order?: string;
  after?: string;
  limit?: number;
}

export interface AuditCheckQuery {
  /** Duration like "90d": report CAs expiring within it (default 90d). */
  within?: string;
  /** Duration like "90d": report tokens unused for it (default 90d). */
  unusedFor?: string;
}

export interface ProfileView {
  name: string;
  description: string;
  keyAlgorithms: string[];
  defaultValidityDays: number;
  maxValidityDays: number;
  subjectAltNames: string[];
  extendedKeyUsage: string[];
}
