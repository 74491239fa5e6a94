import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "./errors.js";
import { parseDuration } from "./duration.js";

/** Settings kept in the data directory's config.json, written by `dpki init`. */
export interface DpkiConfig {
  /** Base URL relying parties reach dpki at; CRL, OCSP and CA-issuer URLs in certificates hang off it. */
  publicUrl: string;
  /**
   * Plain-HTTP base URL of the public artefacts (CRLs, OCSP, CA certificates), e.g.
   * "http://pki.example.com:8080": when set, new certificates carry it in their CRL
   * distribution point and AIA instead of publicUrl, as relying parties fetch revocation data
   * over plain HTTP (RFC 5280 §4.2.1.13); `dpki serve --http-port` serves it. null: https only.
   */
  publicHttpUrl: string | null;
  /** How long a CRL is valid (its nextUpdate - thisUpdate). */
  crlValidity: string;
  /** Regenerate the cached CRL when it has less than this left. */
  crlRefreshBefore: string;
  /** Tolerated clock difference when checking notBefore/notAfter of presented credentials. */
  clockSkew: string;
  /** nextUpdate - thisUpdate of OCSP answers (HTTP caches keep them at most a minute). */
  ocspValidity: string;
  /** Lifetime of each issuer's delegated OCSP responder certificate; renewed with a third left. */
  ocspSignerValidity: string;
  /** How long a renewed certificate's predecessor stays good before it is revoked as superseded. */
  renewalGrace: string;
  /** How long after expiry a device may still renew (with proof of possession of the old key); "off" to refuse. */
  expiredRenewalWindow: string;
  /** Longest time a hub may cache an `allow` from POST /v1/hubs/{hub}/device-auth. */
  hubAuthCacheTtl: string;
  /** How often `dpki serve` signs a checkpoint of the issuance log (when entries were added); "off" for on demand only. */
  checkpointInterval: string;
  /**
   * Serve the log as C2SP tlog-tiles (`/v1/log/checkpoint`, `/v1/log/tile/…`) to anyone, as a
   * public transparency log; false: admin and auditor tokens only, as the rest of the audit API.
   */
  logPublic: boolean;
}

export const DEFAULT_CONFIG: DpkiConfig = {
  publicUrl: "https://localhost:8443",
  publicHttpUrl: null,
  crlValidity: "7d",
  crlRefreshBefore: "1d",
  clockSkew: "5m",
  ocspValidity: "5m",
  ocspSignerValidity: "7d",
  renewalGrace: "1d",
  expiredRenewalWindow: "30d",
  hubAuthCacheTtl: "1m",
  checkpointInterval: "5m",
  logPublic: false,
};

export const CONFIG_FILE = "config.json";

export function readConfig(dataDir: string): DpkiConfig {
  const file = join(dataDir, CONFIG_FILE);
  if (!existsSync(file)) return { ...DEFAULT_CONFIG };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new AppError("config_error", `Cannot parse ${file}: ${(err as Error).message}`);
  }
  return validateConfig({ ...DEFAULT_CONFIG, ...(parsed as Partial<DpkiConfig>) }, file);
}

export function writeConfig(dataDir: string, config: DpkiConfig): void {
  writeFileSync(join(dataDir, CONFIG_FILE), JSON.stringify(validateConfig(config, CONFIG_FILE), null, 2) + "\n", { mode: 0o600 });
}

function validateConfig(config: DpkiConfig, source: string): DpkiConfig {
  const unknown = Object.keys(config).filter((k) => !(k in DEFAULT_CONFIG));
  if (unknown.length) throw new AppError("config_error", `${source}: unknown setting ${unknown.join(", ")}`);
  let url: URL;
  try {
    url = new URL(config.publicUrl);
  } catch {
    throw new AppError("config_error", `${source}: publicUrl "${config.publicUrl}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AppError("config_error", `${source}: publicUrl must be http or https`);
  }
  let publicHttpUrl = config.publicHttpUrl;
  if (publicHttpUrl !== null) {
    let http: URL | undefined;
    try {
      http = new URL(String(publicHttpUrl));
    } catch {
      // named below
    }
    if (!http || http.protocol !== "http:" || typeof publicHttpUrl !== "string") {
      throw new AppError("config_error", `${source}: publicHttpUrl "${String(publicHttpUrl)}" is not an http:// URL (or null)`);
    }
    publicHttpUrl = publicHttpUrl.replace(/\/+$/, "");
  }
  for (const key of [
    "crlValidity",
    "crlRefreshBefore",
    "clockSkew",
    "ocspValidity",
    "ocspSignerValidity",
    "renewalGrace",
    "hubAuthCacheTtl",
  ] as const) {
    parseDuration(config[key]);
  }
  if (config.expiredRenewalWindow !== "off") parseDuration(config.expiredRenewalWindow);
  if (config.checkpointInterval !== "off") parseDuration(config.checkpointInterval);
  if (typeof config.logPublic !== "boolean") throw new AppError("config_error", `${source}: logPublic must be true or false`);
  return { ...config, publicUrl: config.publicUrl.replace(/\/+$/, ""), publicHttpUrl };
}
