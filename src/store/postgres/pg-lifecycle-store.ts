import { randomUUID } from "node:crypto";
import { AppError } from "../../errors.js";
import type { SecretBox } from "../secret-box.js";
import type { RevocationReason } from "../../../ca/revocation-reason.js";
import type { AuditInput, CertificateRecord } from "../records.js";
import type {
  CaRevocationRecord,
  CaRotation,
  CrossCertificateRecord,
  DeviceRegistration,
  EnrollmentBlockRecord,
  HubChangeRecord,
  HubPolicyRecord,
  SasPolicyRecord,
  HubRight,
  LifecycleStore,
  OcspSignerRecord,
  SupersessionRecord,
} from "../lifecycle-store.js";
import { isUniqueViolation, type PgDb, type Query } from "./pg-db.js";
import { activate, certFromRow, insertCa } from "./pg-store.js";
import { PgHubFeed } from "./pg-hub-feed.js";

type Row = Record<string, unknown>;

type CertSummary = Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">;

/** Credential lifecycle state on PostgreSQL (the tables of migration 0004-lifecycle and 0005-hub-lifecycle). */
export class PgLifecycleStore implements LifecycleStore {
  private readonly feed: PgHubFeed;

  /** `secrets` seals hub policy keys at rest. */
  constructor(
    private readonly pg: PgDb,
    private readonly secrets: SecretBox,
  ) {
    this.feed = new PgHubFeed(pg, lineageRequester);
  }

