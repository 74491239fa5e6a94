import type { Clock } from "../../clock.js";
import type { PolicySet } from "../../policy/policy-set.js";
import type { AuditCheckStore, EntryRef } from "../../store/audit-check-store.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { Store } from "../../store/store.js";
import type { CaRotationService } from "../authority/ca-rotation-service.js";
import type { TokenService } from "../tokens/token-service.js";
import { caExpiryCheck, caKeyCheck, enrollmentCas } from "./authority-checks.js";
import { liveCertificateChecks, sharedKeyCheck } from "./certificate-checks.js";
import {
  AUDIT_CHECKS,
  type AuditCheckId,
  type AuditCheckReport,
  type AuditFinding,
  type CheckResult,
  type FindingObject,
  type FindingObjectType,
} from "./finding.js";
import { catchUpKeyFacts } from "./key-facts.js";
import { revokedButAssignedCheck } from "./registration-checks.js";
import { adminTokenExpiryCheck, unusedTokenCheck } from "./token-checks.js";

/** Findings listed per check; the count says how many there are beyond. */
const LIST_LIMIT = 1000;

export interface AuditCheckOptions {
  /** Report CAs expiring within this long from now. */
  caExpiryWithinMs: number;
  /** Report tokens not used for this long (and tokens never used). */
  tokenUnusedForMs: number;
}

export interface AuditCheckDeps {
  checks: AuditCheckStore;
  store: Store;
  dps: DpsStore;
  tokens: Pick<TokenService, "list">;
  rotation: Pick<CaRotationService, "status">;
  policies: PolicySet;
  clock: Clock;
}

/**
 * The audit checks (after AWS IoT Device Defender's): the installation's certificates, CAs,
 * registrations and tokens looked over for what an auditor should see, each finding pointing
 * at the objects and the log entries that recorded them. Reads only, apart from the derived
 * key facts it catches up first.
 */
export class AuditCheckService {
  constructor(private readonly deps: AuditCheckDeps) {}

  async run(options: AuditCheckOptions): Promise<AuditCheckReport> {
    const { checks, store, dps, tokens, rotation, policies, clock } = this.deps;
    const now = clock.now();
    const caExpiryBefore = new Date(now.getTime() + options.caExpiryWithinMs);
    const tokenUnusedSince = new Date(now.getTime() - options.tokenUnusedForMs);
    await catchUpKeyFacts(checks);
    const [cas, caStates, groupCas, tokenList] = await Promise.all([store.listCas(), rotation.status(), enrollmentCas(dps), tokens.list()]);
    const live = await liveCertificateChecks(checks, policies, now, LIST_LIMIT);
    const caKeys = caKeyCheck(cas, groupCas);
    const results: Record<AuditCheckId, CheckResult> = {
      "shared-key": await sharedKeyCheck(checks, now, LIST_LIMIT),
      "weak-key": { found: live.weak.found + caKeys.found, findings: [...caKeys.findings, ...live.weak.findings].slice(0, LIST_LIMIT) },
      "outside-profile": live.outside,
      "revoked-but-assigned": await revokedButAssignedCheck(checks, LIST_LIMIT),
      "ca-expiring": caExpiryCheck(caStates, groupCas, now, caExpiryBefore),
      "admin-token-no-expiry": adminTokenExpiryCheck(tokenList),
      "unused-token": unusedTokenCheck(tokenList, now, tokenUnusedSince),
    };
    const ids = Object.keys(AUDIT_CHECKS) as AuditCheckId[];
    const caSerials = new Map(caStates.map((ca) => [ca.id, ca.serial]));
    const entries = await this.entriesOf(
      ids.flatMap((id) => results[id].findings.flatMap((f) => f.objects)),
      caSerials,
    );
    const findings: AuditFinding[] = ids.flatMap((check) =>
      results[check].findings.map((f) => ({
        check,
        severity: AUDIT_CHECKS[check].severity,
        message: f.message,
        objects: f.objects,
        entries: [...new Set(f.objects.flatMap((o) => entries.get(key(o)) ?? []))].sort((a, b) => a - b),
      })),
    );
    return {
      checkedAt: now.toISOString(),
      caExpiryBefore: caExpiryBefore.toISOString(),
      tokenUnusedSince: tokenUnusedSince.toISOString(),
      checks: ids.map((check) => ({
        check,
        severity: AUDIT_CHECKS[check].severity,
        title: AUDIT_CHECKS[check].title,
        found: results[check].found,
        listed: results[check].findings.length,
      })),
      findings,
    };
  }

  /**
   * The log entries about each object, by object key: a certificate's by its serial (issued,
   * renewed, revoked, registered with), a CA's by its certificate's serial, a token's creation,
   * a registration's registrations, a group's creation and changes. One query per kind.
   */
  private async entriesOf(objects: FindingObject[], caSerials: Map<string, string>): Promise<Map<string, number[]>> {
    const ids = (type: FindingObjectType) => [...new Set(objects.filter((o) => o.type === type).map((o) => o.id))];
    const out = new Map<string, number[]>();
    const add = (type: FindingObjectType, id: string, entry: EntryRef) => {
      const k = key({ type, id });
      const list = out.get(k);
      if (list) list.push(entry.seq);
      else out.set(k, [entry.seq]);
    };
    const checks = this.deps.checks;
    const serialOwners = new Map<string, Array<{ type: FindingObjectType; id: string }>>();
    for (const serial of ids("certificate")) serialOwners.set(serial, [{ type: "certificate", id: serial }]);
    for (const id of ids("ca")) {
      const serial = caSerials.get(id);
      if (serial) serialOwners.set(serial, [...(serialOwners.get(serial) ?? []), { type: "ca", id }]);
    }
    for (const entry of await checks.entriesAboutSerials([...serialOwners.keys()])) {
      for (const owner of serialOwners.get(entry.serial!) ?? []) add(owner.type, owner.id, entry);
    }
    for (const entry of await checks.entriesByDetail("token.create", "tokenId", ids("token"))) add("token", entry.value, entry);
    for (const [type, actions] of [
      ["registration", ["dps.register"]],
      ["group", ["dps.group.create", "dps.group.update"]],
    ] as const) {
      const wanted = ids(type);
      if (wanted.length === 0) continue;
      const byLower = new Map(wanted.map((id) => [id.toLowerCase(), id]));
      for (const entry of await checks.entriesAboutSubjects(actions, wanted)) {
        const id = byLower.get(entry.subject?.toLowerCase() ?? "");
        if (id) add(type, id, entry);
      }
    }
    return out;
  }
}

function key(o: FindingObject): string {
  return `${o.type}\u0000${o.id}`;
}
