import { AppError } from "../../errors.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { isUniqueViolation, type PgDb, type PgTx } from "./pg-db.js";
import type { SecretBox } from "../secret-box.js";
import type { Page, PageRequest } from "../store.js";
import type { AuditInput } from "../records.js";
import type { DpsStore, RegistrationFilter } from "../dps-store.js";
import type { EnrollmentKind, EnrollmentRecord, EnrollmentSpec, HubRecord, RegistrationRecord, ScopeRecord } from "../dps-records.js";

type Row = Record<string, unknown>;

const REGISTRATION_COLUMNS = [
  "id_scope",
  "registration_id",
  "enrollment_kind",
  "enrollment_id",
  "status",
  "substatus",
  "assigned_hub",
  "initial_hub",
  "device_id",
  "attestation",
  "etag",
  "operation_id",
  "issued_serial",
  "error_code",
  "error_message",
  "payload",
  "initial_twin",
  "iot_edge",
  "created_at",
  "updated_at",
];

const UPSERT_REGISTRATION = `INSERT INTO dps_registrations (${REGISTRATION_COLUMNS.join(", ")})
  VALUES (${REGISTRATION_COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})
  ON CONFLICT ((lower(id_scope)), (lower(registration_id))) DO UPDATE SET
  ${REGISTRATION_COLUMNS.filter((c) => c !== "id_scope" && c !== "created_at")
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}`;

/**
 * Scopes, hubs, enrollments and registrations on PostgreSQL. The registration path reads a
 * scope, its hubs and its groups on every request; those reads are cached and revalidated per
 * call against the `dps-config` change counter, which every write to scopes, hubs and
 * enrollments moves in its own transaction, on whichever node: a change committed anywhere is
 * seen by the next registration on every node, as SQLite's data_version does for processes.
 */
export class PgDpsStore implements DpsStore {
  private readonly cache = new Map<string, unknown>();
  private cacheStamp = -1;

  /** `secrets` seals symmetric keys at rest. */
  constructor(
    private readonly pg: PgDb,
    private readonly secrets: SecretBox,
  ) {}

