import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import type {
  DerivedKeyView,
  EnrollmentInput,
  EnrollmentView,
  EnrollmentWithKeys,
  HubInput,
  HubView,
  RegistrationView,
  ScopeInput,
  ScopeView,
} from "../src/core/dps-admin-service.js";
import type { DpsOperations, EnrollmentUpdateOptions, PageQuery, RegistrationListQuery, ScopeDetailView } from "../src/dps-operations.js";
import type { EnrollmentKind } from "../src/store/dps-records.js";
import type { Page } from "../src/store/store.js";
import { AppError, ERROR_TABLE, type ErrorCode } from "../src/errors.js";
import type { RemoteOptions } from "./remote-operations.js";

/** DpsOperations over the management API (`/v1/scopes/…`), so --server prints what local mode prints. */
export class RemoteDpsOperations implements DpsOperations {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly options: RemoteOptions) {
    try {
      this.base = new URL(options.server);
    } catch {
      throw new AppError("invalid_argument", `--server "${options.server}" is not a URL (e.g. https://localhost:8443)`);
    }
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:")
      throw new AppError("invalid_argument", "--server must be an https:// URL");
    this.agent =
      this.base.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ca: trustedCas(options) }) : new HttpAgent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  scopeCreate(input: ScopeInput) {
    return this.json<ScopeView>("POST", "/v1/scopes", input);
  }
  scopeList() {
    return this.json<ScopeView[]>("GET", "/v1/scopes");
  }
  scopeGet(idScope: string) {
    return this.json<ScopeDetailView>("GET", scopePath(idScope));
  }
  async scopeDelete(idScope: string, force: boolean) {
    await this.call("DELETE", scopePath(idScope) + query({ force: force ? "true" : undefined }));
  }

  hubCreate(idScope: string, input: HubInput) {
    return this.json<HubView>("POST", `${scopePath(idScope)}/hubs`, input);
  }
  hubList(idScope: string) {
    return this.json<HubView[]>("GET", `${scopePath(idScope)}/hubs`);
  }
  hubGet(idScope: string, name: string) {
    return this.json<HubView>("GET", `${scopePath(idScope)}/hubs/${seg(name)}`);
  }
  hubUpdate(idScope: string, name: string, input: HubInput) {
    return this.json<HubView>("PATCH", `${scopePath(idScope)}/hubs/${seg(name)}`, input);
  }
  async hubDelete(idScope: string, name: string) {
    await this.call("DELETE", `${scopePath(idScope)}/hubs/${seg(name)}`);
  }

  enrollmentCreate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput) {
    const body = kind === "group" ? { groupId: id, ...input } : { registrationId: id, ...input };
    return this.json<EnrollmentWithKeys>("POST", collection(idScope, kind), body);
  }
  enrollmentList(idScope: string, kind: EnrollmentKind, q: PageQuery) {
    return this.json<Page<EnrollmentView>>("GET", collection(idScope, kind) + query({ after: q.after, limit: q.limit }));
  }
  enrollmentGet(idScope: string, kind: EnrollmentKind, id: string) {
    return this.json<EnrollmentView>("GET", `${collection(idScope, kind)}/${seg(id)}`);
  }
  enrollmentUpdate(idScope: string, kind: EnrollmentKind, id: string, input: EnrollmentInput, options: EnrollmentUpdateOptions) {
    const body = { ...input, ...(options.regenerateKeys ? { regenerateKeys: true } : {}) };
    return this.json<EnrollmentWithKeys>(
      "PATCH",
      `${collection(idScope, kind)}/${seg(id)}`,
      body,
      options.ifMatch ? { "if-match": options.ifMatch } : {},
    );
  }
  async enrollmentDelete(idScope: string, kind: EnrollmentKind, id: string) {
    await this.call("DELETE", `${collection(idScope, kind)}/${seg(id)}`);
  }
  groupDeriveKey(idScope: string, groupId: string, registrationId: string) {
    return this.json<DerivedKeyView>("POST", `${collection(idScope, "group")}/${seg(groupId)}/derive-key`, { registrationId });
  }

  registrationList(idScope: string, q: RegistrationListQuery) {
    return this.json<Page<RegistrationView>>(
      "GET",
      `${scopePath(idScope)}/registrations` +
        query({
          status: q.status,
          hub: q.hub,
          enrollmentKind: q.enrollmentKind,
          enrollmentId: q.enrollmentId,
          after: q.after,
          limit: q.limit,
        }),
    );
  }
  registrationGet(idScope: string, registrationId: string) {
    return this.json<RegistrationView>("GET", `${scopePath(idScope)}/registrations/${seg(registrationId)}`);
  }
  async registrationDelete(idScope: string, registrationId: string) {
    await this.call("DELETE", `${scopePath(idScope)}/registrations/${seg(registrationId)}`);
  }

  private async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    return JSON.parse((await this.call(method, path, body, headers)).toString("utf8")) as T;
  }

  private call(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Buffer> {
    const url = new URL(this.base.pathname.replace(/\/+$/, "") + path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: "application/json, application/problem+json", ...extra };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (payload) headers["content-type"] = "application/json";
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(this.networkError(err)));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const data = Buffer.concat(chunks);
          if (status >= 200 && status < 300) resolve(data);
          else reject(this.problemError(status, data));
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
      // not problem+json: fall back on the status
    }
    const code = problem.code && problem.code in ERROR_TABLE ? (problem.code as ErrorCode) : codeForStatus(status);
    let message = typeof problem.detail === "string" ? problem.detail : `Server answered HTTP ${status}`;
    if (code === "unauthorized" && !this.options.token) message += " (pass --token or set DPKI_TOKEN)";
    return new AppError(code, message, problem.context);
  }

  private networkError(err: Error & { code?: string }): AppError {
    const code = err.code ?? "";
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_TLS/.test(code)) {
      return new AppError(
        "unavailable",
        `Cannot trust the server certificate of ${this.base.origin} (${code}): pass --ca-file with the dpki root CA`,
      );
    }
    return new AppError("unavailable", `Cannot reach ${this.base.origin}: ${code || err.message}`);
  }
}

function seg(s: string): string {
  return encodeURIComponent(s.trim());
}

function scopePath(idScope: string): string {
  return `/v1/scopes/${seg(idScope)}`;
}

function collection(idScope: string, kind: EnrollmentKind): string {
  return `${scopePath(idScope)}/${kind === "group" ? "groups" : "enrollments"}`;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const text = q.toString();
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
