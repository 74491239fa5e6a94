import { pemDecode } from "../../ca/pem.js";
import type { CaStatusView } from "../../src/core/authority/ca-rotation-service.js";
import type { AuditEntryView } from "../../src/core/audit/audit-service.js";
import type { AuditCheckReport } from "../../src/core/audit/finding.js";
import type { ChainVerdict } from "../../src/store/audit-chain.js";
import type { CertificateView } from "../../src/core/issuance/certificate-view.js";
import type { CrlInfo } from "../../src/core/authority/crl-service.js";
import type { TokenView } from "../../src/core/tokens/token-service.js";
import type { OperatorView } from "../../src/core/tokens/operator-service.js";
import { parseDuration } from "../../src/duration.js";
import type { AppError } from "../../src/errors.js";
import { queryString, seg, type ApiClient } from "./api-client.js";
import type {
  OperatorDisabledView,
  AuditCheckQuery,
  AuditQuery,
  BatchResultView,
  CertificateOperations,
  CertificateQuery,
  CertificateWithPem,
  LogCheckpointView,
  LogProofView,
  IssueInput,
  IssuedView,
  ProfileView,
  TokenCreateInput,
} from "../../src/operations/certificate-operations.js";
import type { Page } from "../../src/store/store.js";

/** Items per batch request: well inside the server's 1000-item and 4 MiB limits. */
const BATCH_CHUNK = 250;

/**
 * CertificateOperations over the HTTP API, so every command prints the same with --server as
 * locally. Problem responses become AppErrors with the server's code (same exit codes).
 */
export class RemoteCertificateOperations implements CertificateOperations {
  constructor(private readonly api: ApiClient) {}

  caList() {
    return this.api.json<CaStatusView[]>("GET", "/v1/ca");
  }

  async caChainPem() {
    return (await this.api.call("GET", "/v1/ca/chain", { accept: "application/pem-certificate-chain" })).toString("utf8");
  }

  issue(input: IssueInput) {
    if (input.validity) parseDuration(input.validity);
    return this.api.json<IssuedView>("POST", "/v1/certificates", input);
  }

  async issueBatch(items: IssueInput[], onProgress?: (done: number, total: number) => void): Promise<BatchResultView[]> {
    const results: Array<BatchResultView | undefined> = items.map(refuseLocally);
    const pending = items.map((_, i) => i).filter((i) => results[i] === undefined);
    let done = items.length - pending.length;
    for (let at = 0; at < pending.length; at += BATCH_CHUNK) {
      const chunk = pending.slice(at, at + BATCH_CHUNK);
      const reply = await this.api.json<{ results: BatchResultView[] }>("POST", "/v1/certificates/batch", {
        items: chunk.map((i) => items[i]),
      });
      chunk.forEach((i, k) => (results[i] = reply.results[k]));
      done += chunk.length;
      onProgress?.(done, items.length);
    }
    return results as BatchResultView[];
  }

  getCertificate(id: string) {
    return this.api.json<CertificateWithPem>("GET", `/v1/certificates/${encodeURIComponent(id.trim())}`);
  }

  listCertificates(query: CertificateQuery) {
    return this.api.json<Page<CertificateView>>("GET", "/v1/certificates" + queryString({ ...query }));
  }

  revoke(id: string, reason: string) {
    return this.api.json<CertificateView>("POST", `/v1/certificates/${encodeURIComponent(id.trim())}/revoke`, { reason });
  }

  async crl(caId?: string): Promise<{ info: CrlInfo; der: Uint8Array }> {
    const path = caId === undefined ? "/v1/crl" : `/v1/ca/${seg(caId)}/crl`;
    const { pem, ...info } = await this.api.json<CrlInfo & { pem: string }>("GET", path);
    return { info, der: pemDecode(pem, { labels: ["X509 CRL"], what: "CRL" }).der };
  }

  auditLog(query: AuditQuery) {
    return this.api.json<Page<AuditEntryView>>("GET", "/v1/audit" + queryString({ ...query }));
  }

  auditVerify() {
    return this.api.json<ChainVerdict>("GET", "/v1/audit/verify");
  }

  auditCheckpoint() {
    return this.api.json<LogCheckpointView>("GET", "/v1/audit/checkpoint");
  }

  auditProve(target: { serial?: string; seq?: number }) {
    return this.api.json<LogProofView>("GET", "/v1/audit/proof" + queryString({ ...target }));
  }

  auditCheck(query: AuditCheckQuery) {
    // Checked here too, so a typo is a usage error before anything is sent.
    if (query.within) parseDuration(query.within);
    if (query.unusedFor) parseDuration(query.unusedFor);
    return this.api.json<AuditCheckReport>("GET", "/v1/audit/findings" + queryString({ ...query }));
  }

  profiles() {
    return this.api.json<ProfileView[]>("GET", "/v1/profiles");
  }

  tokenCreate(input: TokenCreateInput) {
    if (input.expires) parseDuration(input.expires);
    return this.api.json<{ token: TokenView; secret: string }>("POST", "/v1/tokens", input);
  }

  tokenList() {
    return this.api.json<TokenView[]>("GET", "/v1/tokens");
  }

  tokenRevoke(id: string) {
    return this.api.json<TokenView>("POST", `/v1/tokens/${encodeURIComponent(id.trim())}/revoke`);
  }

  operatorAdd(name: string) {
    return this.api.json<OperatorView>("POST", "/v1/operators", { name });
  }

  operatorList() {
    return this.api.json<OperatorView[]>("GET", "/v1/operators");
  }

  operatorShow(name: string) {
    return this.api.json<OperatorView>("GET", `/v1/operators/${encodeURIComponent(name.trim())}`);
  }

  operatorTotpEnroll(name: string) {
    return this.api.json<{ operator: OperatorView; uri: string }>("POST", `/v1/operators/${encodeURIComponent(name.trim())}/totp`);
  }

  operatorDisable(name: string) {
    return this.api.json<OperatorDisabledView>("POST", `/v1/operators/${encodeURIComponent(name.trim())}/disable`);
  }
}

/** What the server's schema would refuse for the whole batch is refused per item here, as local mode does. */
function refuseLocally(item: IssueInput): BatchResultView | undefined {
  if (!item.csr.trim()) return { ok: false, error: { code: "bad_encoding", message: "Cannot parse CSR: neither PEM nor base64 DER" } };
  if (item.validity) {
    try {
      parseDuration(item.validity);
    } catch (err) {
      return { ok: false, error: { code: (err as AppError).code, message: (err as AppError).message } };
    }
  }
  return undefined;
}
