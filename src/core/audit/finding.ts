/**
 * What `dpki audit check` and GET /v1/audit/findings report: one finding per thing an auditor
 * should look at, naming the objects it is about and the log entries that recorded them.
 */
/** How far ahead the checks look for expiring CAs, and how long a token may sit unused, unless told. */
export const DEFAULT_CHECK_WINDOW = "90d";

export type Severity = "high" | "medium" | "low";

export const SEVERITIES: readonly Severity[] = ["high", "medium", "low"];

/** The checks, in report order; each finding belongs to one. */
export const AUDIT_CHECKS = {
  "shared-key": { severity: "high", title: "Good certificates sharing a public key" },
  "weak-key": { severity: "high", title: "Weak keys: RSA under 2048 bits, curves or algorithms dpki does not accept" },
  "outside-profile": { severity: "medium", title: "Good certificates outside their profile's current rules" },
  "revoked-but-assigned": { severity: "high", title: "Devices still assigned with a revoked certificate" },
  "ca-expiring": { severity: "high", title: "CAs in service expiring within the window" },
  "admin-token-no-expiry": { severity: "medium", title: "Admin tokens that never expire" },
  "unused-token": { severity: "low", title: "Active tokens never used, or unused for the window" },
} as const satisfies Record<string, { severity: Severity; title: string }>;

export type AuditCheckId = keyof typeof AUDIT_CHECKS;

export type FindingObjectType = "certificate" | "ca" | "token" | "registration" | "group";

export interface FindingObject {
  type: FindingObjectType;
  /** Serial (certificate), CA id, token id, `<scope>/<registration id>`, `<scope>/<group id>`. */
  id: string;
}

export interface AuditFinding {
  check: AuditCheckId;
  severity: Severity;
  message: string;
  objects: FindingObject[];
  /** Numbers (seq) of the log entries about these objects, as `audit log` shows them and `audit prove --entry` takes them. */
  entries: number[];
}

export interface AuditCheckSummary {
  check: AuditCheckId;
  severity: Severity;
  title: string;
  /** How many findings the check made. */
  found: number;
  /** How many of them the report lists (at most a bound per check). */
  listed: number;
}

export interface AuditCheckReport {
  checkedAt: string;
  /** CAs expiring before this instant are reported. */
  caExpiryBefore: string;
  /** Tokens last used before this instant (or never) are reported. */
  tokenUnusedSince: string;
  checks: AuditCheckSummary[];
  findings: AuditFinding[];
}

/** What one check found: how many, and the first of them (without their log entries, added after). */
export interface CheckResult {
  found: number;
  findings: Array<{ message: string; objects: FindingObject[] }>;
}

/** Whether any finding is at least as severe as `threshold`. */
export function hasFindingsAtLeast(report: Pick<AuditCheckReport, "findings">, threshold: Severity): boolean {
  const rank = SEVERITIES.indexOf(threshold);
  return report.findings.some((f) => SEVERITIES.indexOf(f.severity) <= rank);
}