  async rotateCa(rotation: CaRotation): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        for (const ca of rotation.cas) await insertCa(tx, ca);
        for (const x of rotation.crossCertificates) {
          await tx.query(
            `INSERT INTO ca_cross_certificates (ca_id, issuer_ca_id, serial, cert_der, not_before, not_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [x.caId, x.issuerCaId, x.serial, Buffer.from(x.certDer), x.notBefore, x.notAfter, x.createdAt],
          );
        }
        const [target] = await tx.query<{ kind: string }>("SELECT kind FROM cas WHERE id = $1", [rotation.activate]);
        if (!target || target.kind !== "intermediate") throw new AppError("not_found", `No intermediate CA with id ${rotation.activate}`);
        await activate(tx, rotation.activate);
        for (const entry of rotation.audit) tx.audit(entry);
        tx.changed("ca");
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "CA id or serial already in use");
      throw err;
    }
  }

  async retireRoot(caId: string, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      const retired = await tx.query(
        "UPDATE cas SET status = 'retired' WHERE id = $1 AND kind = 'root' AND status = 'active' RETURNING id",
        [caId],
      );
      if (retired.length !== 1) throw new AppError("conflict", `${caId} is not a root in service`);
      tx.audit(audit);
      tx.changed("ca");
    });
  }

  async listCrossCertificates(): Promise<CrossCertificateRecord[]> {
    const rows = await this.pg.query("SELECT * FROM ca_cross_certificates ORDER BY created_at, serial");
    return rows.map((row) => ({
      caId: row.ca_id as string,
      issuerCaId: row.issuer_ca_id as string,
      serial: row.serial as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: row.not_before as Date,
      notAfter: row.not_after as Date,
      createdAt: row.created_at as Date,
    }));
  }

  async lastCertificateExpiry(issuerCaId: string): Promise<Date | null> {
    const [row] = await this.pg.query<{ last: Date | null }>("SELECT max(not_after) AS last FROM certificates WHERE issuer_ca_id = $1", [
      issuerCaId,
    ]);
    return row?.last ?? null;
  }

  async revokeCa(
    revocation: CaRevocationRecord,
    audit: AuditInput,
    certificateAudit: (cert: CertSummary) => AuditInput,
  ): Promise<{ revoked: number }> {
    try {
      const { result } = await this.pg.write(async (tx) => {
        if ((await tx.query("SELECT id FROM cas WHERE id = $1", [revocation.caId])).length === 0) {
          throw new AppError("not_found", `No CA with id ${revocation.caId}`);
        }
        // The primary key orders racing revocations: the second waits for the first to commit, then clashes.
        await tx.query("INSERT INTO ca_revocations (ca_id, revoked_at, reason, revoked_by) VALUES ($1, $2, $3, $4)", [
          revocation.caId,
          revocation.revokedAt,
          revocation.reason,
          revocation.revokedBy,
        ]);
        const certs = await tx.query<CertSummary & { id: number }>(
          `UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2
           WHERE issuer_ca_id = $3 AND status = 'good' RETURNING id, serial, subject, sha256, profile`,
          [revocation.revokedAt, revocation.reason, revocation.caId],
        );
        certs.sort((a, b) => a.id - b.id);
        for (const c of certs) tx.audit(certificateAudit({ serial: c.serial, subject: c.subject, sha256: c.sha256, profile: c.profile }));
        tx.audit({ ...audit, details: { ...audit.details, certificatesRevoked: certs.length } });
        tx.changed("ca");
        tx.changed("revocation");
        return { revoked: certs.length };
      });
      return result;
    } catch (err) {
      if (isUniqueViolation(err)) {
        const [previous] = await this.pg.query<{ revoked_at: Date; reason: string }>("SELECT * FROM ca_revocations WHERE ca_id = $1", [
          revocation.caId,
        ]);
        const revokedAt = previous?.revoked_at.toISOString();
        throw new AppError("already_revoked", `CA ${revocation.caId} was already revoked at ${revokedAt} (${previous?.reason})`, {
          revokedAt,
          reason: previous?.reason,
        });
      }
      throw err;
    }
  }

  async caRevocations(): Promise<CaRevocationRecord[]> {
    const rows = await this.pg.query("SELECT * FROM ca_revocations ORDER BY revoked_at");
    return rows.map((row) => ({
      caId: row.ca_id as string,
      revokedAt: row.revoked_at as Date,
      reason: row.reason as RevocationReason,
      revokedBy: row.revoked_by as string,
    }));
  }

  async insertOcspSigner(signer: OcspSignerRecord, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      await tx.query(
        `INSERT INTO ocsp_signers (serial, issuer_ca_id, key_ref, cert_der, not_before, not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [signer.serial, signer.issuerCaId, signer.keyRef, Buffer.from(signer.certDer), signer.notBefore, signer.notAfter, signer.createdAt],
      );
      tx.audit(audit);
    });
  }

  async latestOcspSigner(issuerCaId: string): Promise<OcspSignerRecord | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM ocsp_signers WHERE issuer_ca_id = $1 ORDER BY not_after DESC, created_at DESC LIMIT 1",
      [issuerCaId],
    );
    if (!row) return null;
    return {
      serial: row.serial as string,
      issuerCaId: row.issuer_ca_id as string,
      keyRef: row.key_ref as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: row.not_before as Date,
      notAfter: row.not_after as Date,
      createdAt: row.created_at as Date,
    };
  }

  async scheduleSupersession(record: SupersessionRecord, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      // Lock the old certificate's row: two renewals of one certificate on two nodes go one after the other.
      await tx.query("SELECT serial FROM certificates WHERE serial = $1 FOR UPDATE", [record.oldSerial]);
      const [existing] = await tx.query<{ new_serial: string; done_at: Date | null }>(
        "SELECT new_serial, done_at FROM certificate_supersessions WHERE old_serial = $1",
        [record.oldSerial],
      );
      if (existing?.done_at) {
        throw new AppError(
          "already_revoked",
          `Certificate ${record.oldSerial} was already superseded at ${existing.done_at.toISOString()}`,
        );
      }
      if (existing && existing.new_serial !== record.newSerial) {
        // One successor per certificate, also when two renewals race past the service's check.
        throw new AppError(
          "conflict",
          `Certificate ${record.oldSerial} was already renewed: its successor is ${existing.new_serial}; renew that one instead`,
          { successor: existing.new_serial },
        );
      }
      await tx.query(
        `INSERT INTO certificate_supersessions (old_serial, new_serial, supersede_at, done_at, created_at) VALUES ($1, $2, $3, NULL, $4)
         ON CONFLICT (old_serial) DO UPDATE SET new_serial = excluded.new_serial, supersede_at = excluded.supersede_at, created_at = excluded.created_at
         WHERE certificate_supersessions.done_at IS NULL`,
        [record.oldSerial, record.newSerial, record.supersedeAt, record.createdAt],
      );
      tx.audit(audit);
    });
  }

  async pendingSupersession(oldSerial: string): Promise<SupersessionRecord | null> {
    const [row] = await this.pg.query("SELECT * FROM certificate_supersessions WHERE old_serial = $1 AND done_at IS NULL", [oldSerial]);
    return row ? supersessionFromRow(row) : null;
  }

  async dueSupersessions(now: Date, limit: number): Promise<SupersessionRecord[]> {
    const rows = await this.pg.query(
      "SELECT * FROM certificate_supersessions WHERE done_at IS NULL AND supersede_at <= $1 ORDER BY supersede_at LIMIT $2",
      [now, limit],
    );
    return rows.map(supersessionFromRow);
  }

  async completeSupersession(
    oldSerial: string,
    now: Date,
    audit: (cert: CertificateRecord) => AuditInput,
  ): Promise<CertificateRecord | null> {
    const { result } = await this.pg.write(async (tx) => {
      // Only one of racing sweepers (on any node) marks it done; the others find nothing pending.
      const [done] = await tx.query<{ supersede_at: Date }>(
        "UPDATE certificate_supersessions SET done_at = $1 WHERE old_serial = $2 AND done_at IS NULL AND supersede_at <= $1 RETURNING supersede_at",
        [now, oldSerial],
      );
      if (!done) return null;
      const [row] = await tx.query(
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = 'superseded' WHERE serial = $2 AND status = 'good' RETURNING *",
        [done.supersede_at, oldSerial],
      );
      if (!row) return null;
      const cert = certFromRow(row);
      tx.audit(audit(cert));
      tx.changed("revocation");
      return cert;
    });
    return result;
  }

  // ---- hub policies ----------------------------------------------------------------------

  async insertHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void> {
    try {
      await this.pg.write(async (tx) => {
        // FOR SHARE: the hub cannot be deleted (taking its policies with it) while this one is added.
        const hub = await tx.query("SELECT name FROM dps_hubs WHERE lower(id_scope) = lower($1) AND lower(name) = lower($2) FOR SHARE", [
          policy.idScope,
          policy.hub,
        ]);
        if (hub.length === 0) throw new AppError("not_found", `No hub ${policy.hub} in scope ${policy.idScope}`);
        const r = policyToRow(policy, this.secrets);
        await tx.query(
          `INSERT INTO hub_policies (id_scope, hub_name, name, rights, primary_key, secondary_key, created_at, updated_at, rotated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [r.idScope, r.hub, r.name, r.rights, r.primaryKey, r.secondaryKey, r.createdAt, r.updatedAt, r.rotatedAt],
        );
        tx.audit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("already_exists", `Hub ${policy.hub} already has a policy named ${policy.name}`);
      throw err;
    }
  }

  async replaceHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      const r = policyToRow(policy, this.secrets);
      const updated = await tx.query(
        `UPDATE hub_policies SET rights = $4, primary_key = $5, secondary_key = $6, updated_at = $7, rotated_at = $8
         WHERE lower(id_scope) = lower($1) AND lower(hub_name) = lower($2) AND lower(name) = lower($3) RETURNING name`,
        [r.idScope, r.hub, r.name, r.rights, r.primaryKey, r.secondaryKey, r.updatedAt, r.rotatedAt],
      );
      if (updated.length === 0) throw new AppError("not_found", `No policy ${policy.name} on hub ${policy.hub}`);
      tx.audit(audit);
    });
  }

  async deleteHubPolicy(idScope: string, hub: string, name: string, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      const deleted = await tx.query(
        "DELETE FROM hub_policies WHERE lower(id_scope) = lower($1) AND lower(hub_name) = lower($2) AND lower(name) = lower($3) RETURNING name",
        [idScope, hub, name],
      );
      if (deleted.length === 0) throw new AppError("not_found", `No policy ${name} on hub ${hub}`);
      tx.audit(audit);
    });
  }

  async getSasPolicy(idScope: string): Promise<SasPolicyRecord | null> {
    const [row] = await this.pg.query("SELECT * FROM sas_policies WHERE lower(id_scope) = lower($1)", [idScope]);
    return row ? sasPolicyFromRow(row) : null;
  }

  async putSasPolicy(policy: SasPolicyRecord, audit: AuditInput): Promise<void> {
    await this.pg.write(async (tx) => {
      // FOR SHARE: the scope cannot be deleted (taking its policy with it) while this one is set.
      const [scope] = await tx.query("SELECT id_scope FROM dps_scopes WHERE lower(id_scope) = lower($1) FOR SHARE", [policy.idScope]);
      if (!scope) throw new AppError("not_found", `Unknown ID scope ${policy.idScope}`);
      await tx.query(
        `INSERT INTO sas_policies (id_scope, max_ttl_seconds, default_ttl_seconds, device_keys, signing_policy, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT ((lower(id_scope))) DO UPDATE SET max_ttl_seconds = excluded.max_ttl_seconds,
           default_ttl_seconds = excluded.default_ttl_seconds, device_keys = excluded.device_keys,
           signing_policy = excluded.signing_policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        [
          scope.id_scope,
          policy.maxTtlSeconds,
          policy.defaultTtlSeconds,
          policy.deviceKeys,
          policy.signingPolicy,
          policy.updatedAt,
          policy.updatedBy,
        ],
      );
      tx.audit(audit);
    });
  }

  async getHubPolicy(idScope: string, hub: string, name: string): Promise<HubPolicyRecord | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM hub_policies WHERE lower(id_scope) = lower($1) AND lower(hub_name) = lower($2) AND lower(name) = lower($3)",
      [idScope, hub, name],
    );
    return row ? policyFromRow(row, this.secrets) : null;
  }

  async listHubPolicies(idScope: string, hub: string): Promise<HubPolicyRecord[]> {
    const rows = await this.pg.query(
      'SELECT * FROM hub_policies WHERE lower(id_scope) = lower($1) AND lower(hub_name) = lower($2) ORDER BY lower(name) COLLATE "C"',
      [idScope, hub],
    );
    return rows.map((r) => policyFromRow(r, this.secrets));
  }

  // ---- devices ---------------------------------------------------------------------------

  async registrationByDevice(idScope: string, hubHost: string, deviceId: string): Promise<DeviceRegistration | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM dps_registrations WHERE lower(id_scope) = lower($1) AND device_id = $2 AND lower(assigned_hub) = lower($3)",
      [idScope, deviceId, hubHost],
    );
    return row ? registrationFromRow(row) : null;
  }

  async registration(idScope: string, registrationId: string): Promise<DeviceRegistration | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM dps_registrations WHERE lower(id_scope) = lower($1) AND lower(registration_id) = lower($2)",
      [idScope, registrationId],
    );
    return row ? registrationFromRow(row) : null;
  }

  async deviceCertificates(idScope: string, registrationId: string, limit: number): Promise<CertificateRecord[]> {
    return (await deviceCertificateRows(this.pg.query.bind(this.pg), deviceRequester(idScope, registrationId), limit)).map(certFromRow);
  }

  async isDeviceCertificate(idScope: string, registrationId: string, serial: string): Promise<boolean> {
    const requester = await lineageRequester(this.pg.query.bind(this.pg), serial);
    return requester?.toLowerCase() === deviceRequester(idScope, registrationId).toLowerCase();
  }

  // ---- enrollment revocation -------------------------------------------------------------

  async revokeEnrollment(
    block: EnrollmentBlockRecord,
    audit: AuditInput,
    certificateAudit: (cert: CertSummary) => AuditInput,
  ): Promise<{ devices: number; certificatesRevoked: number }> {
    const what = block.kind === "group" ? "enrollment group" : "enrollment";
    try {
      const { result } = await this.pg.write(async (tx) => {
        const at = block.blockedAt;
        const enrollment = await tx.query<{ spec: string }>(
          "SELECT spec FROM dps_enrollments WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3) FOR UPDATE",
          [block.idScope, block.kind, block.id],
        );
        if (enrollment.length === 0) throw new AppError("not_found", `No ${what} ${block.id} in scope ${block.idScope}`);
        // The unique key orders racing revocations: the second waits, then clashes (already_revoked below).
        await tx.query(
          "INSERT INTO enrollment_blocks (id_scope, kind, id, blocked_at, reason, blocked_by) VALUES ($1, $2, $3, $4, $5, $6)",
          [block.idScope, block.kind, block.id, at, block.reason, block.blockedBy],
        );
        const spec = JSON.parse(enrollment[0]!.spec) as Record<string, unknown>;
        await tx.query(
          `UPDATE dps_enrollments SET provisioning_status = 'disabled', spec = $1, etag = $2, updated_at = $3
           WHERE lower(id_scope) = lower($4) AND kind = $5 AND lower(id) = lower($6)`,
          [JSON.stringify({ ...spec, provisioningStatus: "disabled" }), newEtag(), at, block.idScope, block.kind, block.id],
        );
        tx.changed("dps-config");
        const registrations = await tx.query<{ registration_id: string }>(
          "SELECT registration_id FROM dps_registrations WHERE lower(id_scope) = lower($1) AND enrollment_kind = $2 AND lower(enrollment_id) = lower($3) ORDER BY pos",
          [block.idScope, block.kind, block.id],
        );
        let certificatesRevoked = 0;
        for (const { registration_id } of registrations) {
          for (const row of await deviceCertificateRows(tx.query, deviceRequester(block.idScope, registration_id), 1_000_000)) {
            if (row.status !== "good") continue;
            const revoked = await tx.query(
              "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND status = 'good' RETURNING serial",
              [at, block.reason, row.serial],
            );
            if (revoked.length === 0) continue;
            tx.audit(certificateAudit(certFromRow(row)));
            certificatesRevoked++;
          }
        }
        if (certificatesRevoked > 0) tx.changed("revocation");
        const counts = { devices: registrations.length, certificatesRevoked };
        tx.audit({ ...audit, details: { ...audit.details, ...counts } });
        return counts;
      });
      return result;
    } catch (err) {
      if (isUniqueViolation(err)) {
        const previous = await this.enrollmentBlock(block.idScope, block.kind, block.id);
        throw new AppError("already_revoked", `The ${what} ${block.id} was already revoked at ${previous?.blockedAt.toISOString()}`);
      }
      throw err;
    }
  }

  async enrollmentBlock(idScope: string, kind: "individual" | "group", id: string): Promise<EnrollmentBlockRecord | null> {
    const [row] = await this.pg.query(
      "SELECT * FROM enrollment_blocks WHERE lower(id_scope) = lower($1) AND kind = $2 AND lower(id) = lower($3)",
      [idScope, kind, id],
    );
    return row
      ? {
          idScope: row.id_scope as string,
          kind: row.kind as "individual" | "group",
          id: row.id as string,
          blockedAt: row.blocked_at as Date,
          reason: row.reason as string,
          blockedBy: row.blocked_by as string,
        }
      : null;
  }

  // ---- hub change feed ---------------------------------------------------------------------

  catchUpHubFeed(maxEntries: number): Promise<number> {
    return this.feed.catchUp(maxEntries);
  }

  hubChanges(idScope: string, hub: string, afterSeq: number, limit: number): Promise<HubChangeRecord[]> {
    return this.feed.changes(idScope, hub, afterSeq, limit);
  }

  lastHubChange(idScope: string, hub: string): Promise<number> {
    return this.feed.lastChange(idScope, hub);
  }
}

