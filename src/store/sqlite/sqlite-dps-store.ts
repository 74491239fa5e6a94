import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";
import type { SecretBox } from "../secret-box.js";
import type { Page, PageRequest } from "../store.js";
import type { AuditInput } from "../records.js";
import type { DpsStore, RegistrationFilter } from "../dps-store.js";
import type { EnrollmentKind, EnrollmentRecord, EnrollmentSpec, HubRecord, RegistrationRecord, ScopeRecord } from "../dps-records.js";

type Row = Record<string, unknown>;

/** What SqliteDb.changed() counts for writes to scopes, hubs and enrollments, whichever store makes them. */
export const DPS_CONFIG = "dps-config";

/**
 * Scopes, hubs, enrollments and registrations on the shared SQLite database (migration 0003-dps).
 * The registration path reads a scope, its hubs and its groups on every request; those reads
 * are cached and revalidated per call against `PRAGMA data_version` (which moves when another
 * connection commits) and the shared connection's count of its own DPS configuration changes
 * (by this store or another, see DPS_CONFIG), so a change from any process is seen by the next
 * registration.
 */
export class SqliteDpsStore implements DpsStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly cache = new Map<string, unknown>();
  private cacheStamp = "";

  /** `secrets` seals symmetric keys at rest. */
  constructor(
    private readonly sqlite: SqliteDb,
    private readonly secrets: SecretBox,
  ) {
    this.db = sqlite.db;
    this.stmts = this.prepare();
  }

  /** A cached read, dropped whenever the configuration may have changed. */
  private cached<T>(key: string, read: () => T): T {
    const stamp = `${this.stmts.dataVersion.get() as number}:${this.sqlite.generation(DPS_CONFIG)}`;
    if (stamp !== this.cacheStamp) {
      this.cache.clear();
      this.cacheStamp = stamp;
    }
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const value = read();
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, value);
    return value;
  }

  private prepare() {
    const db = this.db;
    return {
      dataVersion: db.prepare("PRAGMA data_version").pluck(),
      insertScope: db.prepare("INSERT INTO dps_scopes (id_scope, description, created_at) VALUES (?, ?, ?)"),
      getScope: db.prepare("SELECT * FROM dps_scopes WHERE id_scope = ?"),
      listScopes: db.prepare("SELECT * FROM dps_scopes ORDER BY created_at, id_scope"),
      deleteScope: db.prepare("DELETE FROM dps_scopes WHERE id_scope = ?"),
      countHubs: db.prepare("SELECT count(*) AS n FROM dps_hubs WHERE id_scope = ?"),
      countEnrollments: db.prepare("SELECT count(*) AS n FROM dps_enrollments WHERE id_scope = ? AND kind = ?"),
      countRegistrations: db.prepare("SELECT count(*) AS n FROM dps_registrations WHERE id_scope = ?"),

      insertHub: db.prepare(
        `INSERT INTO dps_hubs (id_scope, name, host_name, weight, region, enabled, created_at, updated_at)
         VALUES (@idScope, @name, @hostName, @weight, @region, @enabled, @createdAt, @updatedAt)`,
      ),
      updateHub: db.prepare(
        `UPDATE dps_hubs SET host_name = @hostName, weight = @weight, region = @region, enabled = @enabled, updated_at = @updatedAt
         WHERE id_scope = @idScope AND name = @name`,
      ),
      deleteHub: db.prepare("DELETE FROM dps_hubs WHERE id_scope = ? AND name = ?"),
      getHub: db.prepare("SELECT * FROM dps_hubs WHERE id_scope = ? AND name = ?"),
      listHubs: db.prepare("SELECT * FROM dps_hubs WHERE id_scope = ? ORDER BY name"),

      insertEnrollment: db.prepare(
        `INSERT INTO dps_enrollments (id_scope, kind, id, attestation_type, provisioning_status, spec, etag, created_at, updated_at)
         VALUES (@idScope, @kind, @id, @attestationType, @provisioningStatus, @spec, @etag, @createdAt, @updatedAt)`,
      ),
      updateEnrollment: db.prepare(
        `UPDATE dps_enrollments SET attestation_type = @attestationType, provisioning_status = @provisioningStatus, spec = @spec,
           etag = @etag, updated_at = @updatedAt
         WHERE id_scope = @idScope AND kind = @kind AND id = @id AND etag = @ifEtag`,
      ),
      deleteEnrollment: db.prepare("DELETE FROM dps_enrollments WHERE id_scope = ? AND kind = ? AND id = ?"),
      getEnrollment: db.prepare("SELECT rowid, * FROM dps_enrollments WHERE id_scope = ? AND kind = ? AND id = ?"),
      listEnrollments: db.prepare(
        "SELECT rowid, * FROM dps_enrollments WHERE id_scope = ? AND kind = ? AND rowid > ? ORDER BY rowid LIMIT ?",
      ),
      groupsByAttestation: db.prepare(
        "SELECT rowid, * FROM dps_enrollments WHERE id_scope = ? AND kind = 'group' AND attestation_type = ? ORDER BY rowid",
      ),

      getRegistration: db.prepare("SELECT rowid, * FROM dps_registrations WHERE id_scope = ? AND registration_id = ?"),
      upsertRegistration: db.prepare(
        `INSERT INTO dps_registrations (id_scope, registration_id, enrollment_kind, enrollment_id, status, substatus, assigned_hub,
           initial_hub, device_id, attestation, etag, operation_id, issued_serial, error_code, error_message, payload, initial_twin,
           iot_edge, created_at, updated_at)
         VALUES (@idScope, @registrationId, @enrollmentKind, @enrollmentId, @status, @substatus, @assignedHub, @initialHub, @deviceId,
           @attestation, @etag, @operationId, @issuedSerial, @errorCode, @errorMessage, @payload, @initialTwin, @iotEdge, @createdAt,
           @updatedAt)
         ON CONFLICT (id_scope, registration_id) DO UPDATE SET
           registration_id = excluded.registration_id, enrollment_kind = excluded.enrollment_kind,
           enrollment_id = excluded.enrollment_id, status = excluded.status, substatus = excluded.substatus,
           assigned_hub = excluded.assigned_hub, initial_hub = excluded.initial_hub, device_id = excluded.device_id,
           attestation = excluded.attestation, etag = excluded.etag, operation_id = excluded.operation_id,
           issued_serial = excluded.issued_serial, error_code = excluded.error_code, error_message = excluded.error_message,
           payload = excluded.payload, initial_twin = excluded.initial_twin, iot_edge = excluded.iot_edge,
           updated_at = excluded.updated_at`,
      ),
      deleteRegistration: db.prepare("DELETE FROM dps_registrations WHERE id_scope = ? AND registration_id = ?"),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Scopes

  async insertScope(scope: ScopeRecord, audit: AuditInput): Promise<void> {
    this.write(`ID scope ${scope.idScope} already exists`, () => {
      this.stmts.insertScope.run(scope.idScope, scope.description, iso(scope.createdAt));
      this.sqlite.appendAudit(audit);
    });
  }

  async getScope(idScope: string): Promise<ScopeRecord | null> {
    return this.cached(`scope:${idScope.toLowerCase()}`, () => {
      const row = this.stmts.getScope.get(idScope) as Row | undefined;
      return row ? scopeFromRow(row) : null;
    });
  }

  async listScopes(): Promise<ScopeRecord[]> {
    return (this.stmts.listScopes.all() as Row[]).map(scopeFromRow);
  }

  async scopeContents(idScope: string) {
    const n = (stmt: Database.Statement, ...args: unknown[]) => (stmt.get(...args) as { n: number }).n;
    return {
      hubs: n(this.stmts.countHubs, idScope),
      enrollments: n(this.stmts.countEnrollments, idScope, "individual"),
      groups: n(this.stmts.countEnrollments, idScope, "group"),
      registrations: n(this.stmts.countRegistrations, idScope),
    };
  }

  async deleteScope(idScope: string, audit: AuditInput): Promise<void> {
    this.configWrite(() => {
      // Children first: the foreign keys cascade too, this keeps the order explicit.
      for (const table of ["dps_registrations", "dps_enrollments", "dps_hubs"]) {
        this.db.prepare(`DELETE FROM ${table} WHERE id_scope = ?`).run(idScope);
      }
      if (this.stmts.deleteScope.run(idScope).changes === 0) throw new AppError("not_found", `No ID scope ${idScope}`);
      this.sqlite.appendAudit(audit);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Hubs

  async insertHub(hub: HubRecord, audit: AuditInput): Promise<void> {
    this.write(`Hub ${hub.name} or host name ${hub.hostName} already exists in scope ${hub.idScope}`, () => {
      this.requireScope(hub.idScope);
      this.stmts.insertHub.run(hubToRow(hub));
      this.sqlite.appendAudit(audit);
    });
  }

  async replaceHub(hub: HubRecord, audit: AuditInput): Promise<void> {
    this.write(`Host name ${hub.hostName} is already used by another hub in scope ${hub.idScope}`, () => {
      if (this.stmts.updateHub.run(hubToRow(hub)).changes === 0) {
        throw new AppError("not_found", `No hub ${hub.name} in scope ${hub.idScope}`);
      }
      this.sqlite.appendAudit(audit);
    });
  }

  async deleteHub(idScope: string, name: string, audit: AuditInput): Promise<void> {
    this.configWrite(() => {
      if (this.stmts.deleteHub.run(idScope, name).changes === 0) throw new AppError("not_found", `No hub ${name} in scope ${idScope}`);
      this.sqlite.appendAudit(audit);
    });
  }

  async getHub(idScope: string, name: string): Promise<HubRecord | null> {
    const row = this.stmts.getHub.get(idScope, name) as Row | undefined;
    return row ? hubFromRow(row) : null;
  }

  async listHubs(idScope: string): Promise<HubRecord[]> {
    return this.cached(`hubs:${idScope.toLowerCase()}`, () => (this.stmts.listHubs.all(idScope) as Row[]).map(hubFromRow));
  }

  // ---------------------------------------------------------------------------------------
  // Enrollments

  async insertEnrollment(enrollment: EnrollmentRecord, audit: AuditInput): Promise<void> {
    const what = enrollment.kind === "group" ? "Enrollment group" : "Individual enrollment";
    this.write(`${what} ${enrollment.id} already exists in scope ${enrollment.idScope}`, () => {
      this.requireScope(enrollment.idScope);
      this.stmts.insertEnrollment.run(enrollmentToRow(enrollment, this.secrets));
      this.sqlite.appendAudit(audit);
    });
  }

  async replaceEnrollment(enrollment: EnrollmentRecord, ifEtag: string, audit: AuditInput): Promise<void> {
    this.configWrite(() => {
      const result = this.stmts.updateEnrollment.run({ ...enrollmentToRow(enrollment, this.secrets), ifEtag });
      if (result.changes === 0) {
        const exists = this.stmts.getEnrollment.get(enrollment.idScope, enrollment.kind, enrollment.id);
        if (!exists) throw new AppError("not_found", `No ${kindName(enrollment.kind)} ${enrollment.id} in scope ${enrollment.idScope}`);
        throw new AppError(
          "conflict",
          `Cannot update ${kindName(enrollment.kind)} ${enrollment.id}: it was changed meanwhile (etag mismatch); read it again`,
        );
      }
      this.sqlite.appendAudit(audit);
    });
  }

  async deleteEnrollment(idScope: string, kind: EnrollmentKind, id: string, audit: AuditInput): Promise<void> {
    this.configWrite(() => {
      if (this.stmts.deleteEnrollment.run(idScope, kind, id).changes === 0) {
        throw new AppError("not_found", `No ${kindName(kind)} ${id} in scope ${idScope}`);
      }
      this.sqlite.appendAudit(audit);
    });
  }

  async getEnrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentRecord | null> {
    const row = this.stmts.getEnrollment.get(idScope, kind, id) as Row | undefined;
    return row ? enrollmentFromRow(row, this.secrets) : null;
  }

  async listEnrollments(idScope: string, kind: EnrollmentKind, page: PageRequest): Promise<Page<EnrollmentRecord>> {
    const after = page.after ? decodeCursor(page.after) : 0;
    const rows = this.stmts.listEnrollments.all(idScope, kind, after, page.limit + 1) as Row[];
    return pageOf(rows, page.limit, (r) => enrollmentFromRow(r, this.secrets));
  }

  async groupsByAttestation(idScope: string, type: "symmetricKey" | "x509"): Promise<EnrollmentRecord[]> {
    return this.cached(`groups:${type}:${idScope.toLowerCase()}`, () =>
      (this.stmts.groupsByAttestation.all(idScope, type) as Row[]).map((r) => enrollmentFromRow(r, this.secrets)),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Registrations

  async getRegistration(idScope: string, registrationId: string): Promise<RegistrationRecord | null> {
    const row = this.stmts.getRegistration.get(idScope, registrationId) as Row | undefined;
    return row ? registrationFromRow(row) : null;
  }

  async listRegistrations(idScope: string, filter: RegistrationFilter, page: PageRequest): Promise<Page<RegistrationRecord>> {
    const where = ["id_scope = ?"];
    const args: unknown[] = [idScope];
    if (filter.status) (where.push("status = ?"), args.push(filter.status));
    if (filter.assignedHub) (where.push("assigned_hub = ? COLLATE NOCASE"), args.push(filter.assignedHub));
    if (filter.enrollmentKind) (where.push("enrollment_kind = ?"), args.push(filter.enrollmentKind));
    if (filter.enrollmentId) (where.push("enrollment_id = ? COLLATE NOCASE"), args.push(filter.enrollmentId));
    if (page.after) (where.push("rowid > ?"), args.push(decodeCursor(page.after)));
    const sql = `SELECT rowid, * FROM dps_registrations WHERE ${where.join(" AND ")} ORDER BY rowid LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, page.limit + 1) as Row[];
    return pageOf(rows, page.limit, registrationFromRow);
  }

  async saveRegistrations(items: Array<{ registration: RegistrationRecord; audit: AuditInput }>): Promise<void> {
    this.sqlite.write(() => {
      for (const { registration, audit } of items) {
        this.requireScope(registration.idScope);
        this.stmts.upsertRegistration.run(registrationToRow(registration));
        this.sqlite.appendAudit(audit);
      }
    });
  }

  async deleteRegistration(idScope: string, registrationId: string, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      if (this.stmts.deleteRegistration.run(idScope, registrationId).changes === 0) {
        throw new AppError("not_found", `No registration ${registrationId} in scope ${idScope}`);
      }
      this.sqlite.appendAudit(audit);
    });
  }

  // ---------------------------------------------------------------------------------------

  private requireScope(idScope: string): void {
    if (!this.stmts.getScope.get(idScope)) throw new AppError("not_found", `No ID scope ${idScope}`);
  }

  /** A configuration write transaction whose unique-constraint clash becomes already_exists with `clash` as message. */
  private write(clash: string, fn: () => void): void {
    try {
      this.configWrite(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("already_exists", clash);
      throw err;
    }
  }

  /** A write to scopes, hubs or enrollments: cached configuration reads are dropped after it. */
  private configWrite<T>(fn: () => T): T {
    try {
      return this.sqlite.write(fn);
    } finally {
      this.sqlite.changed(DPS_CONFIG);
    }
  }
}

function kindName(kind: EnrollmentKind): string {
  return kind === "group" ? "enrollment group" : "individual enrollment";
}

function pageOf<T>(rows: Row[], limit: number, map: (row: Row) => T): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  return { items: items.map(map), nextCursor: more ? encodeCursor(items[items.length - 1]!.rowid as number) : null };
}

function iso(d: Date): string {
  return d.toISOString();
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseJson(text: unknown): unknown {
  return typeof text === "string" ? JSON.parse(text) : null;
}

function scopeFromRow(row: Row): ScopeRecord {
  return { idScope: row.id_scope as string, description: row.description as string, createdAt: new Date(row.created_at as string) };
}

function hubToRow(hub: HubRecord): Row {
  return {
    idScope: hub.idScope,
    name: hub.name,
    hostName: hub.hostName,
    weight: hub.weight,
    region: hub.region,
    enabled: hub.enabled ? 1 : 0,
    createdAt: iso(hub.createdAt),
    updatedAt: iso(hub.updatedAt),
  };
}

function hubFromRow(row: Row): HubRecord {
  return {
    idScope: row.id_scope as string,
    name: row.name as string,
    hostName: row.host_name as string,
    weight: row.weight as number,
    region: (row.region as string | null) ?? null,
    enabled: row.enabled === 1,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
}

function enrollmentToRow(e: EnrollmentRecord, secrets: SecretBox): Row {
  const spec: EnrollmentSpec = {
    attestation:
      e.attestation.type === "symmetricKey"
        ? { ...e.attestation, primaryKey: secrets.seal(e.attestation.primaryKey), secondaryKey: secrets.seal(e.attestation.secondaryKey) }
        : e.attestation,
    provisioningStatus: e.provisioningStatus,
    allowlists: e.allowlists,
    profile: e.profile,
    allocation: e.allocation,
    reprovision: e.reprovision,
    deviceId: e.deviceId,
    initialTwin: e.initialTwin,
    capabilities: e.capabilities,
  };
  return {
    idScope: e.idScope,
    kind: e.kind,
    id: e.id,
    attestationType: e.attestation.type,
    provisioningStatus: e.provisioningStatus,
    spec: JSON.stringify(spec),
    etag: e.etag,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

function enrollmentFromRow(row: Row, secrets: SecretBox): EnrollmentRecord {
  const spec = JSON.parse(row.spec as string) as EnrollmentSpec;
  if (spec.attestation.type === "symmetricKey") {
    spec.attestation = {
      ...spec.attestation,
      primaryKey: secrets.open(spec.attestation.primaryKey),
      secondaryKey: secrets.open(spec.attestation.secondaryKey),
    };
  }
  return {
    idScope: row.id_scope as string,
    kind: row.kind as EnrollmentKind,
    id: row.id as string,
    ...spec,
    etag: row.etag as string,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
}

function registrationToRow(r: RegistrationRecord): Row {
  return {
    ...r,
    attestation: JSON.stringify(r.attestation),
    payload: json(r.payload),
    initialTwin: json(r.initialTwin),
    iotEdge: r.iotEdge ? 1 : 0,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}

function registrationFromRow(row: Row): RegistrationRecord {
  return {
    idScope: row.id_scope as string,
    registrationId: row.registration_id as string,
    enrollmentKind: row.enrollment_kind as EnrollmentKind,
    enrollmentId: row.enrollment_id as string,
    status: row.status as RegistrationRecord["status"],
    substatus: (row.substatus as RegistrationRecord["substatus"]) ?? null,
    assignedHub: (row.assigned_hub as string | null) ?? null,
    initialHub: (row.initial_hub as string | null) ?? null,
    deviceId: (row.device_id as string | null) ?? null,
    attestation: JSON.parse(row.attestation as string) as RegistrationRecord["attestation"],
    etag: row.etag as string,
    operationId: row.operation_id as string,
    issuedSerial: (row.issued_serial as string | null) ?? null,
    errorCode: (row.error_code as number | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
    payload: parseJson(row.payload),
    initialTwin: parseJson(row.initial_twin) as Record<string, unknown> | null,
    iotEdge: row.iot_edge === 1,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
}
