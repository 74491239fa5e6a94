import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "../../errors.js";

/**
 * Shared access signature tokens, byte-compatible with the Azure IoT SDKs (azure-iot-common
 * `SharedAccessSignature`): `SharedAccessSignature sr=…&sig=…[&skn=…]&se=…`.
 * Pure functions: the caller supplies keys and the current time.
 */

const PREFIX = "SharedAccessSignature";
/** The largest epoch second a JavaScript Date can hold (±8.64e15 ms), so expiresAt is always a real date. */
const MAX_EXPIRY_SECONDS = 8_640_000_000_000;

/** The token fields exactly as transmitted (not url-decoded). */
export interface SasTokenFields {
  sr: string;
  sig: string;
  skn?: string;
  se: string;
}

export interface CreateSasTokenOptions {
  /** Inserted verbatim as `sr`; callers pre-encode it or not, as the Azure SDKs do. */
  resourceUri: string;
  /** The shared key, base64. */
  key: string;
  /** Shared access policy name; `skn` is omitted when this is absent or empty. */
  keyName?: string | null;
  /** Seconds since the Unix epoch; a string is used verbatim. */
  expiry: number | string;
}

export interface VerifySasTokenOptions {
  /** Candidate keys, base64 (e.g. primary then secondary). */
  keys: string[];
  /** The decoded resource the caller wants access to. */
  resource: string;
  /** Required `skn` (compared decoded); `null` means the token must carry none; omitted means not checked. */
  keyName?: string | null;
  now: Date;
  /** Tolerated clock difference when checking expiry. */
  skewSeconds?: number;
  /** Compare resources ignoring case (IoT Hub host names and DPS registration paths). */
  caseInsensitiveResource?: boolean;
}

export type SasRefusal = "malformed" | "expired" | "signature" | "resource" | "key_name";

export type SasVerification = { ok: true; keyIndex: number; expiresAt: Date } | { ok: false; reason: SasRefusal; message: string };

/**
 * encodeURIComponent, then `! ' ( ) *` escaped too — with lowercase hex, because that is what
 * azure-iot-common emits and the signature covers these bytes, so the case must match exactly.
 */
export function encodeUriComponentStrict(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
}

export function createSasToken(opts: CreateSasTokenOptions): string {
  const { resourceUri, key, keyName, expiry } = opts;
  if (!resourceUri) throw invalidArgument("resourceUri", "Cannot create SAS token: resourceUri is empty");
  if (!key) throw invalidArgument("key", "Cannot create SAS token: key is empty");
  const se = typeof expiry === "number" ? String(expiry) : expiry;
  if (typeof expiry === "number" ? !Number.isSafeInteger(expiry) || expiry <= 0 : !/^[0-9]+$/.test(se) || /^0+$/.test(se)) {
    throw invalidArgument("expiry", "Cannot create SAS token: expiry must be a positive integer number of seconds since the epoch");
  }
  const sig = encodeUriComponentStrict(sign(decodeKey(key, "key"), `${resourceUri}\n${se}`));
  const skn = keyName ? `&skn=${encodeUriComponentStrict(keyName)}` : "";
  return `${PREFIX} sr=${resourceUri}&sig=${sig}${skn}&se=${se}`;
}

/**
 * The device key for a symmetric-key enrollment group member, as Azure DPS derives it:
 * base64(HMAC-SHA256(groupKey, registrationId)). Case-sensitive on the id bytes, so derive
 * from exactly the string the device sent.
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  if (!registrationId) throw invalidArgument("registrationId", "Cannot derive device key: registrationId is empty");
  return sign(decodeKey(groupKey, "groupKey"), registrationId);
}

/** What a key rotation does to a primary/secondary pair, as Azure DPS offers it. */
export type KeyChange = "primary" | "secondary" | "swap";

export const KEY_CHANGES: readonly KeyChange[] = ["primary", "secondary", "swap"];

/** Regenerates the named key (the other one keeps working) or swaps the two; returns the new pair. */
export function changeKeys<T extends { primaryKey: string; secondaryKey: string }>(current: T, change: KeyChange, bytes: 32 | 64): T {
  switch (change) {
    case "primary":
      return { ...current, primaryKey: makeSymmetricKey(bytes) };
    case "secondary":
      return { ...current, secondaryKey: makeSymmetricKey(bytes) };
    case "swap":
      return { ...current, primaryKey: current.secondaryKey, secondaryKey: current.primaryKey };
    default:
      throw invalidArgument("key", `Unknown key "${String(change)}": name primary, secondary or swap`);
  }
}

/**
 * A non-secret name of a stored key (first 16 hex of its SHA-256), recorded with each registration
 * so a later rotation can count the devices that still use a key even after a swap moved it.
 */
