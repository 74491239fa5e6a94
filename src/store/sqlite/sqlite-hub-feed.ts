import type Database from "better-sqlite3";
import type { HubChangeKind, HubChangeRecord } from "../lifecycle-store.js";
import type { SqliteDb } from "./sqlite-db.js";

type Row = Record<string, unknown>;

/** Log actions that can change what a hub should know; everything else is skipped by the feed. */
const FEED_ACTIONS_LIST = [
  "dps.register",
  "dps.registration.delete",
  "dps.enrollment.update",
  "dps.enrollment.delete",
  "dps.group.update",
  "dps.group.delete",
  "dps.scope.delete",
  "dps.hub.update",
  "dps.hub.delete",
  "enrollment.revoke",
  "cert.revoke",
  "key.rotate",
] as const;
const FEED_ACTIONS: ReadonlySet<string> = new Set(FEED_ACTIONS_LIST);

interface FeedContext {
  auditSeq: number;
  at: string;
}

/**
 * The hub change feed: what each hub should know (a device assigned, moved, disabled, revoked,
 * its credentials changed), derived from the issuance log. It follows the log inside the very
 * transaction that changes things, so each change is judged against the state of that moment
 * (a later read would see only the end state), and catches up on read after a missed entry.
 */
export class SqliteHubFeed {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(
    private readonly sqlite: SqliteDb,
    /** The requester of a certificate's first ancestor (renewals keep the device's lineage). */
    private readonly lineageRequester: (serial: string) => string | null,
  ) {
    this.db = sqlite.db;
    this.stmts = this.prepare();
    const follow = this.db.transaction((seq: number) => this.feedThrough(seq));
    sqlite.onAudit((entry) => {
      if (!FEED_ACTIONS.has(entry.action)) return;
      try {
        follow(entry.seq); // a savepoint inside the caller's transaction
      } catch {
        // Never fail the caller's change: the feed catches up on its next read.
      }
    });
  }

