import { parseDuration } from "../duration.js";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { isIP } from "node:net";
import type { Services } from "../app.js";
import { AppError } from "../errors.js";
import { sendBody } from "./exchange.js";
import { createHttpApp, type HttpApp } from "./http-app.js";
import { PROBLEM_CONTENT_TYPE, problemOf } from "./problem.js";
import { jsonLogger, type Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";
import { pemEncode } from "../../ca/pem.js";
import { ensureServerCertificate, writeRootPem } from "./server-certificate.js";
import { answerPlainHttp, listen } from "./listen.js";

export type TlsSource =
  /** A certificate (with chain) and key given by the operator, PEM. */
  | { cert: string | Buffer; key: string | Buffer; passphrase?: string }
  /** dpki's own certificate for the listen names, issued and renewed from its CA. */
  | { self: { passphrase: string; iterations?: number } }
  /** Plain HTTP (--insecure-http). */
  | "none";

export interface ServeOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  tls: TlsSource;
  logger?: Logger;
  metrics?: HttpMetrics;
  /** How long in-flight requests may take to finish after close() before connections are cut. */
  drainMs?: number;
  /**
   * Also serve the public, signed artefacts (CRLs, OCSP, CA certificates) over plain HTTP on
   * this port (0 picks one), on `host`. `optional`: a port already in use is logged, not fatal.
   */
  publicHttp?: { port: number; optional?: boolean };
}

export interface RunningServer {
  /** Base URL, e.g. https://localhost:8443. */
  url: string;
  host: string;
  port: number;
  http: HttpApp;
  server: Server | HttpsServer;
  /** The root CA PEM file clients can trust (self-issued TLS only). */
  rootPemFile?: string;
  /** The plain-HTTP listener of the public artefacts, when it runs: e.g. http://localhost:8080. */
  publicHttpUrl?: string;
  /** Stops accepting, lets in-flight requests finish (up to drainMs), then closes connections. Does not close the services. */
  close(): Promise<void>;
}

const RENEW_CHECK_MS = 12 * 3_600_000;
/** How often a self-issued TLS server looks for a rollover (new issuer, cross certificate added or dropped). */
const CHAIN_CHECK_MS = 3_000;