export function keyFingerprint(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

/** A fresh random symmetric key, base64 (32 bytes like IoT Hub device keys, 64 like DPS group keys). */
export function makeSymmetricKey(bytes: 32 | 64 = 32): string {
  if (bytes !== 32 && bytes !== 64) throw invalidArgument("bytes", "Cannot make symmetric key: size must be 32 or 64 bytes");
  return randomBytes(bytes).toString("base64");
}

/**
 * Splits a token into its fields without decoding them, like the SDK's parse: the
 * `SharedAccessSignature ` prefix is required, fields are `&`-separated `name=value` pairs split
 * at the first `=`. Unknown fields are ignored (Azure adds new ones over time); sr, sig and se are
 * required, no field may repeat, and se must be an integer.
 */
export function parseSasToken(token: string): SasTokenFields {
  const match = /^SharedAccessSignature\s+(\S+)$/.exec(token.trim());
  if (match === null) throw malformed(`Cannot parse SAS token: expected "${PREFIX} sr=…&sig=…&se=…"`);
  const fields = new Map<string, string>();
  for (const part of match[1]!.split("&")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw malformed(`Cannot parse SAS token: "${truncate(part)}" is not a name=value field`);
    const name = part.slice(0, eq);
    if (fields.has(name)) throw malformed(`Cannot parse SAS token: duplicate field "${truncate(name)}"`, name);
    fields.set(name, part.slice(eq + 1));
  }
  for (const name of ["sr", "sig", "se"]) {
    if (!fields.get(name)) throw malformed(`Cannot parse SAS token: missing field "${name}"`, name);
  }
  const se = fields.get("se")!;
  if (!/^[0-9]+$/.test(se)) throw malformed(`Cannot parse SAS token: se "${truncate(se)}" is not an integer`, "se");
  if (Number(se) > MAX_EXPIRY_SECONDS) throw malformed(`Cannot parse SAS token: se ${truncate(se)} is out of range`, "se");
  const skn = fields.get("skn");
  return { sr: fields.get("sr")!, sig: fields.get("sig")!, ...(skn === undefined ? {} : { skn }), se };
}

/**
 * Checks a token the way IoT Hub / DPS do: the HMAC is computed over sr exactly as transmitted
 * (so raw and url-encoded senders both verify), then the decoded sr must cover the requested
 * resource as a segment prefix, and se must not be in the past. The signature is checked before
 * anything the token claims, so a forger learns nothing beyond "signature".
 */
export function verifySasToken(token: string, opts: VerifySasTokenOptions): SasVerification {
  if (opts.keys.length === 0) throw invalidArgument("keys", "Cannot verify SAS token: no keys given");
  const keys = opts.keys.map((k, i) => decodeKey(k, `keys[${i}]`));

  let fields: SasTokenFields;
  let sig: string;
  let sr: string;
  let skn: string | undefined;
  try {
    fields = parseSasToken(token);
    sig = decodeURIComponent(fields.sig);
    sr = decodeURIComponent(fields.sr);
    skn = fields.skn === undefined ? undefined : decodeURIComponent(fields.skn);
  } catch (err) {
    if (err instanceof AppError) return refuse("malformed", err.message);
    return refuse("malformed", "Cannot parse SAS token: invalid percent-encoding");
  }

  const presented = Buffer.from(sig, "utf8");
  const stringToSign = `${fields.sr}\n${fields.se}`;
  let keyIndex = -1;
  // Every key is tried even after a match, so timing does not reveal which key (if any) signed.
  keys.forEach((key, i) => {
    const expected = Buffer.from(sign(key, stringToSign), "utf8");
    const same = presented.length === expected.length && timingSafeEqual(presented, expected);
    if (same && keyIndex < 0) keyIndex = i;
  });
  if (keyIndex < 0) return refuse("signature", "Token signature does not match any key");

  if (opts.keyName !== undefined && (skn ?? null) !== opts.keyName) {
    return refuse(
      "key_name",
      opts.keyName === null
        ? `Token names key "${skn}", but this resource takes tokens without a key name`
        : skn === undefined
          ? `Token has no key name; expected "${opts.keyName}"`
          : `Token names key "${skn}", not "${opts.keyName}"`,
    );
  }

  if (!coversResource(sr, opts.resource, opts.caseInsensitiveResource ?? false)) {
    return refuse("resource", `Token is for resource ${sr}, not ${opts.resource}`);
  }

  const expiresAt = new Date(Number(fields.se) * 1000);
  const skewMs = (opts.skewSeconds ?? 0) * 1000;
  if (expiresAt.getTime() < opts.now.getTime() - skewMs) {
    return refuse("expired", `Token expired at ${isoSeconds(expiresAt)}`);
  }
  return { ok: true, keyIndex, expiresAt };
}

/** `a/b` covers `a/b` and `a/b/c`, never `a/bc`: a token's scope ends at a path segment boundary. */
export function coversResource(granted: string, requested: string, caseInsensitive: boolean): boolean {
  const g = caseInsensitive ? granted.toLowerCase() : granted;
  const r = caseInsensitive ? requested.toLowerCase() : requested;
  if (r === g) return true;
  return r.startsWith(g.endsWith("/") ? g : `${g}/`);
}

function sign(key: Buffer, message: string): string {
  return createHmac("sha256", key).update(message, "utf8").digest("base64");
}

/**
 * Node's lenient base64 (missing padding, url-safe `-`/`_`), because that is how the Azure SDKs
 * read keys and the same key string must give the same signature. A key that decodes to nothing
 * would make tokens anyone can forge, so it is refused.
 */
function decodeKey(key: string, field: string): Buffer {
  const bytes = Buffer.from(key, "base64");
  if (bytes.length === 0) throw invalidArgument(field, `Cannot use SAS key ${field}: it is empty or not base64`);
  return bytes;
}

function refuse(reason: SasRefusal, message: string): SasVerification {
  return { ok: false, reason, message };
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}

/** Keeps attacker-supplied text in messages short. */
function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function malformed(message: string, field?: string): AppError {
  return new AppError("bad_request", message, field === undefined ? undefined : { field });
}

function invalidArgument(field: string, message: string): AppError {
  return new AppError("invalid_argument", message, { field });
}
