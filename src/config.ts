import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "./errors.js";
import { parseDuration } from "./duration.js";

/** Where CA keys are made: encrypted files in <data-dir>/keys, or a PKCS#11 token. */
export const KEY_PROVIDERS = ["software", "pkcs11"] as const;
export type KeyProviderName = (typeof KEY_PROVIDERS)[number];

/** The PKCS#11 token CA keys live in. Never a PIN: that comes from pinFile or DPKI_PKCS11_PIN. */
export interface Pkcs11Settings {
  /** Path of the module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  /** A file holding the user PIN (one line); DPKI_PKCS11_PIN, when set, is used instead. */
  pinFile?: string;
  /** Sessions signing in parallel (default 4). */
  sessions?: number;
}

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
   * Where the records live: "sqlite" (dpki.db in the data directory) or "postgres" (the database
   * named by --database or DPKI_DATABASE_URL, which no file holds: it may carry a password).
   */
  database: "sqlite" | "postgres";
  /** Refused attempts in the issuance log: the window they are counted in… */
  refusalLogWindow: string;
  /** …at most this many entries per action, error code and source address in one window… */
  refusalLogPerSource: number;
  /** …and this many altogether; the rest are counted, one entry per count when the window closes. */
  refusalLogPerWindow: number;
  /**
   * Serve the log as C2SP tlog-tiles (`/v1/log/checkpoint`, `/v1/log/tile/…`) to anyone, as a
   * public transparency log; false: admin and auditor tokens only, as the rest of the audit API.
   */
  logPublic: boolean;
  /** Where new CA keys (intermediates, OCSP responders, roots unless rootKeyProvider says otherwise) are made. */
  keyProvider: KeyProviderName;
  /**
   * Where a new root's key is made, when not in keyProvider: "software", "pkcs11", or "offline"
   * (the root key is kept off this machine: operations that need it are a ceremony, README
   * "Offline root"). null: keyProvider.
   */
  rootKeyProvider: KeyProviderName | "offline" | null;
  /** The token when a key provider is "pkcs11"; null otherwise. */
  pkcs11: Pkcs11Settings | null;
  /** nextUpdate - thisUpdate of a CRL an offline root signs in a ceremony: the time until the next one is due. */
  offlineCrlValidity: string;
  /**
   * Which actions of an operator enrolled in TOTP need a fresh one-time password (DPKI-OTP
   * header): "writes" (every POST, PUT, PATCH, DELETE), "none", or a list of "METHOD /path"
   * routes as openapi.yaml spells them with :param, e.g. ["POST /v1/certificates"].
   */
  totpRequiredFor: "writes" | "none" | string[];
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
  database: "sqlite",
  refusalLogWindow: "1m",
  refusalLogPerSource: 10,
  refusalLogPerWindow: 200,
  logPublic: false,
  keyProvider: "software",
  rootKeyProvider: null,
  pkcs11: null,
  offlineCrlValidity: "180d",
  totpRequiredFor: "writes",
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

export function validateConfig(config: DpkiConfig, source: string): DpkiConfig {
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
  parseDuration(config.offlineCrlValidity);
  if (config.expiredRenewalWindow !== "off") parseDuration(config.expiredRenewalWindow);
  validateKeySettings(config, source);
  if (config.checkpointInterval !== "off") parseDuration(config.checkpointInterval);
  if (config.database !== "sqlite" && config.database !== "postgres") {
    throw new AppError("config_error", `${source}: database must be "sqlite" or "postgres"`);
  }
  parseDuration(config.refusalLogWindow);
  for (const key of ["refusalLogPerSource", "refusalLogPerWindow"] as const) {
    const n = config[key];
    if (!Number.isSafeInteger(n) || n < 1) throw new AppError("config_error", `${source}: ${key} must be a whole number of at least 1`);
  }
  if (typeof config.logPublic !== "boolean") throw new AppError("config_error", `${source}: logPublic must be true or false`);
  const totp = config.totpRequiredFor as unknown;
  const routeList = Array.isArray(totp) && totp.every((r) => typeof r === "string" && /^(POST|PUT|PATCH|DELETE|GET) \/\S*$/.test(r));
  if (totp !== "writes" && totp !== "none" && !routeList) {
    throw new AppError("config_error", `${source}: totpRequiredFor must be "writes", "none" or a list of "METHOD /path" routes`);
  }
  return { ...config, publicUrl: config.publicUrl.replace(/\/+$/, ""), publicHttpUrl };
}

const PKCS11_KEYS = new Set(["module", "tokenLabel", "pinFile", "sessions"]);

function validateKeySettings(config: DpkiConfig, source: string): void {
  if (!(KEY_PROVIDERS as readonly string[]).includes(config.keyProvider)) {
    throw new AppError("config_error", `${source}: keyProvider "${String(config.keyProvider)}" is not one of ${KEY_PROVIDERS.join(", ")}`);
  }
  const root = config.rootKeyProvider;
  if (root !== null && root !== "offline" && !(KEY_PROVIDERS as readonly string[]).includes(root)) {
    throw new AppError(
      "config_error",
      `${source}: rootKeyProvider "${String(root)}" is not one of ${KEY_PROVIDERS.join(", ")}, offline or null`,
    );
  }
  const p11 = config.pkcs11 as unknown;
  if (p11 === null) {
    if (config.keyProvider === "pkcs11" || root === "pkcs11") {
      throw new AppError("config_error", `${source}: a key provider is "pkcs11" but the pkcs11 setting (module, tokenLabel) is missing`);
    }
    return;
  }
  if (typeof p11 !== "object" || Array.isArray(p11)) throw new AppError("config_error", `${source}: pkcs11 must be an object or null`);
  const settings = p11 as Record<string, unknown>;
  if ("pin" in settings || "userPin" in settings) {
    throw new AppError(
      "config_error",
      `${source}: pkcs11 must not hold the PIN: put it in a file named by pkcs11.pinFile, or in DPKI_PKCS11_PIN`,
    );
  }
  const unknown = Object.keys(settings).filter((k) => !PKCS11_KEYS.has(k));
  if (unknown.length) throw new AppError("config_error", `${source}: unknown pkcs11 setting ${unknown.join(", ")}`);
  for (const key of ["module", "tokenLabel"] as const) {
    if (typeof settings[key] !== "string" || settings[key] === "")
      throw new AppError("config_error", `${source}: pkcs11.${key} must be a non-empty string`);
  }
  if (settings.pinFile !== undefined && (typeof settings.pinFile !== "string" || settings.pinFile === "")) {
    throw new AppError("config_error", `${source}: pkcs11.pinFile must be a file path`);
  }
  const sessions = settings.sessions;
  if (sessions !== undefined && (!Number.isInteger(sessions) || (sessions as number) < 1 || (sessions as number) > 256)) {
    throw new AppError("config_error", `${source}: pkcs11.sessions must be a whole number from 1 to 256`);
  }
}