  private prepare() {
    const db = this.db;
    return {
      regById: db.prepare("SELECT * FROM dps_registrations WHERE id_scope = ? AND registration_id = ?"),
      regsOfEnrollment: db.prepare(
        "SELECT registration_id FROM dps_registrations WHERE id_scope = ? AND enrollment_kind = ? AND enrollment_id = ? COLLATE NOCASE",
      ),
      certInfo: db.prepare("SELECT sha256, revoked_at, revocation_reason FROM certificates WHERE serial = ?"),
      enrollmentRow: db.prepare("SELECT provisioning_status FROM dps_enrollments WHERE id_scope = ? AND kind = ? AND id = ?"),
      getBlock: db.prepare("SELECT 1 FROM enrollment_blocks WHERE id_scope = ? AND kind = ? AND id = ?"),
      feedState: db.prepare("SELECT audit_seq FROM hub_feed_state WHERE id = 1"),
      setFeedState: db.prepare(
        "INSERT INTO hub_feed_state (id, audit_seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET audit_seq = excluded.audit_seq",
      ),
      auditAfter: db.prepare(
        `SELECT seq, at, action, subject, serial, details FROM audit_log WHERE seq > ? AND seq <= ? AND action IN (${[...FEED_ACTIONS_LIST].map((a) => `'${a}'`).join(", ")}) ORDER BY seq LIMIT ?`,
      ),
      auditHead: db.prepare("SELECT max(seq) AS seq FROM audit_log"),
      hubNameByHost: db.prepare("SELECT name FROM dps_hubs WHERE id_scope = ? AND host_name = ?"),
      hubHostByName: db.prepare("SELECT host_name FROM dps_hubs WHERE id_scope = ? AND name = ?"),
      getState: db.prepare("SELECT * FROM hub_device_state WHERE id_scope = ? AND registration_id = ?"),
      putState: db.prepare(
        `INSERT INTO hub_device_state (id_scope, registration_id, hub, device_id, active) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id_scope, registration_id) DO UPDATE SET hub = excluded.hub, device_id = excluded.device_id, active = excluded.active`,
      ),
      deleteState: db.prepare("DELETE FROM hub_device_state WHERE id_scope = ? AND registration_id = ?"),
      statesOfScope: db.prepare("SELECT registration_id FROM hub_device_state WHERE id_scope = ?"),
      statesOfHub: db.prepare("SELECT registration_id FROM hub_device_state WHERE id_scope = ? AND hub = ?"),
      insertChange: db.prepare(
        `INSERT INTO hub_changes (id_scope, hub, kind, device_id, registration_id, details, audit_seq, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      changesOfHub: db.prepare("SELECT * FROM hub_changes WHERE id_scope = ? AND hub = ? AND seq > ? ORDER BY seq LIMIT ?"),
      lastChange: db.prepare("SELECT max(seq) AS seq FROM hub_changes WHERE id_scope = ? AND hub = ?"),
    };
  }

  async catchUp(maxEntries: number): Promise<number> {
    const head = ((this.stmts.auditHead.get() as { seq: number | null }).seq ?? 0) as number;
    if (head <= this.feedPosition()) return 0;
    return this.sqlite.write(() => this.feedThrough(head, maxEntries));
  }

  private feedPosition(): number {
    return (this.stmts.feedState.get() as { audit_seq: number } | undefined)?.audit_seq ?? 0;
  }

  /** Inside a write transaction: turns the log entries after the feed's position, up to `seq`, into hub changes. */
  private feedThrough(seq: number, maxEntries = Number.MAX_SAFE_INTEGER): number {
    const from = this.feedPosition();
    if (seq <= from) return 0;
    const entries = this.stmts.auditAfter.all(from, seq, maxEntries) as Row[];
    for (const entry of entries) this.feedEntry(entry);
    const reached = entries.length === maxEntries ? (entries[entries.length - 1]!.seq as number) : seq;
    this.stmts.setFeedState.run(reached);
    return entries.length;
  }

  async changes(idScope: string, hub: string, afterSeq: number, limit: number): Promise<HubChangeRecord[]> {
    return (this.stmts.changesOfHub.all(idScope, hub, afterSeq, limit) as Row[]).map((row) => ({
      seq: row.seq as number,
      idScope: row.id_scope as string,
      hub: row.hub as string,
      kind: row.kind as HubChangeKind,
      deviceId: (row.device_id as string | null) ?? null,
      registrationId: (row.registration_id as string | null) ?? null,
      details: JSON.parse(row.details as string) as Record<string, unknown>,
      auditSeq: row.audit_seq as number,
      at: new Date(row.at as string),
    }));
  }

  async lastChange(idScope: string, hub: string): Promise<number> {
    return ((this.stmts.lastChange.get(idScope, hub) as { seq: number | null }).seq ?? 0) as number;
  }

  /** One issuance-log entry: which devices it may have changed, then what changed for their hubs. */
  private feedEntry(entry: Row): void {
    const action = entry.action as string;
    const details = JSON.parse(entry.details as string) as Record<string, unknown>;
    const subject = (entry.subject as string | null) ?? "";
    const ctx: FeedContext = { auditSeq: entry.seq as number, at: entry.at as string };
    const [subjectScope, subjectId] = splitOnce(subject);
    switch (action) {
      case "dps.register":
        if (typeof details.idScope === "string" && typeof details.registrationId === "string") {
          this.refreshDevice(details.idScope, details.registrationId, ctx);
        }
        return;
      case "dps.registration.delete":
        if (subjectScope && subjectId) this.refreshDevice(subjectScope, subjectId, ctx, "deleted");
        return;
      case "dps.enrollment.update":
      case "dps.enrollment.delete":
      case "dps.group.update":
      case "dps.group.delete":
        if (subjectScope && subjectId) {
          const kind = action.startsWith("dps.group") ? "group" : "individual";
          this.refreshEnrollment(subjectScope, kind, subjectId, ctx, action.endsWith("delete") ? "enrollmentDeleted" : "enrollmentUpdated");
        }
        return;
      case "enrollment.revoke":
        if (
          typeof details.idScope === "string" &&
          (details.kind === "group" || details.kind === "individual") &&
          typeof details.id === "string"
        ) {
          this.refreshEnrollment(details.idScope, details.kind, details.id, ctx, "revoked");
        }
        return;
      case "dps.scope.delete":
        for (const { registration_id } of this.stmts.statesOfScope.all(subject) as Array<{ registration_id: string }>) {
          this.refreshDevice(subject, registration_id, ctx, "scopeDeleted");
        }
        return;
      case "dps.hub.update":
      case "dps.hub.delete":
        if (subjectScope && subjectId) {
          for (const { registration_id } of this.stmts.statesOfHub.all(subjectScope, subjectId) as Array<{ registration_id: string }>) {
            this.refreshDevice(subjectScope, registration_id, ctx, action === "dps.hub.delete" ? "hubDeleted" : "hubUpdated");
          }
        }
        return;
      case "cert.revoke": {
        const serial = entry.serial as string | null;
        if (!serial) return;
        const requester = this.lineageRequester(serial);
        const match = requester ? /^dps:([^/]+)\/(.+)$/i.exec(requester) : null;
        if (!match) return;
        const state = this.stmts.getState.get(match[1], match[2]) as Row | undefined;
        if (!state) return;
        const cert = this.stmts.certInfo.get(serial) as Row | undefined;
        this.emit(match[1]!, state.hub as string, "revoked", state.device_id as string | null, match[2]!, ctx, {
          serial,
          sha256: cert?.sha256 ?? details.sha256 ?? null,
          reason: details.reason ?? cert?.revocation_reason ?? null,
          revokedAt: (details.revokedAt as string | undefined) ?? (cert?.revoked_at as string | undefined) ?? ctx.at,
        });
        return;
      }
      case "key.rotate": {
        const idScope = details.idScope as string | undefined;
        if (!idScope) return;
        if (details.target === "hubPolicy" && typeof details.hub === "string") {
          this.emit(idScope, details.hub, "policyKeysRotated", null, null, ctx, { policy: details.policy ?? null });
        } else if ((details.target === "enrollment" || details.target === "group") && typeof details.id === "string") {
          const kind = details.target === "group" ? "group" : "individual";
          for (const { registration_id } of this.stmts.regsOfEnrollment.all(idScope, kind, details.id) as Array<{
            registration_id: string;
          }>) {
            const state = this.stmts.getState.get(idScope, registration_id) as Row | undefined;
            if (state) {
              this.emit(idScope, state.hub as string, "credentialsChanged", state.device_id as string | null, registration_id, ctx, {
                enrollment: { kind, id: details.id },
              });
            }
          }
        }
        return;
      }
      default:
        return;
    }
  }

  private refreshEnrollment(idScope: string, kind: "individual" | "group", id: string, ctx: FeedContext, reason: string): void {
    for (const { registration_id } of this.stmts.regsOfEnrollment.all(idScope, kind, id) as Array<{ registration_id: string }>) {
      this.refreshDevice(idScope, registration_id, ctx, reason);
    }
  }

  /** Recomputes one device's hub, device id and standing, and records what changed for the hubs involved. */
  private refreshDevice(idScope: string, registrationId: string, ctx: FeedContext, reason?: string): void {
    const prevRow = this.stmts.getState.get(idScope, registrationId) as Row | undefined;
    const prev = prevRow
      ? { hub: prevRow.hub as string, deviceId: prevRow.device_id as string | null, active: prevRow.active === 1 }
      : null;
    const reg = this.stmts.regById.get(idScope, registrationId) as Row | undefined;
    const scope = (reg?.id_scope as string | undefined) ?? (prevRow?.id_scope as string | undefined) ?? idScope;
    const regId = (reg?.registration_id as string | undefined) ?? (prevRow?.registration_id as string | undefined) ?? registrationId;
    let next: { hub: string; deviceId: string | null; active: boolean } | null = null;
    if (reg?.assigned_hub) {
      const hub = this.stmts.hubNameByHost.get(scope, reg.assigned_hub) as { name: string } | undefined;
      if (hub) {
        const enrollment = this.stmts.enrollmentRow.get(scope, reg.enrollment_kind, reg.enrollment_id) as
          { provisioning_status: string } | undefined;
        const blocked = this.stmts.getBlock.get(scope, reg.enrollment_kind, reg.enrollment_id) !== undefined;
        next = {
          hub: hub.name,
          deviceId: (reg.device_id as string | null) ?? null,
          active: reg.status === "assigned" && enrollment?.provisioning_status === "enabled" && !blocked,
        };
      }
    }
    const why = reason ? { reason } : {};
    if (prev && next && prev.hub.toLowerCase() === next.hub.toLowerCase() && prev.deviceId === next.deviceId) {
      if (prev.active !== next.active) this.emit(scope, next.hub, next.active ? "enabled" : "disabled", next.deviceId, regId, ctx, why);
    } else {
      if (prev) this.emit(scope, prev.hub, "unassigned", prev.deviceId, regId, ctx, { ...why, movedTo: next?.hub ?? null });
      if (next)
        this.emit(scope, next.hub, "assigned", next.deviceId, regId, ctx, { ...why, movedFrom: prev?.hub ?? null, enabled: next.active });
    }
    if (next) this.stmts.putState.run(scope, regId, next.hub, next.deviceId, next.active ? 1 : 0);
    else if (prev) this.stmts.deleteState.run(scope, regId);
  }

  private emit(
    idScope: string,
    hub: string,
    kind: HubChangeKind,
    deviceId: string | null,
    registrationId: string | null,
    ctx: FeedContext,
    details: Record<string, unknown>,
  ): void {
    this.stmts.insertChange.run(idScope, hub, kind, deviceId, registrationId, JSON.stringify(details), ctx.auditSeq, ctx.at);
  }
}

function splitOnce(text: string): [string, string] | [] {
  const i = text.indexOf("/");
  return i > 0 ? [text.slice(0, i), text.slice(i + 1)] : [];
}