  /** A cached read, dropped whenever the configuration may have changed. */
  private async cached<T>(key: string, read: () => Promise<T>): Promise<T> {
    const [row] = await this.pg.query<{ n: number }>("SELECT n FROM change_counters WHERE kind = 'dps-config'");
    const stamp = row?.n ?? 0;
    if (stamp !== this.cacheStamp) {
      this.cache.clear();
      this.cacheStamp = stamp;
    }
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const value = await read();
    // Only keep what was read under the stamp checked: a change meanwhile leaves it uncached.
    if (this.cacheStamp === stamp) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, value);
    }
    return value;
  }

  // ---------------------------------------------------------------------------------------
  // Scopes

  async insertScope(scope: ScopeRecord, audit: AuditInput): Promise<void> {
    await this.configWrite(`ID scope ${scope.idScope} already exists`, async (tx) => {
      await tx.query("INSERT INTO dps_scopes (id_scope, description, created_at) VALUES ($1, $2, $3)", [
        scope.idScope,
        scope.description,
        scope.createdAt,
      ]);
      tx.audit(audit);
    });
  }

  async getScope(idScope: string): Promise<ScopeRecord | null> {
    return this.cached(`scope:${idScope.toLowerCase()}`, async () => {
      const [row] = await this.pg.query("SELECT * FROM dps_scopes WHERE lower(id_scope) = lower($1)", [idScope]);
      return row ? scopeFromRow(row) : null;
    });
  }

  async listScopes(): Promise<ScopeRecord[]> {
    return (await this.pg.query('SELECT * FROM dps_scopes ORDER BY created_at, lower(id_scope) COLLATE "C"')).map(scopeFromRow);
  }

  async scopeContents(idScope: string) {
    const [row] = await this.pg.query<{ hubs: number; enrollments: number; groups: number; registrations: number }>(
      `SELECT (SELECT count(*) FROM dps_hubs WHERE lower(id_scope) = lower($1)) AS hubs,
              (SELECT count(*) FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = 'individual') AS enrollments,
              (SELECT count(*) FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = 'group') AS groups,
              (SELECT count(*) FROM dps_registrations WHERE lower(id_scope) = lower($1)) AS registrations`,
      [idScope],
    );
    return { hubs: row!.hubs, enrollments: row!.enrollments, groups: row!.groups, registrations: row!.registrations };
  }

  async deleteScope(idScope: string, audit: AuditInput): Promise<void> {
    await this.configWrite(null, async (tx) => {
      for (const table of ["dps_registrations", "dps_enrollments", "hub_policies", "sas_policies", "dps_hubs"]) {
        await tx.query(`DELETE FROM ${table} WHERE lower(id_scope) = lower($1)`, [idScope]);
      }
      const deleted = await tx.query("DELETE FROM dps_scopes WHERE lower(id_scope) = lower($1) RETURNING id_scope", [idScope]);
      if (deleted.length === 0) throw new AppError("not_found", `No ID scope ${idScope}`);
      tx.audit(audit);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Hubs

  async insertHub(hub: HubRecord, audit: AuditInput): Promise<void> {
    await this.configWrite(`Hub ${hub.name} or host name ${hub.hostName} already exists in scope ${hub.idScope}`, async (tx) => {
      await requireScope(tx, hub.idScope);
      await tx.query(
        `INSERT INTO dps_hubs (id_scope, name, host_name, weight, region, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [hub.idScope, hub.name, hub.hostName, hub.weight, hub.region, hub.enabled, hub.createdAt, hub.updatedAt],
      );
      tx.audit(audit);
    });
  }

  async replaceHub(hub: HubRecord, audit: AuditInput): Promise<void> {
    await this.configWrite(`Host name ${hub.hostName} is already used by another hub in scope ${hub.idScope}`, async (tx) => {
      const updated = await tx.query(
        `UPDATE dps_hubs SET host_name = $3, weight = $4, region = $5, enabled = $6, updated_at = $7
         WHERE lower(id_scope) = lower($1) AND lower(name) = lower($2) RETURNING name`,
        [hub.idScope, hub.name, hub.hostName, hub.weight, hub.region, hub.enabled, hub.updatedAt],
      );
      if (updated.length === 0) throw new AppError("not_found", `No hub ${hub.name} in scope ${hub.idScope}`);
      tx.audit(audit);
    });
  }

  async deleteHub(idScope: string, name: string, audit: AuditInput): Promise<void> {
    await this.configWrite(null, async (tx) => {
      const deleted = await tx.query("DELETE FROM dps_hubs WHERE lower(id_scope) = lower($1) AND lower(name) = lower($2) RETURNING name", [
        idScope,
        name,
      ]);
      if (deleted.length === 0) throw new AppError("not_found", `No hub ${name} in scope ${idScope}`);
      // SQLite cascades these by foreign key; here the store removes a hub's policies with it.
      await tx.query("DELETE FROM hub_policies WHERE lower(id_scope) = lower($1) AND lower(hub_name) = lower($2)", [idScope, name]);
      tx.audit(audit);
    });
  }

  async getHub(idScope: string, name: string): Promise<HubRecord | null> {
    const [row] = await this.pg.query("SELECT * FROM dps_hubs WHERE lower(id_scope) = lower($1) AND lower(name) = lower($2)", [
      idScope,
      name,
    ]);
    return row ? hubFromRow(row) : null;
  }

  async listHubs(idScope: string): Promise<HubRecord[]> {
    return this.cached(`hubs:${idScope.toLowerCase()}`, async () =>
      (await this.pg.query('SELECT * FROM dps_hubs WHERE lower(id_scope) = lower($1) ORDER BY lower(name) COLLATE "C"', [idScope])).map(
        hubFromRow,
      ),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Enrollments

  async insertEnrollment(enrollment: EnrollmentRecord, audit: AuditInput): Promise<void> {
    const what = enrollment.kind === "group" ? "Enrollment group" : "Individual enrollment";
    await this.configWrite(`${what} ${enrollment.id} already exists in scope ${enrollment.idScope}`, async (tx) => {
      await requireScope(tx, enrollment.idScope);
      const r = enrollmentToRow(enrollment, this.secrets);
      await tx.query(
        `INSERT INTO dps_enrollments (id_scope, kind, id, attestation_type, provisioning_status, spec, etag, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [r.idScope, r.kind, r.id, r.attestationType, r.provisioningStatus, r.spec, r.etag, r.createdAt, r.updatedAt],
      );
      tx.audit(audit);
    });
  }

  async replaceEnrollment(enrollment: EnrollmentRecord, ifEtag: string, audit: AuditInput): Promise<void> {
    await this.configWrite(null, async (tx) => {
      const r = enrollmentToRow(enrollment, this.secrets);
      // The row lock orders racing writers; the loser re-reads the row and its etag no longer matches.
      const updated = await tx.query(
        `UPDATE dps_enrollments SET attestation_type = $4, provisioning_status = $5, spec = $6, etag = $7, updated_at = $8
         WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3) AND etag = $9 RETURNING pos`,
        [r.idScope, r.kind, r.id, r.attestationType, r.provisioningStatus, r.spec, r.etag, r.updatedAt, ifEtag],
      );
      if (updated.length === 0) {
        const exists = await tx.query(
          "SELECT pos FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3)",
          [r.idScope, r.kind, r.id],
        );
        if (exists.length === 0) {
          throw new AppError("not_found", `No ${kindName(enrollment.kind)} ${enrollment.id} in scope ${enrollment.idScope}`);
        }
        throw new AppError(
          "conflict",
          `Cannot update ${kindName(enrollment.kind)} ${enrollment.id}: it was changed meanwhile (etag mismatch); read it again`,
        );
      }
      tx.audit(audit);
    });
  }

  async deleteEnrollment(idScope: string, kind: EnrollmentKind, id: string, audit: AuditInput): Promise<void> {
    await this.configWrite(null, async (tx) => {
      const deleted = await tx.query(
        "DELETE FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3) RETURNING pos",
        [idScope, kind, id],
      );
      if (deleted.length === 0) throw new AppError("not_found", `No ${kindName(kind)} ${id} in scope ${idScope}`);
      tx.audit(audit);
    });
  }

  async getEnrollment(idScope: string, kind: EnrollmentKind, id: string): Promise<EnrollmentRecord | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3)",
      [idScope, kind, id],
    );
    return row ? enrollmentFromRow(row, this.secrets) : null;
  }

  async listEnrollments(idScope: string, kind: EnrollmentKind, page: PageRequest): Promise<Page<EnrollmentRecord>> {
    const after = page.after ? decodeCursor(page.after) : 0;
    const rows = await this.pg.query(
      "SELECT * FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND pos > $3 ORDER BY pos LIMIT $4",
      [idScope, kind, after, page.limit + 1],
    );
    return pageOf(rows, page.limit, (r) => enrollmentFromRow(r, this.secrets));
  }

  async groupsByAttestation(idScope: string, type: "symmetricKey" | "x509"): Promise<EnrollmentRecord[]> {
    return this.cached(`groups:${type}:${idScope.toLowerCase()}`, async () =>
      (
        await this.pg.query(
          "SELECT * FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = 'group' AND attestation_type = $2 ORDER BY pos",
          [idScope, type],
        )
      ).map((r) => enrollmentFromRow(r, this.secrets)),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Registrations

  async getRegistration(idScope: string, registrationId: string): Promise<RegistrationRecord | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM dps_registrations WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2)",
      [idScope, registrationId],
    );
    return row ? registrationFromRow(row) : null;
  }

  async listRegistrations(idScope: string, filter: RegistrationFilter, page: PageRequest): Promise<Page<RegistrationRecord>> {
    const args: unknown[] = [idScope];
    const arg = (v: unknown) => (args.push(v), `$${args.length}`);
    const where = ["lower(id_scope) = lower($1)"];
    if (filter.status) where.push(`status = ${arg(filter.status)}`);
    if (filter.assignedHub) where.push(`lower(assigned_hub) = lower(${arg(filter.assignedHub)})`);
    if (filter.enrollmentKind) where.push(`enrollment_kind = ${arg(filter.enrollmentKind)}`);
    if (filter.enrollmentId) where.push(`lower(enrollment_id) = lower(${arg(filter.enrollmentId)})`);
    if (page.after) where.push(`pos > ${arg(decodeCursor(page.after))}`);
    const rows = await this.pg.query(
      `SELECT * FROM dps_registrations WHERE ${where.join(" AND ")} ORDER BY pos LIMIT ${arg(page.limit + 1)}`,
      args,
    );
    return pageOf(rows, page.limit, registrationFromRow);
  }

  async saveRegistrations(items: Array<{ registration: RegistrationRecord; audit: AuditInput }>): Promise<void> {
    await this.pg.write(async (tx) => {
      for (const { registration, audit } of items) {
        await requireScope(tx, registration.idScope);
        await tx.query(UPSERT_REGISTRATION, registrationValues(registration));
        tx.audit(audit);
      }
    });
  }

  async deleteRegistration(idScope: string, registrationId: string, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      const deleted = await tx.query(
        "DELETE FROM dps_registrations WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2) RETURNING pos",
        [idScope, registrationId],
      );
      if (deleted.length === 0) throw new AppError("not_found", `No registration ${registrationId} in scope ${idScope}`);
      tx.audit(audit);
    });
  }

  // ---------------------------------------------------------------------------------------

  /**
   * A write to scopes, hubs or enrollments: it moves the change counter (so every node's cached
   * reads are dropped) and tells other nodes; a unique clash becomes already_exists with `clash`.
   */
  private async configWrite(clash: string | null, fn: (tx: PgTx) => Promise<void>): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        await fn(tx);
        tx.changed("dps-config");
      });
    } catch (err) {
      if (clash !== null && isUniqueViolation(err)) throw new AppError("already_exists", clash);
      throw err;
    }
  }
}

