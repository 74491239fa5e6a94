/** Boots the real server (HTTPS, ephemeral loopback port, temp data dir) and talks to it with node:https. */
import { generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest, Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { openServices, type Services } from "../../src/app.js";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteTokenStore } from "../../src/store/sqlite/sqlite-token-store.js";
import { TokenService } from "../../src/core/tokens/token-service.js";
import { jsonLogger } from "../../src/http/logger.js";
import { startServer, type RunningServer } from "../../src/http/server.js";
import type { TokenRole } from "../../src/store/token-store.js";
import type { Clock } from "../../src/clock.js";
import { isRefusal } from "../helpers/services.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

export const PASSPHRASE = "test-passphrase";
export const ITERATIONS = 1000;

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: any;
}

export interface RequestOptions {
  token?: string;
  /** JSON-encoded unless a string or Buffer. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestServer {
  dir: string;
  services: Services;
  server: RunningServer;
  url: string;
  rootPem: string;
  rootPemFile: string;
  logs: string[];
  clock: ShiftClock;
  tokens: Record<TokenRole, string>;
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

/** The server's clock: real time plus an offset tests move (to expire tokens). */
export interface ShiftClock extends Clock {
  offsetMs: number;
}

export interface TestServerOptions {
  /** Reuse a data directory left by an earlier server (kept on close). */
  dir?: string;
  keepDir?: boolean;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "dpki-http-"));
  const clock: ShiftClock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
  const services = openServices({ dataDir: join(dir, "data"), passphrase: PASSPHRASE, keyIterations: ITERATIONS, create: true, clock });
  const fresh = (await services.ca.list()).length === 0;
  if (fresh) await services.ca.init({ algorithm: "P-256", organization: "Test", actor: "test" });
  const logs: string[] = [];
  const server = await startServer(services, {
    port: 0,
    tls: { self: { passphrase: PASSPHRASE, iterations: ITERATIONS } },
    logger: jsonLogger((line) => logs.push(line)),
    drainMs: 2000,
  });
  const rootPemFile = server.rootPemFile!;
  const rootPem = readFileSync(rootPemFile, "utf8");
  const agent = new Agent({ keepAlive: true, ca: rootPem });
  const tokens = {} as Record<TokenRole, string>;
  const suffix = fresh ? "" : `-${Date.now()}`;
  tokens.admin = (await services.tokens.create({ role: "admin", name: `t-admin${suffix}` }, "test")).secret;
  tokens.operator = (await services.tokens.create({ role: "operator", name: `t-operator${suffix}` }, "test")).secret;
  tokens.factory = (await services.tokens.create({ role: "factory", name: `t-factory${suffix}`, profiles: ["device"] }, "test")).secret;
  tokens.hub = await hubTokenWithoutHub(services, `t-hub${suffix}`);
  tokens.auditor = (await services.tokens.create({ role: "auditor", name: `t-auditor${suffix}` }, "test")).secret;

  const request = (method: string, path: string, options: RequestOptions = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...options.headers };
      let payload: Buffer | undefined;
      if (options.body !== undefined) {
        payload = Buffer.isBuffer(options.body)
          ? options.body
          : Buffer.from(typeof options.body === "string" ? options.body : JSON.stringify(options.body));
        if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
      }
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      // The raw path goes out as given (no URL normalisation), so tests can send "%2e%2e" and "../".
      const req = httpsRequest({ hostname: "localhost", port: server.port, path, method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const text = body.toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, body, text, json });
        });
      });
      req.on("error", reject);
      req.end(payload);
    });

  return {
    dir,
    services,
    server,
    url: server.url,
    rootPem,
    rootPemFile,
    logs,
    clock,
    tokens,
    request,
    close: async () => {
      agent.destroy();
      await server.close();
      await services.close();
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh P-256 key and CSR (PEM) for `cn`, optionally with SANs. */
export async function makeCsr(cn: string, sans: Array<{ type: "dns" | "ip"; value: string }> = []): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", publicKey.export({ type: "spki", format: "der" }), alg, true, ["verify"]),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`,
    keys: keys as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return csr.toString("pem");
}

/** Counts that must not move when a request is refused: log entries of changes (refusals have entries of their own). */
export async function stateCounts(services: Services): Promise<{ certificates: number; audit: number; tokens: number }> {
  let audit = 0;
  for await (const batch of services.store.auditEntries()) audit += batch.filter((e) => !isRefusal(e.action)).length;
  return { certificates: await services.store.countCertificates(), audit, tokens: (await services.tokens.list()).length };
}

/**
 * The role tests need a hub token before any hub exists; the service refuses that (a token for a
 * missing hub is useless to an operator), so this one is made with no hub check.
 */
async function hubTokenWithoutHub(services: Services, name: string): Promise<string> {
  const db = new SqliteDb(services.dataDir.database);
  try {
    const tokens = new TokenService(new SqliteTokenStore(db), services.clock, () => services.policies.profiles.keys());
    return (await tokens.create({ role: "hub", name, hub: "hub-1" }, "test")).secret;
  } finally {
    db.close();
  }
}