/** Starts the management API on one listener. The caller owns `services` and closes them after close(). */
export async function startServer(services: Services, options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? jsonLogger();
  const http = createHttpApp(services, { logger, metrics: options.metrics });
  // The refusal stands either way; an operator must hear that its entry was lost.
  services.refusals.onError = (err) => logger.error("cannot log a refused request", { message: (err as Error)?.message });
  const names = listenNames(host, services.config.publicUrl);

  let server: Server | HttpsServer;
  let renewTimer: NodeJS.Timeout | undefined;
  let rootPemFile: string | undefined;
  if (options.tls === "none") {
    server = createHttpServer(http.listener);
    logger.warn("serving plain HTTP (--insecure-http): tokens and keys cross the network unprotected");
  } else if ("self" in options.tls) {
    const self = options.tls.self;
    const tlsCert = await ensureServerCertificate(services, { names, passphrase: self.passphrase, iterations: self.iterations });
    rootPemFile = await writeRootPem(services);
    logger.info(tlsCert.issued ? "issued server certificate" : "reusing server certificate", {
      serial: tlsCert.serial,
      notAfter: tlsCert.notAfter.toISOString(),
      names,
    });
    const https = createHttpsServer({ cert: tlsCert.certPem, key: tlsCert.keyPem, minVersion: "TLSv1.2" }, http.listener);
    server = https;
    answerPlainHttp(https);
    let served = { certPem: tlsCert.certPem, issuer: (await services.ca.activeIssuer()).ca.id };
    let checking = false;
    // A long-running server renews its certificate once a third of its lifetime is left, and follows a
    // rollover (by any process) within seconds: a new issuer or a changed chain is served, and root.pem rewritten.
    const check = async (renew: boolean) => {
      await writeRootPem(services);
      const issuer = await services.ca.activeIssuer();
      const chainPem = issuer.chain.map((der) => pemEncode("CERTIFICATE", der)).join("");
      if (!renew && issuer.ca.id === served.issuer && served.certPem.endsWith(chainPem)) return;
      const next = await ensureServerCertificate(services, { names, passphrase: self.passphrase, iterations: self.iterations });
      if (next.certPem === served.certPem) return;
      https.setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion: "TLSv1.2" });
      served = { certPem: next.certPem, issuer: issuer.ca.id };
      logger.info(next.issued ? "renewed server certificate" : "serving a new certificate chain", {
        serial: next.serial,
        notAfter: next.notAfter.toISOString(),
      });
    };
    let lastRenewCheck = Date.now();
    renewTimer = setInterval(() => {
      if (checking) return;
      checking = true;
      const renew = Date.now() - lastRenewCheck >= RENEW_CHECK_MS;
      if (renew) lastRenewCheck = Date.now();
      check(renew)
        .catch((err: unknown) => logger.error("cannot renew server certificate", { message: (err as Error).message }))
        .finally(() => (checking = false));
    }, CHAIN_CHECK_MS);
    renewTimer.unref();
  } else {
    const https = createHttpsServer(
      { cert: options.tls.cert, key: options.tls.key, passphrase: options.tls.passphrase, minVersion: "TLSv1.2" },
      http.listener,
    );
    answerPlainHttp(https);
    server = https;
  }
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await listen(server, options.port ?? 8443, host);
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls === "none" ? "http" : "https";
  const url = `${scheme}://${urlHost(host)}:${port}`;
  logger.info("listening", { url, host, port, tls: scheme === "https" });
  let plain: Server | undefined;
  let publicHttpUrl: string | undefined;
  if (options.publicHttp) {
    plain = createHttpServer(publicArtefactsOnly(http.listener));
    plain.requestTimeout = 30_000;
    plain.headersTimeout = 10_000;
    const bound = await listen(plain, options.publicHttp.port, host).then(
      () => true,
      (err: unknown) => {
        if (!options.publicHttp!.optional || !(err instanceof AppError && err.detail?.reason === "address_in_use")) {
          server.close();
          throw err;
        }
        logger.warn("plain-HTTP listener for CRLs, OCSP and CA certificates not started: port in use", {
          port: options.publicHttp!.port,
        });
        return false;
      },
    );
    if (bound) {
      publicHttpUrl = `http://${urlHost(host)}:${(plain.address() as AddressInfo).port}`;
      logger.info("serving CRLs, OCSP and CA certificates over plain HTTP", { url: publicHttpUrl });
    } else plain = undefined;
  }
  // Credential lifecycle upkeep: renewed certificates superseded on time.
  const stopLifecycle = services.lifecycle.background((what, err) => logger.warn(what, { message: (err as Error)?.message }));
  // The issuance log: a signed checkpoint at the configured interval, so a cut tail shows.
  const interval = services.config.checkpointInterval;
  const checkpointTimer =
    interval === "off"
      ? undefined
      : setInterval(() => {
          services.log.checkpoint().catch((err) => logger.warn("cannot sign a log checkpoint", { message: (err as Error)?.message }));
        }, parseDuration(interval));
  checkpointTimer?.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      clearInterval(renewTimer);
      clearInterval(checkpointTimer);
      stopLifecycle();
      http.drain();
      logger.info("shutting down: draining requests");
      const cut = setTimeout(() => {
        logger.warn("drain timeout: closing remaining connections", { connections: sockets.size });
        server.closeAllConnections();
      }, options.drainMs ?? 10_000);
      // Keep-alive connections become idle as their last response ends: close them as they do.
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      plain?.close();
      plain?.closeAllConnections();
      server.close(() => {
        clearTimeout(cut);
        clearInterval(idle);
        logger.info("stopped");
        resolve();
      });
      server.closeIdleConnections();
    }));
  return { url, host, port, http, server, rootPemFile, publicHttpUrl, close };
}

/**
 * What the plain-HTTP listener answers: the signed, public artefacts relying parties fetch
 * without TLS (whose own revocation check would need them) — CRLs, OCSP, CA certificates —
 * and nothing of the API, which answers 404 there. Credentials are dropped: these routes are
 * public, and a token sent in clear must not act.
 */
const PUBLIC_ARTEFACTS: Array<{ methods: string[]; path: RegExp }> = [
  { methods: ["GET", "HEAD"], path: /^\/v1\/ca\/[^/]+\/(?:crl|cert\.der)$/ },
  { methods: ["GET", "HEAD"], path: /^\/v1\/(?:crl|crl\.pem|ca\/root\.der|ca\/root\.pem|ca\/issuer\.der|ca\/chain)$/ },
  { methods: ["GET", "HEAD"], path: /^\/ocsp\/.+$/ },
  { methods: ["POST"], path: /^\/ocsp$/ },
];

function publicArtefactsOnly(listener: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "").split("?")[0]!;
    if (PUBLIC_ARTEFACTS.some((a) => a.methods.includes(req.method ?? "") && a.path.test(path))) {
      delete req.headers.authorization;
      return listener(req, res);
    }
    const problem = problemOf(
      new AppError("not_found", "Only CRLs, OCSP and CA certificates are served over plain HTTP: use https for the API"),
      undefined,
    );
    sendBody(res, 404, `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, JSON.stringify(problem));
  };
}

/** The names the self-issued certificate covers: loopback, the listen host and publicUrl's host. */
export function listenNames(host: string, publicUrl: string): string[] {
  const names = ["localhost", "127.0.0.1", "::1"];
  if (host && host !== "0.0.0.0" && host !== "::") names.push(host);
  try {
    names.push(new URL(publicUrl).hostname.replace(/^\[|\]$/g, ""));
  } catch {
    // publicUrl is validated when the config is read
  }
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "127.0.0.1" || host === "::1") return "localhost";
  return isIP(host) === 6 ? `[${host}]` : host;
}
