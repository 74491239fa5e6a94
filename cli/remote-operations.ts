import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { pemDecode } from "../ca/pem.js";
import type { CaView } from "../src/core/ca-service.js";
import type { AuditEntryView } from "../src/core/audit-service.js";
import type { ChainVerdict } from "../src/core/audit-chain.js";
import type { CertificateView } from "../src/core/certificate-view.js";
import type { CrlInfo } from "../src/core/crl-service.js";
import type { TokenView } from "../src/core/token-service.js";
import { parseDuration } from "../src/duration.js";
import { AppError, ERROR_TABLE, type ErrorCode } from "../src/errors.js";
import type {
  AuditQuery,
  BatchResultView,
  CertificateQuery,
  CertificateWithPem,
  IssueInput,
  IssuedView,
  Operations,
  ProfileView,
  TokenCreateInput,
} from "../src/operations.js";
import type { Page } from "../src/store/store.js";

export interface RemoteOptions {
  /** Base URL of a `dpki serve`, e.g. https://pki.example.net:8443. */
  server: string;
  token?: string;
  /** Trust only this CA file (PEM), as curl --cacert does. */
  caFile?: string;
  /** Trusted in addition to the system roots when no caFile is given (the local data directory's root.pem). */
  defaultCaFile?: string;
}

/** Items per batch request: well inside the server's 1000-item and 4 MiB limits. */
const BATCH_CHUNK = 250;

/**
 * The Operations facade over the HTTP API, so every command prints the same with --server as
 * locally. Problem responses become AppErrors with the server's code (same exit codes).
 */
