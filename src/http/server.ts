import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { isIP } from "node:net";
import type { Services } from "../app.js";
import { createHttpApp, type HttpApp } from "./http-app.js";
import { jsonLogger, type Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";
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
  /** Stops accepting, lets in-flight requests finish (up to drainMs), then closes connections. Does not close the services. */
  close(): Promise<void>;
}

const RENEW_CHECK_MS = 12 * 3_600_000;

/** Starts the management API on one listener. The caller owns `services` and closes them after close(). */
export async function startServer(services: Services, options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? jsonLogger();
  const http = createHttpApp(services, { logger, metrics: options.metrics });
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
    // A long-running server renews its certificate in place once a third of its lifetime is left.
    renewTimer = setInterval(() => {
      ensureServerCertificate(services, { names, passphrase: self.passphrase, iterations: self.iterations }).then(
        (renewed) => {
          if (!renewed.issued) return;
          https.setSecureContext({ cert: renewed.certPem, key: renewed.keyPem, minVersion: "TLSv1.2" });
          logger.info("renewed server certificate", { serial: renewed.serial, notAfter: renewed.notAfter.toISOString() });
        },
        (err: unknown) => logger.error("cannot renew server certificate", { message: (err as Error).message }),
      );
    }, RENEW_CHECK_MS);
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
  // Credential lifecycle upkeep: renewed certificates superseded on time.
  const stopLifecycle = services.lifecycle.background((what, err) => logger.warn(what, { message: (err as Error)?.message }));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      clearInterval(renewTimer);
      stopLifecycle();
      http.drain();
      logger.info("shutting down: draining requests");
      const cut = setTimeout(() => {
        logger.warn("drain timeout: closing remaining connections", { connections: sockets.size });
        server.closeAllConnections();
      }, options.drainMs ?? 10_000);
      // Keep-alive connections become idle as their last response ends: close them as they do.
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      server.close(() => {
        clearTimeout(cut);
        clearInterval(idle);
        logger.info("stopped");
        resolve();
      });
      server.closeIdleConnections();
    }));
  return { url, host, port, http, server, rootPemFile, close };
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
