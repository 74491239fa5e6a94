import { constants, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import { AppError, ERROR_TABLE, toAppError } from "../errors.js";
import { normaliseAddress } from "../core/dps/cidr.js";
import { isRegistrationId } from "../core/dps/dps-allowlist.js";
import { jsonBoundsProblem } from "../core/json-bounds.js";
import {
  newOperationId,
  type DeviceRequest,
  type DpsService,
  type RegisterBody,
  type RegistrationOutcome,
} from "../core/dps/dps-service.js";
import type { AuditContext } from "../core/audit/audit-context.js";
import { RateLimiter, type RateLimit } from "./rate-limiter.js";
import { answerPlainHttp, listen } from "../http/listen.js";
import type { EstEnrollmentService } from "../core/dps/est-enrollment.js";
import { EstEndpoint, isEstPath } from "./est-endpoint.js";
import type { SasOnDemandService, SasTokenRequest } from "../core/dps/sas-on-demand.js";

export interface DeviceListenerOptions {
  registrations: DpsService;
  /** EST (RFC 7030) under `/.well-known/est/` on the same port, over the same registration flow. */
  est?: EstEnrollmentService;
  /** SAS tokens on demand: `POST /{idScope}/registrations/{id}/sasToken` (404 without it). */
  sas?: SasOnDemandService;
  /** Entries a request causes (a renewal's supersession, …) name the device's address as their source. */
  auditContext?: AuditContext;
  /** The listener's own TLS identity (PEM). */
  tls: { key: string | Buffer; cert: string | Buffer };
  host?: string;
  /** 443 for unmodified Azure SDKs (they cannot use another port). */
  port?: number;
  /** Largest request body accepted (default 64 KiB). */
  maxBodyBytes?: number;
  /** Per-source flood control; false turns it off (benchmarks). Default 50/s, burst 100. */
  rateLimit?: RateLimit | false;
  /**
   * Register requests finished within this time are answered at once (200 with the final
   * state); slower ones (a custom webhook) get 202 `assigning` and the device polls. 0 always
   * answers 202, like Azure DPS. Default 2000 ms.
   */
  respondWithinMs?: number;
  /** Retry-After on 202 answers, whole seconds ≥ 1 (default 1). */
  retryAfterSeconds?: number;
  /** Called once per answered request (logs, metrics). */
  onRequest?: (event: DeviceRequestEvent) => void;
}

export interface DeviceRequestEvent {
  method: string;
  path: string;
  status: number;
  errorCode?: number;
  message?: string;
  source: string;
  ms: number;
}

interface Operation {
  idScope: string;
  registrationId: string;
  done: boolean;
  outcome?: RegistrationOutcome;
  error?: AppError;
  expires: number;
}

const JSON_TYPE = "application/json; charset=utf-8";
const DEFAULT_MAX_BODY = 64 * 1024;
const MAX_CSR_CHARS = 16 * 1024;
const OPERATION_TTL_MS = 10 * 60_000;
const MAX_OPERATIONS = 200_000;
const PATH = /^\/([^/]+)\/registrations\/([^/]+)\/(register|sasToken|operations\/([^/]+))$/;
/** The dpki codes of the device endpoint's own refusals of a registration request, for their log entries (an unknown operation is not one). */
const REFUSAL_CODES: Record<number, string> = { 400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type" };

/** An error answered to a device in the DPS shape. */
class DeviceError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Converted from a service's refusal, which that service already logged. */
    readonly logged = false,
  ) {
    super(message);
  }
}

/**
 * The DPS-compatible device endpoint: `PUT /{idScope}/registrations/{id}/register` and
 * `GET /{idScope}/registrations/{id}/operations/{operationId}` over HTTPS, any api-version.
 * It is its own HTTPS server (own port, own TLS identity), separate from the management API,
 * so it can face the internet. Client certificates are requested, never required, and never
 * trusted by the TLS layer: the X.509 attestor validates them per request.
 * Every answer is JSON (`application/json; charset=utf-8`); errors use the DPS body
 * `{errorCode, trackingId, message, timestampUtc}` and the `x-ms-error-code` header.
 */
