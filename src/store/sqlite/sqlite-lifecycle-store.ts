import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
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
import { isUniqueViolation, type SqliteDb } from "./sqlite-db.js";
import { DPS_CONFIG } from "./sqlite-dps-store.js";
import { certFromRow } from "./sqlite-store.js";
import { SqliteHubFeed } from "./sqlite-hub-feed.js";

type Row = Record<string, unknown>;

/** Credential lifecycle state on the shared SQLite database (tables of migration 0004-lifecycle). */
export class SqliteLifecycleStore implements LifecycleStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly feed: SqliteHubFeed;

  /** `secrets` seals hub policy keys at rest. */
  constructor(
    private readonly sqlite: SqliteDb,
    private readonly secrets: SecretBox,
  ) {
    this.db = sqlite.db;
    this.stmts = this.prepare();
    this.feed = new SqliteHubFeed(sqlite, (serial) => this.lineageRequester(serial));
  }

  private prepare() {
    const db = this.db;
    return {
      insertCa: db.prepare(
        `INSERT INTO cas (id, kind, parent_id, key_ref, key_algorithm, cert_der, subject, subject_key_id, not_before, not_after, status, created_at)
         VALUES (@id, @kind, @parentId, @keyRef, @keyAlgorithm, @certDer, @subject, @subjectKeyId, @notBefore, @notAfter, @status, @createdAt)`,
      ),
      caById: db.prepare("SELECT id, kind FROM cas WHERE id = ?"),
      retireIntermediates: db.prepare("UPDATE cas SET status = 'retired' WHERE kind = 'intermediate' AND id <> ?"),
      activateCa: db.prepare("UPDATE cas SET status = 'active' WHERE id = ?"),
      retireRoot: db.prepare("UPDATE cas SET status = 'retired' WHERE id = ? AND kind = 'root' AND status = 'active'"),
      insertCross: db.prepare(
        `INSERT INTO ca_cross_certificates (ca_id, issuer_ca_id, serial, cert_der, not_before, not_after, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      listCross: db.prepare("SELECT * FROM ca_cross_certificates ORDER BY created_at, serial"),
      lastExpiry: db.prepare("SELECT max(not_after) AS last FROM certificates WHERE issuer_ca_id = ?"),
      caRevocation: db.prepare("SELECT * FROM ca_revocations WHERE ca_id = ?"),
      insertCaRevocation: db.prepare("INSERT INTO ca_revocations (ca_id, revoked_at, reason, revoked_by) VALUES (?, ?, ?, ?)"),
      listCaRevocations: db.prepare("SELECT * FROM ca_revocations ORDER BY revoked_at"),
      goodOfIssuer: db.prepare(
        "SELECT serial, subject, sha256, profile FROM certificates WHERE issuer_ca_id = ? AND status = 'good' ORDER BY id",
      ),
      revokeCert: db.prepare(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'good'",
      ),
      certBySerial: db.prepare("SELECT * FROM certificates WHERE serial = ?"),
      insertSigner: db.prepare(
        `INSERT INTO ocsp_signers (serial, issuer_ca_id, key_ref, cert_der, not_before, not_after, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      latestSigner: db.prepare("SELECT * FROM ocsp_signers WHERE issuer_ca_id = ? ORDER BY not_after DESC, created_at DESC LIMIT 1"),
      upsertSupersession: db.prepare(
        `INSERT INTO certificate_supersessions (old_serial, new_serial, supersede_at, done_at, created_at) VALUES (?, ?, ?, NULL, ?)
         ON CONFLICT (old_serial) DO UPDATE SET new_serial = excluded.new_serial, supersede_at = excluded.supersede_at, created_at = excluded.created_at
         WHERE certificate_supersessions.done_at IS NULL`,
      ),
      supersession: db.prepare("SELECT * FROM certificate_supersessions WHERE old_serial = ?"),
      pendingSupersession: db.prepare("SELECT * FROM certificate_supersessions WHERE old_serial = ? AND done_at IS NULL"),
      dueSupersessions: db.prepare(
        "SELECT * FROM certificate_supersessions WHERE done_at IS NULL AND supersede_at <= ? ORDER BY supersede_at LIMIT ?",
      ),
      markDone: db.prepare("UPDATE certificate_supersessions SET done_at = ? WHERE old_serial = ? AND done_at IS NULL"),

      insertPolicy: db.prepare(
        `INSERT INTO hub_policies (id_scope, hub_name, name, rights, primary_key, secondary_key, created_at, updated_at, rotated_at)
         VALUES (@idScope, @hub, @name, @rights, @primaryKey, @secondaryKey, @createdAt, @updatedAt, @rotatedAt)`,
      ),
      updatePolicy: db.prepare(
        `UPDATE hub_policies SET rights = @rights, primary_key = @primaryKey, secondary_key = @secondaryKey, updated_at = @updatedAt, rotated_at = @rotatedAt
         WHERE id_scope = @idScope AND hub_name = @hub AND name = @name`,
      ),
      deletePolicy: db.prepare("DELETE FROM hub_policies WHERE id_scope = ? AND hub_name = ? AND name = ?"),
      getPolicy: db.prepare("SELECT * FROM hub_policies WHERE id_scope = ? AND hub_name = ? AND name = ?"),
      listPolicies: db.prepare("SELECT * FROM hub_policies WHERE id_scope = ? AND hub_name = ? ORDER BY name"),
      scopeExists: db.prepare("SELECT id_scope FROM dps_scopes WHERE id_scope = ?"),
      getSasPolicy: db.prepare("SELECT * FROM sas_policies WHERE id_scope = ?"),
      putSasPolicy: db.prepare(
        `INSERT INTO sas_policies (id_scope, max_ttl_seconds, default_ttl_seconds, device_keys, signing_policy, updated_at, updated_by)
         VALUES (@idScope, @maxTtlSeconds, @defaultTtlSeconds, @deviceKeys, @signingPolicy, @updatedAt, @updatedBy)
         ON CONFLICT (id_scope) DO UPDATE SET max_ttl_seconds = excluded.max_ttl_seconds, default_ttl_seconds = excluded.default_ttl_seconds,
           device_keys = excluded.device_keys, signing_policy = excluded.signing_policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      ),
      hubExists: db.prepare("SELECT name FROM dps_hubs WHERE id_scope = ? AND name = ?"),

      regByDevice: db.prepare("SELECT * FROM dps_registrations WHERE id_scope = ? AND device_id = ? AND assigned_hub = ? COLLATE NOCASE"),
      regById: db.prepare("SELECT * FROM dps_registrations WHERE id_scope = ? AND registration_id = ?"),
      regsOfEnrollment: db.prepare(
        "SELECT registration_id FROM dps_registrations WHERE id_scope = ? AND enrollment_kind = ? AND enrollment_id = ? COLLATE NOCASE",
      ),
      deviceCerts: db.prepare(
        `WITH RECURSIVE lineage(serial) AS (
           SELECT serial FROM certificates WHERE requester = ? COLLATE NOCASE
           UNION
           SELECT s.new_serial FROM certificate_supersessions s JOIN lineage l ON s.old_serial = l.serial
         )
         SELECT c.* FROM certificates c WHERE c.serial IN (SELECT serial FROM lineage) ORDER BY c.id DESC LIMIT ?`,
      ),
      predecessor: db.prepare("SELECT old_serial FROM certificate_supersessions WHERE new_serial = ? LIMIT 1"),
      certInfo: db.prepare(
        "SELECT serial, requester, sha256, subject, profile, status, revoked_at, revocation_reason FROM certificates WHERE serial = ?",
      ),

      enrollmentRow: db.prepare("SELECT provisioning_status FROM dps_enrollments WHERE id_scope = ? AND kind = ? AND id = ?"),
      disableEnrollment: db.prepare(
        `UPDATE dps_enrollments SET provisioning_status = 'disabled', spec = json_set(spec, '$.provisioningStatus', 'disabled'), etag = ?, updated_at = ?
         WHERE id_scope = ? AND kind = ? AND id = ?`,
      ),
      getBlock: db.prepare("SELECT * FROM enrollment_blocks WHERE id_scope = ? AND kind = ? AND id = ?"),
      insertBlock: db.prepare(
        "INSERT INTO enrollment_blocks (id_scope, kind, id, blocked_at, reason, blocked_by) VALUES (?, ?, ?, ?, ?, ?)",
      ),
    };
  }

  async rotateCa(rotation: CaRotation): Promise<void> {
    try {
      this.sqlite.write(() => {
        for (const ca of rotation.cas) {
          this.stmts.insertCa.run({
            ...ca,
            certDer: Buffer.from(ca.certDer),
            notBefore: ca.notBefore.toISOString(),
            notAfter: ca.notAfter.toISOString(),
            createdAt: ca.createdAt.toISOString(),
          });
        }
        for (const x of rotation.crossCertificates) {
          this.stmts.insertCross.run(
            x.caId,
            x.issuerCaId,
            x.serial,
            Buffer.from(x.certDer),
            x.notBefore.toISOString(),
            x.notAfter.toISOString(),
            x.createdAt.toISOString(),
          );
        }
        const target = this.stmts.caById.get(rotation.activate) as Row | undefined;
        if (!target || target.kind !== "intermediate") throw new AppError("not_found", `No intermediate CA with id ${rotation.activate}`);
        this.stmts.retireIntermediates.run(rotation.activate);
        this.stmts.activateCa.run(rotation.activate);
        for (const entry of rotation.audit) this.sqlite.appendAudit(entry);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("conflict", "CA id or serial already in use");
      throw err;
    }
  }

  async retireRoot(caId: string, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      if (this.stmts.retireRoot.run(caId).changes !== 1) throw new AppError("conflict", `${caId} is not a root in service`);
      this.sqlite.appendAudit(audit);
    });
  }

  async listCrossCertificates(): Promise<CrossCertificateRecord[]> {
    return (this.stmts.listCross.all() as Row[]).map((row) => ({
      caId: row.ca_id as string,
      issuerCaId: row.issuer_ca_id as string,
      serial: row.serial as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: new Date(row.not_before as string),
      notAfter: new Date(row.not_after as string),
      createdAt: new Date(row.created_at as string),
    }));
  }

  async lastCertificateExpiry(issuerCaId: string): Promise<Date | null> {
    const row = this.stmts.lastExpiry.get(issuerCaId) as { last: string | null };
    return row.last ? new Date(row.last) : null;
  }

  async revokeCa(
    revocation: CaRevocationRecord,
    audit: AuditInput,
    certificateAudit: (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) => AuditInput,
  ): Promise<{ revoked: number }> {
    return this.sqlite.write(() => {
      const ca = this.stmts.caById.get(revocation.caId) as Row | undefined;
      if (!ca) throw new AppError("not_found", `No CA with id ${revocation.caId}`);
      const previous = this.stmts.caRevocation.get(revocation.caId) as Row | undefined;
      if (previous) {
        throw new AppError("already_revoked", `CA ${revocation.caId} was already revoked at ${previous.revoked_at} (${previous.reason})`, {
          revokedAt: previous.revoked_at,
          reason: previous.reason,
        });
      }
      this.stmts.insertCaRevocation.run(revocation.caId, revocation.revokedAt.toISOString(), revocation.reason, revocation.revokedBy);
      const at = revocation.revokedAt.toISOString();
      let revoked = 0;
      for (const cert of this.stmts.goodOfIssuer.all(revocation.caId) as Array<{
        serial: string;
        subject: string;
        sha256: string;
        profile: string;
      }>) {
        this.stmts.revokeCert.run(at, revocation.reason, cert.serial);
        this.sqlite.appendAudit(certificateAudit(cert));
        revoked++;
      }
      this.sqlite.appendAudit({ ...audit, details: { ...audit.details, certificatesRevoked: revoked } });
      return { revoked };
    });
  }

  async caRevocations(): Promise<CaRevocationRecord[]> {
    return (this.stmts.listCaRevocations.all() as Row[]).map((row) => ({
      caId: row.ca_id as string,
      revokedAt: new Date(row.revoked_at as string),
      reason: row.reason as RevocationReason,
      revokedBy: row.revoked_by as string,
    }));
  }

  async insertOcspSigner(signer: OcspSignerRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      this.stmts.insertSigner.run(
        signer.serial,
        signer.issuerCaId,
        signer.keyRef,
        Buffer.from(signer.certDer),
        signer.notBefore.toISOString(),
        signer.notAfter.toISOString(),
        signer.createdAt.toISOString(),
      );
      this.sqlite.appendAudit(audit);
    });
  }

  async latestOcspSigner(issuerCaId: string): Promise<OcspSignerRecord | null> {
    const row = this.stmts.latestSigner.get(issuerCaId) as Row | undefined;
    if (!row) return null;
    return {
      serial: row.serial as string,
      issuerCaId: row.issuer_ca_id as string,
      keyRef: row.key_ref as string,
      certDer: new Uint8Array(row.cert_der as Buffer),
      notBefore: new Date(row.not_before as string),
      notAfter: new Date(row.not_after as string),
      createdAt: new Date(row.created_at as string),
    };
  }

  async scheduleSupersession(record: SupersessionRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      const existing = this.stmts.supersession.get(record.oldSerial) as Row | undefined;
      if (existing?.done_at) {
        throw new AppError("already_revoked", `Certificate ${record.oldSerial} was already superseded at ${existing.done_at}`);
      }
      if (existing && existing.new_serial !== record.newSerial) {
        // One successor per certificate, also when two renewals race past the service's check.
        throw new AppError(
          "conflict",
          `Certificate ${record.oldSerial} was already renewed: its successor is ${existing.new_serial as string}; renew that one instead`,
          { successor: existing.new_serial },
        );
      }
      this.stmts.upsertSupersession.run(
        record.oldSerial,
        record.newSerial,
        record.supersedeAt.toISOString(),
        record.createdAt.toISOString(),
      );
      this.sqlite.appendAudit(audit);
    });
  }

  async pendingSupersession(oldSerial: string): Promise<SupersessionRecord | null> {
    const row = this.stmts.pendingSupersession.get(oldSerial) as Row | undefined;
    return row ? supersessionFromRow(row) : null;
  }

  async dueSupersessions(now: Date, limit: number): Promise<SupersessionRecord[]> {
    return (this.stmts.dueSupersessions.all(now.toISOString(), limit) as Row[]).map(supersessionFromRow);
  }

  async completeSupersession(
    oldSerial: string,
    now: Date,
    audit: (cert: CertificateRecord) => AuditInput,
  ): Promise<CertificateRecord | null> {
    return this.sqlite.write(() => {
      const pending = this.stmts.pendingSupersession.get(oldSerial) as Row | undefined;
      if (!pending) return null;
      const supersedeAt = pending.supersede_at as string;
      if (supersedeAt > now.toISOString()) return null;
      this.stmts.markDone.run(now.toISOString(), oldSerial);
      const changed = this.stmts.revokeCert.run(supersedeAt, "superseded", oldSerial).changes;
      if (changed === 0) return null;
      const cert = certFromRow(this.stmts.certBySerial.get(oldSerial) as Row);
      this.sqlite.appendAudit(audit(cert));
      return cert;
    });
  }

  // ---- hub policies ----------------------------------------------------------------------

  async insertHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void> {
    try {
      this.sqlite.write(() => {
        if (!this.stmts.hubExists.get(policy.idScope, policy.hub))
          throw new AppError("not_found", `No hub ${policy.hub} in scope ${policy.idScope}`);
        this.stmts.insertPolicy.run(policyToRow(policy, this.secrets));
        this.sqlite.appendAudit(audit);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError("already_exists", `Hub ${policy.hub} already has a policy named ${policy.name}`);
      throw err;
    }
  }

  async replaceHubPolicy(policy: HubPolicyRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      if (this.stmts.updatePolicy.run(policyToRow(policy, this.secrets)).changes === 0) {
        throw new AppError("not_found", `No policy ${policy.name} on hub ${policy.hub}`);
      }
      this.sqlite.appendAudit(audit);
    });
  }

  async deleteHubPolicy(idScope: string, hub: string, name: string, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      if (this.stmts.deletePolicy.run(idScope, hub, name).changes === 0) throw new AppError("not_found", `No policy ${name} on hub ${hub}`);
      this.sqlite.appendAudit(audit);
    });
  }

  async getHubPolicy(idScope: string, hub: string, name: string): Promise<HubPolicyRecord | null> {
    const row = this.stmts.getPolicy.get(idScope, hub, name) as Row | undefined;
    return row ? policyFromRow(row, this.secrets) : null;
  }

  async listHubPolicies(idScope: string, hub: string): Promise<HubPolicyRecord[]> {
    return (this.stmts.listPolicies.all(idScope, hub) as Row[]).map((r) => policyFromRow(r, this.secrets));
  }

  // ---- SAS policy ------------------------------------------------------------------------

  async getSasPolicy(idScope: string): Promise<SasPolicyRecord | null> {
    const row = this.stmts.getSasPolicy.get(idScope) as Row | undefined;
    return row ? sasPolicyFromRow(row) : null;
  }

  async putSasPolicy(policy: SasPolicyRecord, audit: AuditInput): Promise<void> {
    this.sqlite.write(() => {
      const scope = this.stmts.scopeExists.get(policy.idScope) as Row | undefined;
      if (!scope) throw new AppError("not_found", `Unknown ID scope ${policy.idScope}`);
      this.stmts.putSasPolicy.run({
        ...policy,
        idScope: scope.id_scope as string,
        deviceKeys: policy.deviceKeys ? 1 : 0,
        updatedAt: policy.updatedAt.toISOString(),
      });
      this.sqlite.appendAudit(audit);
    });
  }

  // ---- devices ---------------------------------------------------------------------------

  async registrationByDevice(idScope: string, hubHost: string, deviceId: string): Promise<DeviceRegistration | null> {
    const row = this.stmts.regByDevice.get(idScope, deviceId, hubHost) as Row | undefined;
    return row ? registrationFromRow(row) : null;
  }

  async registration(idScope: string, registrationId: string): Promise<DeviceRegistration | null> {
    const row = this.stmts.regById.get(idScope, registrationId) as Row | undefined;
    return row ? registrationFromRow(row) : null;
  }

  async deviceCertificates(idScope: string, registrationId: string, limit: number): Promise<CertificateRecord[]> {
    return (this.stmts.deviceCerts.all(deviceRequester(idScope, registrationId), limit) as Row[]).map(certFromRow);
  }

  async isDeviceCertificate(idScope: string, registrationId: string, serial: string): Promise<boolean> {
    return this.lineageRequester(serial)?.toLowerCase() === deviceRequester(idScope, registrationId).toLowerCase();
  }

  /** The requester of the first certificate of a renewal lineage (walking supersessions back). */
  private lineageRequester(serial: string): string | null {
    let current = serial;
    for (let depth = 0; depth < 10_000; depth++) {
      const info = this.stmts.certInfo.get(current) as Row | undefined;
      if (!info) return null;
      if (typeof info.requester === "string" && info.requester.toLowerCase().startsWith("dps:")) return info.requester;
      const prev = this.stmts.predecessor.get(current) as { old_serial: string } | undefined;
      if (!prev) return info.requester as string;
      current = prev.old_serial;
    }
    return null;
  }

  // ---- enrollment revocation -------------------------------------------------------------

  async revokeEnrollment(
    block: EnrollmentBlockRecord,
    audit: AuditInput,
    certificateAudit: (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) => AuditInput,
  ): Promise<{ devices: number; certificatesRevoked: number }> {
    return this.sqlite.write(() => {
      const what = block.kind === "group" ? "enrollment group" : "enrollment";
      if (!this.stmts.enrollmentRow.get(block.idScope, block.kind, block.id)) {
        throw new AppError("not_found", `No ${what} ${block.id} in scope ${block.idScope}`);
      }
      const previous = this.stmts.getBlock.get(block.idScope, block.kind, block.id) as Row | undefined;
      if (previous) throw new AppError("already_revoked", `The ${what} ${block.id} was already revoked at ${previous.blocked_at}`);
      const at = block.blockedAt.toISOString();
      this.stmts.insertBlock.run(block.idScope, block.kind, block.id, at, block.reason, block.blockedBy);
      this.stmts.disableEnrollment.run(newEtag(), at, block.idScope, block.kind, block.id);
      this.sqlite.changed(DPS_CONFIG);
      const registrations = this.stmts.regsOfEnrollment.all(block.idScope, block.kind, block.id) as Array<{ registration_id: string }>;
      let certificatesRevoked = 0;
      for (const { registration_id } of registrations) {
        for (const row of this.stmts.deviceCerts.all(deviceRequester(block.idScope, registration_id), 1_000_000) as Row[]) {
          if (row.status !== "good") continue;
          this.stmts.revokeCert.run(at, block.reason, row.serial);
          this.sqlite.appendAudit(certificateAudit(certFromRow(row)));
          certificatesRevoked++;
        }
      }
      const counts = { devices: registrations.length, certificatesRevoked };
      this.sqlite.appendAudit({ ...audit, details: { ...audit.details, ...counts } });
      return counts;
    });
  }

  async enrollmentBlock(idScope: string, kind: "individual" | "group", id: string): Promise<EnrollmentBlockRecord | null> {
    const row = this.stmts.getBlock.get(idScope, kind, id) as Row | undefined;
    return row
      ? {
          idScope: row.id_scope as string,
          kind: row.kind as "individual" | "group",
          id: row.id as string,
          blockedAt: new Date(row.blocked_at as string),
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
export function deviceRequester(idScope: string, registrationId: string): string {
  return `dps:${idScope}/${registrationId}`;
}

/** DPS-style etag: base64 of a quoted GUID. */
function newEtag(): string {
  return Buffer.from(`"${randomUUID()}"`).toString("base64");
}

function policyToRow(p: HubPolicyRecord, secrets: SecretBox): Row {
  return {
    idScope: p.idScope,
    hub: p.hub,
    name: p.name,
    rights: JSON.stringify(p.rights),
    primaryKey: secrets.seal(p.primaryKey),
    secondaryKey: secrets.seal(p.secondaryKey),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    rotatedAt: p.rotatedAt?.toISOString() ?? null,
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
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
    rotatedAt: row.rotated_at ? new Date(row.rotated_at as string) : null,
  };
}

function sasPolicyFromRow(row: Row): SasPolicyRecord {
  return {
    idScope: row.id_scope as string,
    maxTtlSeconds: Number(row.max_ttl_seconds),
    defaultTtlSeconds: Number(row.default_ttl_seconds),
    deviceKeys: Number(row.device_keys) === 1,
    signingPolicy: (row.signing_policy as string | null) ?? null,
    updatedAt: new Date(row.updated_at as string),
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
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
}

function supersessionFromRow(row: Row): SupersessionRecord {
  return {
    oldSerial: row.old_serial as string,
    newSerial: row.new_serial as string,
    supersedeAt: new Date(row.supersede_at as string),
    doneAt: row.done_at ? new Date(row.done_at as string) : null,
    createdAt: new Date(row.created_at as string),
  };
}
