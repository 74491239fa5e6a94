import { ParsedCertificate } from "../../ca/x509-certificate.js";
import { hostname } from "node:os";
import type { Services } from "../app.js";
import { jsonLogger, type Logger } from "../http/logger.js";
import { DeviceListener } from "./device-listener.js";
import { issueListenerCertificate } from "./listener-certificate.js";
import type { RateLimit } from "./rate-limiter.js";

export interface DeviceListenerSettings {
  host: string;
  port: number;
  /** PEM certificate chain and key; when absent dpki issues one for `names`. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Host names and IP addresses devices use (SANs of a self-issued certificate). */
  names: string[];
  rateLimit: RateLimit | false;
  respondWithinMs: number;
  retryAfterSeconds: number;
  maxBodyBytes: number;
  actor: string;
  logger?: Logger;
}

export interface RunningDeviceListener {
  listener: DeviceListener;
  url: string;
  names: string[];
  close(): Promise<void>;
}

/** The DNS names and IP addresses a PEM certificate (the first of a chain) covers. */
function certificateNames(pem: string | Buffer): string[] {
  return ParsedCertificate.parse(typeof pem === "string" ? pem : pem.toString("utf8"), "listener certificate").hostNames;
}

/** Default SANs: this machine's name and loopback. */
export function defaultListenerNames(): string[] {
  return [...new Set(["localhost", "127.0.0.1", hostname()])];
}

/** Starts the DPS device endpoint of `services` on its own port, logging one JSON line per request. */
export async function startDeviceListener(services: Services, settings: DeviceListenerSettings): Promise<RunningDeviceListener> {
  const logger = settings.logger ?? jsonLogger();
  const tls = settings.tls ?? (await issueListenerCertificate(services.issuance, settings.names, settings.actor));
  const listener = new DeviceListener({
    // The same registration flow the management API and the tests use, renewal hooks included.
    registrations: services.dps.registrations,
    est: services.dps.est,
    sas: services.dps.sas,
    auditContext: services.auditContext,
    tls,
    host: settings.host,
    port: settings.port,
    rateLimit: settings.rateLimit,
    respondWithinMs: settings.respondWithinMs,
    retryAfterSeconds: settings.retryAfterSeconds,
    maxBodyBytes: settings.maxBodyBytes,
    onRequest: (e) => (e.status >= 500 ? logger.error : logger.info)("dps request", { ...e, ms: Math.round(e.ms * 1000) / 1000 }),
  });
  const address = await listener.listen();
  // Devices must be told a host the listener's certificate names, or their TLS check fails.
  const names = settings.tls ? certificateNames(settings.tls.cert) : settings.names;
  const wildcard = settings.host === "0.0.0.0" || settings.host === "::";
  const shownHost = !wildcard && names.includes(settings.host) ? settings.host : (names[0] ?? settings.host);
  return {
    listener,
    url: `https://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}${address.port === 443 ? "" : `:${address.port}`}`,
    names,
    close: () => listener.close(),
  };
}