export class DeviceListener {
  readonly server: Server;
  private readonly operations = new Map<string, Operation>();
  private readonly limiter: RateLimiter | null;
  private readonly peerChains = new WeakMap<TLSSocket, Uint8Array[]>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly est: EstEndpoint | null;

  constructor(private readonly options: DeviceListenerOptions) {
    this.est = options.est ? new EstEndpoint(options.est, options.maxBodyBytes ?? DEFAULT_MAX_BODY) : null;
    this.limiter = options.rateLimit === false ? null : new RateLimiter(options.rateLimit ?? { perSecond: 50, burst: 100 });
    this.server = createServer(
      {
        key: options.tls.key,
        cert: options.tls.cert,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: "TLSv1.2",
        // A resumed session keeps the client's leaf but not its intermediates, so group X.509
        // chains could not be validated on it: devices always do a full handshake here.
        secureOptions: constants.SSL_OP_NO_TICKET,
        keepAliveTimeout: 30_000,
        headersTimeout: 20_000,
        requestTimeout: 60_000,
      },
      (req, res) => {
        const source = normaliseAddress(req.socket.remoteAddress ?? "");
        const context = options.auditContext;
        void (context ? context.run(source || null, () => this.handle(req, res)) : this.handle(req, res));
      },
    );
    answerPlainHttp(this.server);
    this.server.on("tlsClientError", () => {
      // A failed handshake (scanner, wrong trust store) concerns only that connection.
    });
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async listen(): Promise<AddressInfo> {
    await listen(this.server, this.options.port ?? 443, this.options.host ?? "0.0.0.0");
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const source = normaliseAddress(req.socket.remoteAddress ?? "");
    const path = (req.url ?? "/").split("?")[0]!;
    let status = 500;
    let failure: DeviceError | undefined;
    if (this.est && isEstPath(path)) return this.handleEst(req, res, path, source, started);
    try {
      const answer = await this.route(req, path, source);
      status = answer.status;
      send(res, answer.status, answer.body, answer.headers);
    } catch (err) {
      failure = err instanceof DeviceError ? err : deviceError(err);
      status = failure.status;
      // An unread body would be parsed as the next request: drop the connection instead.
      sendError(res, failure, req.complete ? {} : { connection: "close" });
    } finally {
      this.options.onRequest?.({
        method: req.method ?? "",
        path,
        status,
        ...(failure ? { errorCode: failure.errorCode, message: failure.message } : {}),
        source,
        ms: performance.now() - started,
      });
    }
  }

  private async handleEst(req: IncomingMessage, res: ServerResponse, path: string, source: string, started: number): Promise<void> {
    let status = 500;
    let message: string | undefined;
    try {
      const wait = this.limiter ? this.limiter.take(source) : 0;
      if (wait > 0) {
        status = 429;
        message = "Too many requests from this address";
        res.writeHead(429, { "content-type": "text/plain; charset=utf-8", "retry-after": String(wait) });
        res.end(`${message}\n`);
        return;
      }
      const result = await this.est!.handle(req, res, path, { source, clientCertificates: this.peerChain(req.socket as TLSSocket) });
      status = result.status;
      message = result.message;
    } catch {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      res.end("Internal error\n");
    } finally {
      this.options.onRequest?.({
        method: req.method ?? "",
        path,
        status,
        ...(message ? { message } : {}),
        source,
        ms: performance.now() - started,
      });
    }
  }

  private async route(
    req: IncomingMessage,
    path: string,
    source: string,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    if (this.limiter) {
      const wait = this.limiter.take(source);
      if (wait > 0) throw new DeviceError(429, 429001, "Too many requests from this address", { "retry-after": String(wait) });
    }
    const match = PATH.exec(path);
    if (!match) throw new DeviceError(404, 404001, "Not found: use PUT /{idScope}/registrations/{registrationId}/register");
    const [, rawScope, rawId, action, rawOperation] = match;
    if (action === "sasToken") return this.sasToken(req, rawScope!, rawId!, source);
    const isRegister = action === "register";
    const expected = isRegister ? "PUT" : "GET";
    if (req.method !== expected)
      throw new DeviceError(405, 405001, `Method ${req.method} is not allowed here; use ${expected}`, { allow: expected });
    // What the device claims, as sent until decoded: a refusal of the path itself is logged with it too.
    const claimed = { idScope: rawScope!, registrationId: rawId!, sourceAddress: source };
    try {
      return await this.registration(req, claimed, isRegister, rawOperation);
    } catch (err) {
      // Refusals of the request's form are logged here; those of the device's credential and
      // enrollment by the registration flow, which refused them.
      const code = err instanceof DeviceError && !err.logged ? REFUSAL_CODES[err.status] : undefined;
      if (code && err instanceof DeviceError)
        await this.options.registrations.refused(claimed, { code, message: err.message }, isRegister ? "register" : "poll");
      throw err;
    }
  }

  /** A fresh hub SAS token for an authenticated device; refusals of the request's form are logged here, the rest by the service. */
  private async sasToken(
    req: IncomingMessage,
    rawScope: string,
    rawId: string,
    source: string,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const sas = this.options.sas;
    if (!sas) throw new DeviceError(404, 404001, "SAS tokens on demand are not served here");
    if (req.method !== "POST") throw new DeviceError(405, 405001, `Method ${req.method} is not allowed here; use POST`, { allow: "POST" });
    const claimed = { idScope: rawScope, registrationId: rawId, sourceAddress: source };
    try {
      claimed.idScope = decodeSegment(rawScope);
      claimed.registrationId = decodeSegment(rawId);
      if (!isRegistrationId(claimed.registrationId)) throw new DeviceError(400, 400004, "Registration id is invalid");
      const wanted = parseSasTokenBody(await readBody(req, this.maxBody(), false));
      const issued = await sas.issue(
        {
          idScope: claimed.idScope,
          registrationId: claimed.registrationId,
          authorization: header(req, "authorization"),
          clientCertificates: this.peerChain(req.socket as TLSSocket),
          sourceAddress: source,
        },
        wanted,
      );
      return { status: 200, body: issued, headers: { "cache-control": "no-store" } };
    } catch (err) {
      const code = err instanceof DeviceError && !err.logged ? REFUSAL_CODES[err.status] : undefined;
      if (code && err instanceof DeviceError) await sas.refused(claimed, new AppError(code as "bad_request", err.message));
      throw err;
    }
  }

  private async registration(
    req: IncomingMessage,
    claimed: { idScope: string; registrationId: string; sourceAddress: string },
    isRegister: boolean,
    rawOperation: string | undefined,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const source = claimed.sourceAddress;
    const idScope = (claimed.idScope = decodeSegment(claimed.idScope));
    const registrationId = (claimed.registrationId = decodeSegment(claimed.registrationId));
    if (!isRegistrationId(registrationId)) {
      throw new DeviceError(
        400,
        400004,
        registrationId.length > 128
          ? `Registration id is ${registrationId.length} characters long; at most 128 are allowed`
          : "Registration id is invalid: use 1-128 of A-Z a-z 0-9 - . _ : ending in a letter, digit or -",
      );
    }
    const device: DeviceRequest = {
      idScope,
      registrationId,
      authorization: header(req, "authorization"),
      clientCertificates: this.peerChain(req.socket as TLSSocket),
      sourceAddress: source,
    };
    if (isRegister) {
      const body = parseRegisterBody(await readBody(req, this.maxBody(), true), registrationId);
      return this.register(device, body);
    }
    await readBody(req, this.maxBody(), false);
    return this.poll(device, decodeSegment(rawOperation!));
  }

  private async register(request: DeviceRequest, body: RegisterBody) {
    const registrations = this.options.registrations;
    const device = await registrations.admit(request, body);
    const operationId = newOperationId();
    const op: Operation = { idScope: device.idScope, registrationId: device.registrationId.toLowerCase(), done: false, expires: Infinity };
    this.remember(operationId, op);
    const work = registrations.register(device, body, operationId).then(
      (outcome) => {
        op.outcome = outcome;
        op.done = true;
        op.expires = Date.now() + OPERATION_TTL_MS;
      },
      (err: unknown) => {
        op.error = toAppError(err);
        op.done = true;
        op.expires = Date.now() + OPERATION_TTL_MS;
      },
    );
    const waitMs = this.options.respondWithinMs ?? 2000;
    if (waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    if (op.done) return this.answer(operationId, op);
    return {
      status: 202,
      body: { operationId, status: "assigning" },
      headers: { "retry-after": String(this.retryAfter()) },
    };
  }

  private async poll(request: DeviceRequest, operationId: string) {
    const device = await this.options.registrations.admit(request, {}, { poll: true });
    const op = this.operations.get(operationId);
    if (op && op.idScope === device.idScope && op.registrationId === device.registrationId.toLowerCase()) {
      if (op.done) return this.answer(operationId, op);
      return {
        status: 202,
        body: { operationId, status: "assigning", registrationState: { registrationId: device.registrationId, status: "assigning" } },
        headers: { "retry-after": String(this.retryAfter()) },
      };
    }
    const stored = await this.options.registrations.storedOutcome(device, operationId);
    if (!stored) throw new DeviceError(404, 404001, `No operation ${operationId.slice(0, 80)} for registration ${device.registrationId}`);
    return { status: 200, body: stored };
  }

  private answer(operationId: string, op: Operation) {
    if (op.error) throw deviceError(op.error);
    return { status: 200, body: op.outcome! };
  }

  private remember(operationId: string, op: Operation): void {
    if (this.operations.size >= MAX_OPERATIONS) this.sweep();
    if (this.operations.size >= MAX_OPERATIONS) this.operations.delete(this.operations.keys().next().value!);
    this.operations.set(operationId, op);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, op] of this.operations) if (op.expires < now) this.operations.delete(id);
  }

