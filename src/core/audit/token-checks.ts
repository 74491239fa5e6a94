import type { TokenView } from "../tokens/token-service.js";
import type { CheckResult } from "./finding.js";

const DAY = 86_400_000;

/** Active admin tokens without an expiry: a leaked one works until someone notices. */
export function adminTokenExpiryCheck(tokens: readonly TokenView[]): CheckResult {
  const found = tokens.filter((t) => t.status === "active" && t.role === "admin" && t.expiresAt === null);
  return {
    found: found.length,
    findings: found.map((t) => ({
      message: `Admin token ${label(t)} never expires (created ${t.createdAt} by ${t.createdBy})`,
      objects: [{ type: "token", id: t.id }],
    })),
  };
}

/** Active tokens never used, or last used before `since`: credentials nobody seems to need. */
export function unusedTokenCheck(tokens: readonly TokenView[], now: Date, since: Date): CheckResult {
  const result: CheckResult = { found: 0, findings: [] };
  for (const t of tokens) {
    if (t.status !== "active") continue;
    if (t.lastUsedAt !== null && new Date(t.lastUsedAt) >= since) continue;
    const usage =
      t.lastUsedAt === null ? `never used since its creation on ${t.createdAt}` : `last used on ${t.lastUsedAt}, ${ago(t.lastUsedAt, now)}`;
    result.found++;
    result.findings.push({ message: `${t.role} token ${label(t)} ${usage}`, objects: [{ type: "token", id: t.id }] });
  }
  return result;
}

function label(t: TokenView): string {
  return t.name ? `${t.name} (${t.id})` : t.id;
}

function ago(iso: string, now: Date): string {
  const days = Math.floor((now.getTime() - new Date(iso).getTime()) / DAY);
  return days === 0 ? "less than a day ago" : `${days} day${days === 1 ? "" : "s"} ago`;
}
