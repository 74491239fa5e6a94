import type { HubChangeKind, HubChangeRecord } from "../lifecycle-store.js";
import { FEED_ACTIONS, FEED_ACTIONS_LIST } from "../hub-feed-actions.js";
import type { PgDb, Query } from "./pg-db.js";

type Row = Record<string, unknown>;

interface FeedContext {
  auditSeq: number;
  at: Date;
}

const ACTIONS_SQL = FEED_ACTIONS_LIST.map((a) => `'${a}'`).join(", ");

/**
 * The hub change feed on PostgreSQL, derived from the issuance log as on SQLite (same actions,
 * same changes). It follows the log inside the transaction that appended the entries, after the
 * append and under the log's head lock, so each change is judged against the state of that
 * moment; the feed's position row is locked while it reads, so feeding from every node (and
 * catching up on read) turns each entry into changes exactly once, in log order, and a change's
 * seq follows commit order: a hub paging by seq never skips one committed late.
 */
export class PgHubFeed {
  constructor(
    private readonly pg: PgDb,
    /** The requester of a certificate's first ancestor (renewals keep the device's lineage). */
    private readonly lineageRequester: (query: Query, serial: string) => Promise<string | null>,
  ) {
    pg.onAppend(async (tx, entries) => {
      if (!entries.some((e) => FEED_ACTIONS.has(e.action))) return;
      await this.feedThrough(tx.query, entries[entries.length - 1]!.seq);
    });
  }

  async catchUp(maxEntries: number): Promise<number> {
    const [state] = await this.pg.query<{ head: number; fed: number }>(
      "SELECT (SELECT seq FROM audit_head WHERE id = 1) AS head, (SELECT audit_seq FROM hub_feed_state WHERE id = 1) AS fed",
    );
    if (!state || state.head <= state.fed) return 0;
    const { result } = await this.pg.write((tx) => this.feedThrough(tx.query, state.head, maxEntries));
    return result;
  }

  /** Inside a write transaction: turns the log entries after the feed's position, up to `seq`, into hub changes. */
  private async feedThrough(query: Query, seq: number, maxEntries = Number.MAX_SAFE_INTEGER): Promise<number> {
    const [state] = await query<{ audit_seq: number }>("SELECT audit_seq FROM hub_feed_state WHERE id = 1 FOR UPDATE");
    const from = state?.audit_seq ?? 0;
    if (seq <= from) return 0;
    const entries = await query(
      `SELECT seq, at, action, subject, serial, details FROM audit_log WHERE seq > $1 AND seq <= $2 AND action IN (${ACTIONS_SQL}) ORDER BY seq LIMIT $3`,
      [from, seq, Math.min(maxEntries, 1_000_000)],
    );
    for (const entry of entries) await this.feedEntry(query, entry);
    const reached = entries.length === maxEntries ? (entries[entries.length - 1]!.seq as number) : seq;
    await query("UPDATE hub_feed_state SET audit_seq = $1 WHERE id = 1", [reached]);
    return entries.length;
  }

  async changes(idScope: string, hub: string, afterSeq: number, limit: number): Promise<HubChangeRecord[]> {
    const rows = await this.pg.query(
      "SELECT * FROM hub_changes WHERE lower(id_scope) = lower($1) AND lower(hub) = lower($2) AND seq > $3 ORDER BY seq LIMIT $4",
      [idScope, hub, afterSeq, limit],
    );
    return rows.map((row) => ({
      seq: row.seq as number,
      idScope: row.id_scope as string,
      hub: row.hub as string,
      kind: row.kind as HubChangeKind,
      deviceId: (row.device_id as string | null) ?? null,
      registrationId: (row.registration_id as string | null) ?? null,
      details: JSON.parse(row.details as string) as Record<string, unknown>,
      auditSeq: row.audit_seq as number,
      at: row.at as Date,
    }));
  }

  async lastChange(idScope: string, hub: string): Promise<number> {
    const [row] = await this.pg.query<{ seq: number | null }>(
      "SELECT max(seq) AS seq FROM hub_changes WHERE lower(id_scope) = lower($1) AND lower(hub) = lower($2)",
      [idScope, hub],
    );
    return row?.seq ?? 0;
  }