  private retryAfter(): number {
    return Math.max(1, Math.round(this.options.retryAfterSeconds ?? 1));
  }

  private maxBody(): number {
    return this.options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  }

  /**
   * The client's certificates, leaf first, as the handshake delivered them. A socket whose peer
   * certificate has no subject (none sent, or a resumed session) has none: `authorized` is
   * never consulted.
   */
  private peerChain(socket: TLSSocket): Uint8Array[] {
    let chain = this.peerChains.get(socket);
    if (chain) return chain;
    chain = [];
    const peer = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate(true) : null;
    if (peer && peer.raw && peer.subject && Object.keys(peer.subject).length > 0) {
      const seen = new Set<string>();
      let cert: DetailedPeerCertificate | undefined = peer;
      while (cert?.raw && !seen.has(cert.fingerprint256) && chain.length < 10) {
        seen.add(cert.fingerprint256);
        chain.push(new Uint8Array(cert.raw));
        const next: DetailedPeerCertificate | undefined = cert.issuerCertificate;
        cert = next && next !== cert ? next : undefined;
      }
    }
    this.peerChains.set(socket, chain);
    return chain;
  }
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new DeviceError(400, 400004, "The request path has invalid percent-encoding");
  }
}

/** Reads the body up to `max` bytes; a register request must be JSON. */
async function readBody(req: IncomingMessage, max: number, requireJson: boolean): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new DeviceError(413, 413001, `Request body of ${declared} bytes exceeds the limit of ${max}`);
  if (requireJson) {
    const type = (header(req, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      throw new DeviceError(415, 415001, `Content-Type must be application/json, not ${type.slice(0, 60) || "(none)"}`);
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new DeviceError(413, 413001, `Request body exceeds the limit of ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The two request fields that carry a CSR: today's `csr` (answered with issuedCertificateChain)
 * and the older `clientCertificateCsr` that IoT Edge's identity service sends (answered with
 * issuedClientCertificate and trustBundle).
 */
const CSR_FIELDS = ["csr", "clientCertificateCsr"] as const;

/** `{registrationId?, payload?, csr? | clientCertificateCsr?}`; other fields are ignored, as newer SDKs may add some. */
function parseRegisterBody(bytes: Buffer, registrationId: string): RegisterBody {
  if (bytes.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new DeviceError(400, 400004, "Cannot parse the request body: malformed JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new DeviceError(400, 400004, "The request body must be a JSON object");
  const fields = doc as Record<string, unknown>;
  if (fields.registrationId !== undefined) {
    if (typeof fields.registrationId !== "string" || fields.registrationId.toLowerCase() !== registrationId.toLowerCase()) {
      throw new DeviceError(400, 400004, "registrationId in the body does not match the one in the path");
    }
  }
  if (fields.tpm !== undefined) throw new DeviceError(400, 400004, "TPM attestation is not supported by this service");
  const body: RegisterBody = {};
  if (fields.payload !== undefined) {
    const unbounded = jsonBoundsProblem(fields.payload, "payload");
    if (unbounded) throw new DeviceError(400, 400004, unbounded);
    body.payload = fields.payload;
  }
  const given = CSR_FIELDS.filter((name) => fields[name] !== undefined && fields[name] !== null);
  if (given.length > 1) {
    throw new DeviceError(400, 400004, "Send csr or clientCertificateCsr, not both: each asks for a certificate in its own answer format");
  }
  const field = given[0];
  if (field !== undefined) {
    const csr = fields[field];
    if (
      typeof csr !== "string" ||
      csr.length === 0 ||
      csr.length > MAX_CSR_CHARS ||
      csr.length % 4 !== 0 ||
      !/^[A-Za-z0-9+/]+={0,2}$/.test(csr)
    ) {
      throw new DeviceError(400, 400004, `${field} must be a base64 DER PKCS#10 request (no PEM armour)`);
    }
    body.csr = csr;
    body.csrField = field;
  }
  return body;
}

/** `{ttlSeconds?}`, or no body at all. */
function parseSasTokenBody(bytes: Buffer): SasTokenRequest {
  if (bytes.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new DeviceError(400, 400004, "Cannot parse the request body: malformed JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new DeviceError(400, 400004, "The request body must be a JSON object");
  const ttl = (doc as Record<string, unknown>).ttlSeconds;
  if (ttl === undefined || ttl === null) return {};
  if (typeof ttl !== "number") throw new DeviceError(400, 400004, "ttlSeconds must be a number of seconds");
  return { ttlSeconds: ttl };
}

/** DPS codes: HTTP status × 1000 plus a sub-code (401002 unauthorized, 400004 invalid argument, …). */
function deviceError(err: unknown): DeviceError {
  if (err instanceof DeviceError) return err;
  const e = toAppError(err);
  // DPS speaks 400 for every refused input (a profile violation included), never 422 or 413-ish variants.
  const tableStatus = ERROR_TABLE[e.code].status;
  const status = tableStatus === 422 ? 400 : tableStatus;
  const sub = status === 401 ? 2 : status === 400 ? 4 : status >= 500 ? 0 : 1;
  const message = status >= 500 && e.code === "internal" ? "Internal error" : e.message;
  return new DeviceError(status, status * 1000 + sub, message, {}, true);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: DeviceError, extraHeaders: Record<string, string>): void {
  if (res.headersSent) return void res.destroy();
  send(
    res,
    err.status,
    { errorCode: err.errorCode, trackingId: randomUUID(), message: err.message, timestampUtc: new Date().toISOString() },
    { "x-ms-error-code": String(err.errorCode), ...err.headers, ...extraHeaders },
  );
}
