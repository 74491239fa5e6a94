import type { AuditInput } from "./records.js";

/** What an appender puts on entries that do not say: the policy in force and where the change came from. */
export interface AuditDefaults {
  policyHash: string | null;
  source: string | null;
}

/**
 * The entry as the log stores it: `policyHash` and `source` taken from `defaults` when the
 * caller left them undefined, and the source moved into `details.source`. Details that already
 * carry a `source` keep it. `defaults` is called only when something is missing.
 */
export function withAuditDefaults(input: AuditInput, defaults?: () => AuditDefaults): AuditInput {
  const { source: given, ...rest } = input;
  let found: AuditDefaults | undefined;
  const fallback = () => (found ??= defaults?.() ?? { policyHash: null, source: null });
  const policyHash = input.policyHash !== undefined ? input.policyHash : fallback().policyHash;
  const details = input.details ?? {};
  const source = Object.hasOwn(details, "source") ? undefined : given !== undefined ? given : fallback().source;
  // `source: null` marks the defaults applied: applying them again changes nothing.
  return { ...rest, policyHash, details: source ? { ...details, source } : details, source: null };
}