  /** One issuance-log entry: which devices it may have changed, then what changed for their hubs. */
  private async feedEntry(q: Query, entry: Row): Promise<void> {
    const action = entry.action as string;
    const details = JSON.parse(entry.details as string) as Record<string, unknown>;
    const subject = (entry.subject as string | null) ?? "";
    const ctx: FeedContext = { auditSeq: entry.seq as number, at: entry.at as Date };
    const [subjectScope, subjectId] = splitOnce(subject);
    switch (action) {
      case "dps.register":
        if (typeof details.idScope === "string" && typeof details.registrationId === "string") {
          await this.refreshDevice(q, details.idScope, details.registrationId, ctx);
        }
        return;
      case "dps.registration.delete":
        if (subjectScope && subjectId) await this.refreshDevice(q, subjectScope, subjectId, ctx, "deleted");
        return;
      case "dps.enrollment.update":
      case "dps.enrollment.delete":
      case "dps.group.update":
      case "dps.group.delete":
        if (subjectScope && subjectId) {
          const kind = action.startsWith("dps.group") ? "group" : "individual";
          const why = action.endsWith("delete") ? "enrollmentDeleted" : "enrollmentUpdated";
          await this.refreshEnrollment(q, subjectScope, kind, subjectId, ctx, why);
        }
        return;
      case "enrollment.revoke":
        if (
          typeof details.idScope === "string" &&
          (details.kind === "group" || details.kind === "individual") &&
          typeof details.id === "string"
        ) {
          await this.refreshEnrollment(q, details.idScope, details.kind, details.id, ctx, "revoked");
        }
        return;
      case "dps.scope.delete":
        for (const { registration_id } of await q<{ registration_id: string }>(
          "SELECT registration_id FROM hub_device_state WHERE lower(id_scope) = lower($1)",
          [subject],
        )) {
          await this.refreshDevice(q, subject, registration_id, ctx, "scopeDeleted");
        }
        return;
      case "dps.hub.update":
      case "dps.hub.delete":
        if (subjectScope && subjectId) {
          for (const { registration_id } of await q<{ registration_id: string }>(
            "SELECT registration_id FROM hub_device_state WHERE lower(id_scope) = lower($1) AND lower(hub) = lower($2)",
            [subjectScope, subjectId],
          )) {
            await this.refreshDevice(q, subjectScope, registration_id, ctx, action === "dps.hub.delete" ? "hubDeleted" : "hubUpdated");
          }
        }
        return;
      case "cert.revoke": {
        const serial = entry.serial as string | null;
        if (!serial) return;
        const requester = await this.lineageRequester(q, serial);
        const match = requester ? /^dps:([^/]+)\/(.+)$/i.exec(requester) : null;
        if (!match) return;
        const state = await getState(q, match[1]!, match[2]!);
        if (!state) return;
        const [cert] = await q("SELECT sha256, revoked_at, revocation_reason FROM certificates WHERE serial = $1", [serial]);
        await emit(q, match[1]!, state.hub as string, "revoked", state.device_id as string | null, match[2]!, ctx, {
          serial,
          sha256: cert?.sha256 ?? details.sha256 ?? null,
          reason: details.reason ?? cert?.revocation_reason ?? null,
          revokedAt:
            (details.revokedAt as string | undefined) ?? (cert?.revoked_at as Date | undefined)?.toISOString() ?? ctx.at.toISOString(),
        });
        return;
      }
      case "key.rotate": {
        const idScope = details.idScope as string | undefined;
        if (!idScope) return;
        if (details.target === "hubPolicy" && typeof details.hub === "string") {
          await emit(q, idScope, details.hub, "policyKeysRotated", null, null, ctx, { policy: details.policy ?? null });
        } else if ((details.target === "enrollment" || details.target === "group") && typeof details.id === "string") {
          const kind = details.target === "group" ? "group" : "individual";
          for (const registrationId of await registrationsOf(q, idScope, kind, details.id)) {
            const state = await getState(q, idScope, registrationId);
            if (state) {
              await emit(q, idScope, state.hub as string, "credentialsChanged", state.device_id as string | null, registrationId, ctx, {
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

  private async refreshEnrollment(
    q: Query,
    idScope: string,
    kind: "individual" | "group",
    id: string,
    ctx: FeedContext,
    reason: string,
  ): Promise<void> {
    for (const registrationId of await registrationsOf(q, idScope, kind, id))
      await this.refreshDevice(q, idScope, registrationId, ctx, reason);
  }

  /** Recomputes one device's hub, device id and standing, and records what changed for the hubs involved. */
  private async refreshDevice(q: Query, idScope: string, registrationId: string, ctx: FeedContext, reason?: string): Promise<void> {
    const prevRow = await getState(q, idScope, registrationId);
    const prev = prevRow
      ? { hub: prevRow.hub as string, deviceId: prevRow.device_id as string | null, active: prevRow.active === true }
      : null;
    const [reg] = await q("SELECT * FROM dps_registrations WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2)", [
      idScope,
      registrationId,
    ]);
    const scope = (reg?.id_scope as string | undefined) ?? (prevRow?.id_scope as string | undefined) ?? idScope;
    const regId = (reg?.registration_id as string | undefined) ?? (prevRow?.registration_id as string | undefined) ?? registrationId;
    let next: { hub: string; deviceId: string | null; active: boolean } | null = null;
    if (reg?.assigned_hub) {
      const [hub] = await q<{ name: string }>(
        "SELECT name FROM dps_hubs WHERE lower(id_scope) = lower($1) AND lower(host_name) = lower($2)",
        [scope, reg.assigned_hub],
      );
      if (hub) {
        const [enrollment] = await q<{ provisioning_status: string }>(
          "SELECT provisioning_status FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3)",
          [scope, reg.enrollment_kind, reg.enrollment_id],
        );
        const blocked =
          (
            await q("SELECT 1 FROM enrollment_blocks WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3)", [
              scope,
              reg.enrollment_kind,
              reg.enrollment_id,
            ])
          ).length > 0;
        next = {
          hub: hub.name,
          deviceId: (reg.device_id as string | null) ?? null,
          active: reg.status === "assigned" && enrollment?.provisioning_status === "enabled" && !blocked,
        };
      }
    }
    const why = reason ? { reason } : {};
    if (prev && next && prev.hub.toLowerCase() === next.hub.toLowerCase() && prev.deviceId === next.deviceId) {
      if (prev.active !== next.active) await emit(q, scope, next.hub, next.active ? "enabled" : "disabled", next.deviceId, regId, ctx, why);
    } else {
      if (prev) await emit(q, scope, prev.hub, "unassigned", prev.deviceId, regId, ctx, { ...why, movedTo: next?.hub ?? null });
      if (next) {
        await emit(q, scope, next.hub, "assigned", next.deviceId, regId, ctx, {
          ...why,
          movedFrom: prev?.hub ?? null,
          enabled: next.active,
        });
      }
    }
    if (next) {
      await q(
        `INSERT INTO hub_device_state (id_scope, registration_id, hub, device_id, active) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ((lower(id_scope)), (lower(registration_id))) DO UPDATE SET hub = excluded.hub, device_id = excluded.device_id, active = excluded.active`,
        [scope, regId, next.hub, next.deviceId, next.active],
      );
    } else if (prev) {
      await q("DELETE FROM hub_device_state WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2)", [scope, regId]);
    }
  }
}

async function getState(q: Query, idScope: string, registrationId: string): Promise<Row | undefined> {
  const [row] = await q("SELECT * FROM hub_device_state WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2)", [
    idScope,
    registrationId,
  ]);
  return row;
}

async function registrationsOf(q: Query, idScope: string, kind: string, id: string): Promise<string[]> {
  const rows = await q<{ registration_id: string }>(
    "SELECT registration_id FROM dps_registrations WHERE lower(id_scope) = lower($1) AND enrollment_kind = $2 AND lower(enrollment_id) = lower($3) ORDER BY pos",
    [idScope, kind, id],
  );
  return rows.map((r) => r.registration_id);
}

async function emit(
  q: Query,
  idScope: string,
  hub: string,
  kind: HubChangeKind,
  deviceId: string | null,
  registrationId: string | null,
  ctx: FeedContext,
  details: Record<string, unknown>,
): Promise<void> {
  await q(
    "INSERT INTO hub_changes (id_scope, hub, kind, device_id, registration_id, details, audit_seq, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [idScope, hub, kind, deviceId, registrationId, JSON.stringify(details), ctx.auditSeq, ctx.at],
  );
}

function splitOnce(text: string): [string, string] | [] {
  const i = text.indexOf("/");
  return i > 0 ? [text.slice(0, i), text.slice(i + 1)] : [];
}