/** The requester dpki records for certificates issued at a device's registration. */
function deviceRequester(idScope: string, registrationId: string): string {
  return `dps:${idScope}/${registrationId}`;
}

/** A device's certificates: issued at its registrations, then every renewal descending from them, newest first. */
function deviceCertificateRows(query: Query, requester: string, limit: number): Promise<Row[]> {
  return query(
    `WITH RECURSIVE lineage(serial) AS (
       SELECT serial FROM certificates WHERE lower(requester) = lower($1)
       UNION
       SELECT s.new_serial FROM certificate_supersessions s JOIN lineage l ON s.old_serial = l.serial
     )
     SELECT c.* FROM certificates c WHERE c.serial IN (SELECT serial FROM lineage) ORDER BY c.id DESC LIMIT $2`,
    [requester, limit],
  );
}

/** The requester of the first certificate of a renewal lineage (walking supersessions back), in one query. */
async function lineageRequester(query: Query, serial: string): Promise<string | null> {
  const [row] = await query<{ requester: string }>(
    `WITH RECURSIVE back(serial, requester, depth) AS (
       SELECT serial, requester, 0 FROM certificates WHERE serial = $1
       UNION ALL
       SELECT c.serial, c.requester, b.depth + 1
       FROM back b
       JOIN LATERAL (SELECT old_serial FROM certificate_supersessions WHERE new_serial = b.serial LIMIT 1) s ON true
       JOIN certificates c ON c.serial = s.old_serial
       WHERE lower(b.requester) NOT LIKE 'dps:%' AND b.depth < 10000
     )
     SELECT requester FROM back ORDER BY depth DESC LIMIT 1`,
    [serial],
  );
  return row?.requester ?? null;
}

