import { Command, InvalidArgumentError } from "commander";
import {
  DEFAULT_CHECK_WINDOW,
  hasFindingsAtLeast,
  SEVERITIES,
  type AuditCheckReport,
  type Severity,
} from "../../src/core/audit/finding.js";
import { formatTable } from "../output.js";
import { withContext } from "../run.js";

/** Exit status when findings at or above --fail-on exist: like grep finding a match, distinct from every error's sysexits code. */
export const FINDINGS_EXIT = 1;

export function auditCheckCommand(): Command {
  return new Command("check")
    .description("Look over certificates, CAs, registrations and tokens for what an auditor should see")
    .option("--within <duration>", "report CAs expiring within this long", DEFAULT_CHECK_WINDOW)
    .option("--unused-for <duration>", "report tokens not used for this long (and tokens never used)", DEFAULT_CHECK_WINDOW)
    .option("--fail-on <severity>", "exit 1 when a finding is at least this severe: high, medium, low, or none", toThreshold, "low")
    .addHelpText(
      "after",
      `
Checks: certificates sharing a public key; weak keys (RSA under 2048 bits, other curves) on
certificates, CAs and enrollment-group CAs; good certificates outside their profile's current
rules (validity, key type, RSA size, CN, SANs, a profile no longer defined); devices still
assigned with a revoked certificate; CAs in service expiring within --within; admin tokens
that never expire; active tokens never used or unused for --unused-for. Each finding names its
objects and the log entries about them (numbers as \`audit log\` shows, \`audit prove --entry\` takes).

Exits 0 when no finding reaches --fail-on, 1 when one does (the findings are printed either
way, with --json too), and the usual error codes (64 usage, 69 unavailable, 77 denied …) when
the check cannot run.

Examples:
  dpki audit check
  dpki audit check --within 180d --fail-on high
  dpki audit check --json | jq '.findings[] | select(.check == "shared-key")'`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const report = await ops.auditCheck({ within: opts.within as string, unusedFor: opts.unusedFor as string });
        out.print(report, () => humanReport(report));
        const threshold = opts.failOn as Severity | "none";
        return threshold !== "none" && hasFindingsAtLeast(report, threshold) ? FINDINGS_EXIT : 0;
      }),
    );
}

function humanReport(report: AuditCheckReport): string {
  const findings = report.findings.length
    ? formatTable(report.findings, [
        { header: "severity", value: (f) => f.severity },
        { header: "check", value: (f) => f.check },
        { header: "entries", value: (f) => shortList(f.entries) },
        { header: "finding", value: (f) => f.message },
      ]) + "\n"
    : "";
  const checks = formatTable(report.checks, [
    { header: "check", value: (c) => c.check },
    { header: "severity", value: (c) => c.severity },
    { header: "found", value: (c) => (c.listed < c.found ? `${c.found} (${c.listed} listed)` : String(c.found)) },
    { header: "what", value: (c) => c.title },
  ]);
  const total = report.checks.reduce((n, c) => n + c.found, 0);
  const bySeverity = SEVERITIES.map((s) => [s, report.checks.filter((c) => c.severity === s).reduce((n, c) => n + c.found, 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const summary =
    total === 0 ? `No findings (${report.checks.length} checks)` : `${total} finding${total === 1 ? "" : "s"} (${bySeverity.join(", ")})`;
  return `${findings}${checks}\n${summary}, checked ${report.checkedAt}\n`;
}

/** Entry numbers for a table cell: the first few, the rest left to --json. */
function shortList(entries: number[]): string {
  if (entries.length === 0) return "-";
  return entries.length > 6 ? `${entries.slice(0, 6).join(",")},…(${entries.length})` : entries.join(",");
}

function toThreshold(value: string): Severity | "none" {
  if (value === "none" || (SEVERITIES as readonly string[]).includes(value)) return value as Severity | "none";
  throw new InvalidArgumentError("use high, medium, low or none");
}
