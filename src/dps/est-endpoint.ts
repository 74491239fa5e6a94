import type { IncomingMessage, ServerResponse } from "node:http";
import { ERROR_TABLE, toAppError } from "../errors.js";
import type { EstEnrollmentService } from "../core/dps/est-enrollment.js";

/** `/.well-known/est[/<label>]/<operation>` (RFC 7030 §3.2.2). */
const PATH = /^\/\.well-known\/est(?:\/([^/]+))?\/(cacerts|simpleenroll|simplereenroll|csrattrs|serverkeygen|fullcmc)$/;
const MAX_CSR_BYTES = 16 * 1024;

export function isEstPath(path: string): boolean {
  return path === "/.well-known/est" || path.startsWith("/.well-known/est/");
}

/** An EST answer: a status, a body and its headers. */
interface EstAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/**
 * The EST endpoint on the device listener. Answers use the RFC's media types: certs-only
 * PKCS#7 (`application/pkcs7-mime`) in base64 with `Content-Transfer-Encoding: base64`;
 * errors are `text/plain` with the HTTP status the RFC names (401 with a Basic challenge when
 * a credential is missing or refused, 400 for a malformed request, 404 for an unknown
 * label or operation, 501 for the optional operations dpki does not offer).
 */
export class EstEndpoint {
  constructor(
    private readonly est: EstEnrollmentService,
    private readonly maxBodyBytes: number,
  ) {}

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    context: { source: string; clientCertificates: Uint8Array[] },
  ): Promise<{ status: number; message?: string }> {
    let answer: EstAnswer;
    try {
      answer = await this.route(req, path, context);
    } catch (err) {
      answer = errorAnswer(err);
      if (!req.complete) answer.headers.connection = "close";
    }
    res.writeHead(answer.status, { "content-length": Buffer.byteLength(answer.body), ...answer.headers });
    res.end(answer.body);
    return { status: answer.status, ...(answer.status >= 400 ? { message: answer.body.trim() } : {}) };
  }

  private async route(
    req: IncomingMessage,
    path: string,
    context: { source: string; clientCertificates: Uint8Array[] },
  ): Promise<EstAnswer> {
    const match = PATH.exec(path);
    if (!match) return plain(404, "Not found: use /.well-known/est[/<label>]/cacerts, simpleenroll, simplereenroll or csrattrs");
    const label = match[1] === undefined ? null : decode(match[1]);
    const operation = match[2]!;
    if (operation === "serverkeygen" || operation === "fullcmc") return plain(501, `${operation} is not offered by this EST server`);
    const method = operation === "cacerts" || operation === "csrattrs" ? "GET" : "POST";
    if (req.method !== method)
      return { ...plain(405, `Method ${req.method} is not allowed here; use ${method}`), headers: { ...TEXT, allow: method } };
    if (operation === "cacerts") {
      await drain(req, this.maxBodyBytes);
      if (label !== null) await this.est.scopeFor(label);
      return pkcs7(await this.est.caCertificates());
    }
    if (operation === "csrattrs") {
      await drain(req, this.maxBodyBytes);
      if (label !== null) await this.est.scopeFor(label);
      // No attributes are required beyond what the enrollment's profile checks (RFC 7030 §4.5.2: 204).
      return { status: 204, body: "", headers: {} };
    }
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim()
      .toLowerCase();
    if (type !== "application/pkcs10") {
      return plain(415, `Content-Type must be application/pkcs10, not ${type.slice(0, 60) || "(none)"}`);
    }
    const body = await readAll(req, Math.min(this.maxBodyBytes, MAX_CSR_BYTES * 2));
    const text = body.toString("latin1").replace(/\s+/g, "");
    if (text.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
      return plain(400, "The request body must be a base64 DER PKCS#10 request");
    }
    const csr = Buffer.from(text, "base64");
    if (csr.length > MAX_CSR_BYTES) return plain(413, `The CSR exceeds ${MAX_CSR_BYTES} bytes`);
    const enrolled = await this.est.enroll({
      label,
      csr,
      reenroll: operation === "simplereenroll",
      basic: basicCredentials(req.headers.authorization),
      clientCertificates: context.clientCertificates,
      sourceAddress: context.source,
    });
    return pkcs7(enrolled.pkcs7);
  }
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function plain(status: number, message: string): EstAnswer {
  return { status, body: `${message}\n`, headers: { ...TEXT } };
}

function pkcs7(der: Uint8Array): EstAnswer {
  return {
    status: 200,
    // One line: strongSwan's EST client does not skip line breaks inside the base64.
    body: Buffer.from(der).toString("base64"),
    headers: { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" },
  };
}

function errorAnswer(err: unknown): EstAnswer {
  if (err instanceof EstHttpError) return plain(err.status, err.message);
  const e = toAppError(err);
  const status = ERROR_TABLE[e.code].status;
  if (status === 401) {
    return { ...plain(401, e.message), headers: { ...TEXT, "www-authenticate": 'Basic realm="dpki EST", charset="UTF-8"' } };
  }
  // RFC 7030 §4.2.3: a refused request is 4xx with a human-readable reason; DPS-style 422s are 400 here.
  const shown = status === 422 ? 400 : status;
  return plain(shown, shown >= 500 && e.code === "internal" ? "Internal error" : e.message);
}

class EstHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new EstHttpError(400, "The request path has invalid percent-encoding");
  }
}

function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) throw new EstHttpError(400, "Authorization must be HTTP Basic (RFC 7617)");
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new EstHttpError(400, "Basic credentials must be user:password");
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readAll(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new EstHttpError(413, `Request body of ${declared} bytes exceeds the limit of ${max}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new EstHttpError(413, `Request body exceeds the limit of ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function drain(req: IncomingMessage, max: number): Promise<void> {
  await readAll(req, max);
}