/** DPS-style etag: base64 of a quoted GUID. */
function newEtag(): string {
  return Buffer.from(`"${randomUUID()}"`).toString("base64");
}

function policyToRow(p: HubPolicyRecord, secrets: SecretBox) {
  return {
    idScope: p.idScope,
    hub: p.hub,
    name: p.name,
    rights: JSON.stringify(p.rights),
    primaryKey: secrets.seal(p.primaryKey),
    secondaryKey: secrets.seal(p.secondaryKey),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    rotatedAt: p.rotatedAt,
  };
}

function policyFromRow(row: Row, secrets: SecretBox): HubPolicyRecord {
  return {
    idScope: row.id_scope as string,
    hub: row.hub_name as string,
    name: row.name as string,
    rights: JSON.parse(row.rights as string) as HubRight[],
    primaryKey: secrets.open(row.primary_key as string),
    secondaryKey: secrets.open(row.secondary_key as string),
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    rotatedAt: (row.rotated_at as Date | null) ?? null,
  };
}

function sasPolicyFromRow(row: Row): SasPolicyRecord {
  return {
    idScope: row.id_scope as string,
    maxTtlSeconds: Number(row.max_ttl_seconds),
    defaultTtlSeconds: Number(row.default_ttl_seconds),
    deviceKeys: row.device_keys === true,
    signingPolicy: (row.signing_policy as string | null) ?? null,
    updatedAt: row.updated_at as Date,
    updatedBy: row.updated_by as string,
  };
}

function registrationFromRow(row: Row): DeviceRegistration {
  return {
    idScope: row.id_scope as string,
    registrationId: row.registration_id as string,
    enrollmentKind: row.enrollment_kind as DeviceRegistration["enrollmentKind"],
    enrollmentId: row.enrollment_id as string,
    status: row.status as DeviceRegistration["status"],
    assignedHub: (row.assigned_hub as string | null) ?? null,
    deviceId: (row.device_id as string | null) ?? null,
    attestation: JSON.parse(row.attestation as string) as DeviceRegistration["attestation"],
    issuedSerial: (row.issued_serial as string | null) ?? null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

function supersessionFromRow(row: Row): SupersessionRecord {
  return {
    oldSerial: row.old_serial as string,
    newSerial: row.new_serial as string,
    supersedeAt: row.supersede_at as Date,
    doneAt: (row.done_at as Date | null) ?? null,
    createdAt: row.created_at as Date,
  };
}
