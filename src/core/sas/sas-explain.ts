import { AppError } from "../../errors.js";
import { coversResource, parseSasToken, verifySasToken, type SasRefusal, type VerifySasTokenOptions } from "./sas.js";

export interface SasProblem {
  check: SasRefusal;
  message: string;
}

export interface SasExplanation {
  valid: boolean;
  /** Every check that failed (signature, key name, resource, expiry), not just the first. */
  problems: SasProblem[];
  /** The token's fields as sent (sr and skn also decoded), when it parsed. */
  fields?: { sr: string; resource: string; skn: string | null; se: string; expiresAt: string };
  /** Which of `keys` signed it (0 primary, 1 secondary, …). */
  keyIndex?: number;
}

/**
 * Checks a SAS token the way IoT Hub and DPS do (through verifySasToken) and explains every
 * reason it fails, for `dpki sas verify`: the signature against each key, the key name, the
 * resource (segment prefix of the decoded sr) and the expiry, each judged on its own.
 */
export function explainSasToken(token: string, options: VerifySasTokenOptions): SasExplanation {
  let fields: ReturnType<typeof parseSasToken>;
  let resource: string;
  let skn: string | null;
  try {
    fields = parseSasToken(token);
    resource = decodeURIComponent(fields.sr);
    skn = fields.skn === undefined ? null : decodeURIComponent(fields.skn);
  } catch (err) {
    const message = err instanceof AppError ? err.message : "Cannot parse SAS token: invalid percent-encoding";
    return { valid: false, problems: [{ check: "malformed", message }] };
  }
  const expiresAt = new Date(Number(fields.se) * 1000);
  const view = { sr: fields.sr, resource, skn, se: fields.se, expiresAt: expiresAt.toISOString().replace(/\.000Z$/, "Z") };

  // The whole verification, exactly as the server runs it.
  const verdict = verifySasToken(token, {
    keys: options.keys,
    resource: options.resource,
    keyName: options.keyName,
    now: options.now,
    skewSeconds: options.skewSeconds,
    caseInsensitiveResource: options.caseInsensitiveResource,
  });
  if (verdict.ok) return { valid: true, problems: [], fields: view, keyIndex: verdict.keyIndex };

  const problems: SasProblem[] = [];
  // The signature alone: the token's own resource, no key name, an instant before any expiry.
  const signature = verifySasToken(token, { keys: options.keys, resource, now: new Date(0) });
  if (!signature.ok) {
    problems.push({
      check: "signature",
      message:
        options.keys.length > 1
          ? `Signature does not match any of the ${options.keys.length} keys (the string signed is sr exactly as sent, a newline, and se)`
          : "Signature does not match the key (the string signed is sr exactly as sent, a newline, and se)",
    });
  }
  if (options.keyName !== undefined && skn !== options.keyName) {
    problems.push({
      check: "key_name",
      message:
        options.keyName === null
          ? `Token names key "${skn}", but this resource takes tokens without a key name (skn)`
          : skn === null
            ? `Token has no key name (skn); expected "${options.keyName}"`
            : `Token names key "${skn}", not "${options.keyName}"`,
    });
  }
  if (!coversResource(resource, options.resource, options.caseInsensitiveResource ?? false)) {
    problems.push({ check: "resource", message: `Token is for resource "${resource}", which does not cover "${options.resource}"` });
  }
  if (expiresAt.getTime() < options.now.getTime() - (options.skewSeconds ?? 0) * 1000) {
    problems.push({
      check: "expired",
      message: `Token expired at ${view.expiresAt} (now ${options.now.toISOString().replace(/\.\d{3}Z$/, "Z")})`,
    });
  }
  if (problems.length === 0) problems.push({ check: verdict.reason, message: verdict.message });
  return { valid: false, problems, fields: view };
}