export class RemoteOperations implements Operations {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly options: RemoteOptions) {
    try {
      this.base = new URL(options.server);
    } catch {
      throw new AppError("invalid_argument", `--server "${options.server}" is not a URL (e.g. https://localhost:8443)`);
    }
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:") {
      throw new AppError("invalid_argument", `--server must be an https:// (or http://) URL`);
    }
    this.agent =
      this.base.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ca: trustedCas(options) }) : new HttpAgent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  caList() {
    return this.json<CaView[]>("GET", "/v1/ca");
  }

  async caChainPem() {
    return (await this.call("GET", "/v1/ca/chain", { accept: "application/pem-certificate-chain" })).toString("utf8");
  }

  issue(input: IssueInput) {
    if (input.validity) parseDuration(input.validity);
    return this.json<IssuedView>("POST", "/v1/certificates", { body: input });
  }

  async issueBatch(items: IssueInput[], onProgress?: (done: number, total: number) => void): Promise<BatchResultView[]> {
    const results: Array<BatchResultView | undefined> = items.map(refuseLocally);
    const pending = items.map((_, i) => i).filter((i) => results[i] === undefined);
    let done = items.length - pending.length;
    for (let at = 0; at < pending.length; at += BATCH_CHUNK) {
      const chunk = pending.slice(at, at + BATCH_CHUNK);
      const reply = await this.json<{ results: BatchResultView[] }>("POST", "/v1/certificates/batch", {
        body: { items: chunk.map((i) => items[i]) },
      });
      chunk.forEach((i, k) => (results[i] = reply.results[k]));
      done += chunk.length;
      onProgress?.(done, items.length);
    }
    return results as BatchResultView[];
  }

  getCertificate(id: string) {
    return this.json<CertificateWithPem>("GET", `/v1/certificates/${encodeURIComponent(id.trim())}`);
  }

  listCertificates(query: CertificateQuery) {
    return this.json<Page<CertificateView>>("GET", "/v1/certificates" + queryString({ ...query }));
  }

  revoke(id: string, reason: string) {
    return this.json<CertificateView>("POST", `/v1/certificates/${encodeURIComponent(id.trim())}/revoke`, { body: { reason } });
  }

  async crl(): Promise<{ info: CrlInfo; der: Uint8Array }> {
    const { pem, ...info } = await this.json<CrlInfo & { pem: string }>("GET", "/v1/crl");
    return { info, der: pemDecode(pem, { labels: ["X509 CRL"], what: "CRL" }).der };
  }

  auditLog(query: AuditQuery) {
    return this.json<Page<AuditEntryView>>("GET", "/v1/audit" + queryString({ ...query }));
  }

  auditVerify() {
    return this.json<ChainVerdict>("GET", "/v1/audit/verify");
  }

  profiles() {
    return this.json<ProfileView[]>("GET", "/v1/profiles");
  }

  tokenCreate(input: TokenCreateInput) {
    if (input.expires) parseDuration(input.expires);
    return this.json<{ token: TokenView; secret: string }>("POST", "/v1/tokens", { body: input });
  }

  tokenList() {
    return this.json<TokenView[]>("GET", "/v1/tokens");
  }

  tokenRevoke(id: string) {
    return this.json<TokenView>("POST", `/v1/tokens/${encodeURIComponent(id.trim())}/revoke`);
  }

  private async json<T>(method: string, path: string, options: { body?: unknown } = {}): Promise<T> {
    const bytes = await this.call(method, path, { ...options, accept: "application/json" });
    return JSON.parse(bytes.toString("utf8")) as T;
  }

  private call(method: string, path: string, options: { body?: unknown; accept: string }): Promise<Buffer> {
    const url = new URL(this.base.pathname.replace(/\/+$/, "") + path, this.base);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = { accept: `${options.accept}, application/problem+json` };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (payload) headers["content-type"] = "application/json";
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(this.networkError(err)));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(body);
          reject(this.problemError(status, body));
        });
      });
      req.on("error", (err) => reject(this.networkError(err)));
      req.end(payload);
    });
  }

  /** The server's problem+json as an AppError with the same code, so the exit code matches local mode. */
  private problemError(status: number, body: Buffer): AppError {
    let problem: { code?: string; detail?: string; context?: Record<string, unknown> } = {};
    try {
      problem = JSON.parse(body.toString("utf8"));
    } catch {
      // not problem+json (a proxy in between?): fall back on the status
    }
    const code = problem.code && problem.code in ERROR_TABLE ? (problem.code as ErrorCode) : codeForStatus(status);
    let message = typeof problem.detail === "string" ? problem.detail : `Server answered HTTP ${status}`;
    if (code === "unauthorized" && !this.options.token) message += " (pass --token or set DPKI_TOKEN)";
    return new AppError(code, message, problem.context);
  }

  private networkError(err: Error & { code?: string }): AppError {
    const where = this.base.origin;
    const code = err.code ?? "";
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_TLS/.test(code)) {
      return new AppError(
        "unavailable",
        `Cannot trust the server certificate of ${where} (${code}): pass --ca-file with the dpki root CA (root.pem)`,
      );
    }
    if (code === "ECONNREFUSED") return new AppError("unavailable", `Cannot reach ${where}: connection refused (is dpki serve running?)`);
    if (code === "ENOTFOUND") return new AppError("unavailable", `Cannot reach ${where}: unknown host`);
    return new AppError("unavailable", `Cannot reach ${where}: ${code || err.message}`);
  }
}

function trustedCas(options: RemoteOptions): string[] | undefined {
  if (options.caFile) {
    try {
      return [readFileSync(options.caFile, "utf8")];
    } catch {
      throw new AppError("not_found", `Cannot read --ca-file ${options.caFile}`);
    }
  }
  if (options.defaultCaFile && existsSync(options.defaultCaFile)) return [...rootCertificates, readFileSync(options.defaultCaFile, "utf8")];
  return undefined;
}

function queryString(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

function codeForStatus(status: number): ErrorCode {
  const match = (Object.entries(ERROR_TABLE) as Array<[ErrorCode, { status: number }]>).find(([, e]) => e.status === status);
  return match?.[0] ?? (status >= 500 ? "unavailable" : "bad_request");
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
