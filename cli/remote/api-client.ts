import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { AppError, ERROR_TABLE, type ErrorCode } from "../../src/errors.js";

export interface RemoteOptions {
  /** Base URL of a `dpki serve`, e.g. https://pki.example.net:8443. */
  server: string;
  token?: string;
  /** Trust only this CA file (PEM), as curl --cacert does. */
  caFile?: string;
  /** Trusted in addition to the system roots when no caFile is given (the local data directory's root.pem). */
  defaultCaFile?: string;
  /** A one-time password (TOTP step-up) sent with the first request that asks for one. */
  otp?: string;
  /** Asks for a one-time password when the server wants one and none was given (on a terminal). */
  askOtp?: () => Promise<string>;
}

/**
 * A small client for the dpki HTTP API: JSON in and out, bearer token, the server trusted as
 * --ca-file (or the system roots plus the data directory's root.pem) says; problem+json answers
 * become AppErrors with the server's code, so exit codes match local mode.
 */
export class ApiClient {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private otp: string | undefined;

  constructor(private readonly options: RemoteOptions) {
    try {
      this.base = new URL(options.server);
    } catch {
      throw new AppError("invalid_argument", `--server "${options.server}" is not a URL (e.g. https://localhost:8443)`);
    }
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:") {
      throw new AppError("invalid_argument", "--server must be an https:// (or http://) URL");
    }
    this.otp = options.otp;
    this.agent =
      this.base.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ca: trustedCas(options) }) : new HttpAgent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  async json<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const bytes = await this.call(method, path, { body, accept: "application/json", headers });
    return JSON.parse(bytes.toString("utf8")) as T;
  }

  /**
   * One request. A code is accepted once, so --otp goes with the first request only; when the
   * server asks for a code (otp_required) and a terminal can give one, the request is sent again with it.
   */
  async call(
    method: string,
    path: string,
    options: { body?: unknown; accept?: string; headers?: Record<string, string> } = {},
  ): Promise<Buffer> {
    const otp = this.otp;
    this.otp = undefined;
    try {
      return await this.send(method, path, { ...options, headers: { ...options.headers, ...(otp ? { "dpki-otp": otp } : {}) } });
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "otp_required" || otp || !this.options.askOtp) throw err;
      const code = await this.options.askOtp();
      return this.send(method, path, { ...options, headers: { ...options.headers, "dpki-otp": code } });
    }
  }

  private send(
    method: string,
    path: string,
    options: { body?: unknown; accept?: string; headers?: Record<string, string> } = {},
  ): Promise<Buffer> {
    const url = new URL(this.base.pathname.replace(/\/+$/, "") + path, this.base);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = {
      accept: `${options.accept ?? "application/json"}, application/problem+json`,
      ...options.headers,
    };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (payload) headers["content-type"] = "application/json";
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(this.networkError(err)));
        res.on("end", () => {
          const bytes = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(bytes);
          else reject(this.problemError(status, bytes));
        });
      });
      req.on("error", (err) => reject(this.networkError(err)));
      req.end(payload);
    });
  }

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
    if (code === "otp_required" && !this.options.askOtp) message += " (no terminal to ask on)";
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

/** One path segment, percent-encoded. */
export function seg(value: string): string {
  return encodeURIComponent(value.trim());
}

export function queryString(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
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

function codeForStatus(status: number): ErrorCode {
  const match = (Object.entries(ERROR_TABLE) as Array<[ErrorCode, { status: number }]>).find(([, e]) => e.status === status);
  return match?.[0] ?? (status >= 500 ? "unavailable" : "bad_request");
}