async function requireScope(tx: PgTx, idScope: string): Promise<void> {
  // FOR SHARE: a scope being deleted by another transaction cannot gain children meanwhile.
  const rows = await tx.query("SELECT id_scope FROM dps_scopes WHERE lower(id_scope) = lower($1) FOR SHARE", [idScope]);
  if (rows.length === 0) throw new AppError("not_found", `No ID scope ${idScope}`);
}

function kindName(kind: EnrollmentKind): string {
  return kind === "group" ? "enrollment group" : "individual enrollment";
}

function pageOf<T>(rows: Row[], limit: number, map: (row: Row) => T): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  return { items: items.map(map), nextCursor: more ? encodeCursor(items[items.length - 1]!.pos as number) : null };
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseJson(text: unknown): unknown {
  return typeof text === "string" ? JSON.parse(text) : null;
}

function scopeFromRow(row: Row): ScopeRecord {
  return { idScope: row.id_scope as string, description: row.description as string, createdAt: row.created_at as Date };
}

function hubFromRow(row: Row): HubRecord {
  return {
    idScope: row.id_scope as string,
    name: row.name as string,
    hostName: row.host_name as string,
    weight: row.weight as number,
    region: (row.region as string | null) ?? null,
    enabled: row.enabled as boolean,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

export function enrollmentToRow(e: EnrollmentRecord, secrets: SecretBox) {
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
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
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
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

function registrationValues(r: RegistrationRecord): unknown[] {
  return [
    r.idScope,
    r.registrationId,
    r.enrollmentKind,
    r.enrollmentId,
    r.status,
    r.substatus,
    r.assignedHub,
    r.initialHub,
    r.deviceId,
    JSON.stringify(r.attestation),
    r.etag,
    r.operationId,
    r.issuedSerial,
    r.errorCode,
    r.errorMessage,
    json(r.payload),
    json(r.initialTwin),
    r.iotEdge,
    r.createdAt,
    r.updatedAt,
  ];
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
    iotEdge: row.iot_edge as boolean,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}
