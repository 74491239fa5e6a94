import { randomBytes, randomUUID } from "node:crypto";
import { parseCsr } from "../../../ca/csr.js";
import { pemEncode } from "../../../ca/pem.js";
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { Store } from "../../store/store.js";
import type { AuditInput, CertificateRecord } from "../../store/records.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { EnrollmentRecord, HubRecord, RegistrationRecord, RegistrationSubstatus } from "../../store/dps-records.js";
import type { Clock } from "../../clock.js";
import { AppError, ERROR_TABLE, toAppError } from "../../errors.js";
import type { RefusalLog } from "../audit/refusal-log.js";
import { clip } from "../clip.js";
import { BatchWriter } from "../issuance/batch-writer.js";
import { rootInService, type CaService } from "../authority/ca-service.js";
import type { IssuanceService } from "../issuance/issuance-service.js";
import type { Attestation, AttestationContext, Attestor } from "../attestation/attestor.js";
import { AttestationError } from "../attestation/attestor.js";
import { SymmetricKeyAttestor } from "../attestation/symmetric-key.js";
import { X509Attestor } from "../attestation/x509.js";
import { AllocationError, type AllocationResult } from "../allocation/allocation-policy.js";
import type { AllocationPolicies } from "../allocation/policies.js";
import { allowlistRefusal, isRegistrationId } from "./dps-allowlist.js";

/** What the device endpoint hands over from one request (path, headers, TLS). */
export interface DeviceRequest {
  /** As in the path. */
  idScope: string;
  /** As in the path; derived keys and CSRs use exactly this string. */
  registrationId: string;
  authorization: string | null;
  /** DER certificates from the TLS handshake, leaf first. */
  clientCertificates: Uint8Array[];
  sourceAddress: string;
}

/** The register request body, already parsed and shape-checked. */
export interface RegisterBody {
  payload?: unknown;
  /** Base64 DER PKCS#10. */
  csr?: string;
  /**
   * Which request field carried `csr`, and so the answer's shape: `csr` gets
   * issuedCertificateChain (base64 DER, leaf first); `clientCertificateCsr` (the older field IoT
   * Edge's identity service sends) gets issuedClientCertificate (PEM) and trustBundle. Default `csr`.
   */
  csrField?: "csr" | "clientCertificateCsr";
}

/** A device whose credential and allowlists passed: nothing has been written yet. */
export interface AdmittedDevice {
  idScope: string;
  registrationId: string;
  sourceAddress: string;
  attestation: Attestation;
  current: RegistrationRecord | null;
}

export type RegistrationStateJson = Record<string, unknown>;

export interface RegistrationOutcome {
  operationId: string;
  status: "assigned" | "failed" | "disabled";
  registrationState: RegistrationStateJson;
}

export interface DpsServiceOptions {
  store: DpsStore;
  /** The certificate store: revocation status and the renewal path. */
  certificates: Store;
  issuance: IssuanceService;
  ca: CaService;
  clock: Clock;
  allocation: AllocationPolicies;
  /** Tolerated clock difference for tokens and certificates. */
  skewMs: number;
  /** Credential-lifecycle hooks for renewal through this endpoint (optional: registration works without them). */
  lifecycle?: DpsLifecycleHooks;
  /** Where refused registrations and polls go (`dps.register.refuse`). */
  refusals?: RefusalLog;
}

/** What is known of a refused device request, whatever stage refused it. */
export interface RefusedDeviceRequest {
  idScope: string;
  registrationId: string;
  sourceAddress: string;
}

/** What the registration flow asks of the credential lifecycle. */
export interface DpsLifecycleHooks {
  /** A dpki certificate's standing beyond its stored status (a renewed one past its grace period is superseded). */
  effectiveStatus(
    cert: CertificateRecord,
    now: Date,
  ): Promise<{ status: "good" } | { status: "revoked"; revokedAt: Date; reason?: string }>;
  /** How long after expiry a dpki certificate may still be presented to renew it (null: never). */
  expiredRenewalWindowMs: number | null;
  /** Refuses (conflict) before anything is issued when the presented certificate was already renewed. */
  checkRenewal(oldSha256: string): Promise<void>;
  /** A device renewed its certificate at registration: the old one is superseded after the grace period. */
  renewed(event: DeviceRenewal): Promise<void>;
}

/** A registration that presented a dpki certificate over mTLS and got a new one for the same identity. */
export interface DeviceRenewal {
  oldSha256: string;
  newSerial: string;
  idScope: string;
  registrationId: string;
  expiredRenewal: boolean;
  operationId: string;
}

/**
 * The device registration flow: attest → enrollment (an individual enrollment wins over groups)
 * → allowlists → enabled? → allocate (honouring the reprovision policy) → issue the CSR, if
 * any, under the enrollment's profile → record the registration with its log entry.
 * `admit` refuses without side effects; `register` does the rest.
 */
export class DpsService {
  private readonly attestors: Attestor[];
  private readonly writer: BatchWriter<{ registration: RegistrationRecord; audit: AuditInput }>;

  constructor(private readonly options: DpsServiceOptions) {
    this.attestors = [
      new SymmetricKeyAttestor({ skewSeconds: Math.round(options.skewMs / 1000) }),
      new X509Attestor({
        skewMs: options.skewMs,
        issuedCertificate: (sha256) => options.certificates.getCertificate({ sha256 }),
        dpkiCaCertificates: async () => (await options.certificates.listCas()).map((ca) => ca.certDer),
        effectiveStatus: options.lifecycle?.effectiveStatus,
        expiredRenewalWindowMs: options.lifecycle?.expiredRenewalWindowMs,
      }),
    ];
    this.writer = new BatchWriter((items) => options.store.saveRegistrations(items));
  }

  /**
   * Validates, attests and checks allowlists (and the CSR's form). Throws AppError; writes
   * nothing. A poll (`GET …/operations/…`) only re-proves the credential: the allowlists were
   * applied to the register request whose result it asks for.
   */
  async admit(request: DeviceRequest, body: RegisterBody = {}, options: { poll?: boolean } = {}): Promise<AdmittedDevice> {
    try {
      return await this.attest(request, body, options);
    } catch (err) {
      await this.refusedIfClientFault(request, err, options.poll ? "poll" : "register");
      throw err;
    }
  }

  /**
   * Logs a refused device request with its reason: what the device claimed (scope, registration
   * id) and where it came from, never what it presented (SAS token, key, certificate).
   */
  async refused(request: RefusedDeviceRequest, error: { code: string; message: string; reason?: string }, stage: string): Promise<void> {
    const idScope = clip(request.idScope, 64);
    const registrationId = clip(request.registrationId, 128);
    await this.options.refusals?.record({
      action: "dps.register.refuse",
      actor: `dps:${idScope}/${registrationId}`,
      source: request.sourceAddress || null,
      code: error.code,
      message: error.message,
      subject: `${idScope}/${registrationId}`,
      details: { idScope, registrationId, stage, ...(error.reason ? { reason: error.reason } : {}) },
    });
  }

  /** Refusals are the device's fault (4xx); dpki's own failures are not attempts to record. */
  private async refusedIfClientFault(request: RefusedDeviceRequest, err: unknown, stage: string): Promise<void> {
    const error = toAppError(err);
    const status = ERROR_TABLE[error.code].status;
    if (status < 400 || status >= 500) return;
    const reason = error instanceof AttestationError ? error.reason : undefined;
    await this.refused(request, { code: error.code, message: error.message, reason }, stage);
  }

  private async attest(request: DeviceRequest, body: RegisterBody, options: { poll?: boolean }): Promise<AdmittedDevice> {
    const { store, clock } = this.options;
    if (!isRegistrationId(request.registrationId)) throw invalidRegistrationId(request.registrationId);
    const scope = await store.getScope(request.idScope);
    if (!scope) throw new AppError("not_found", `Unknown ID scope ${request.idScope}`);
    const idScope = scope.idScope;
    const [individual, current] = await Promise.all([
      store.getEnrollment(idScope, "individual", request.registrationId),
      store.getRegistration(idScope, request.registrationId),
    ]);
    const context: AttestationContext = {
      idScope,
      registrationId: request.registrationId,
      now: clock.now(),
      authorization: request.authorization,
      clientCertificates: request.clientCertificates,
      enrollments: {
        individual,
        groups: (type) => store.groupsByAttestation(idScope, type),
        registration: current,
        enrollment: (kind, id) => store.getEnrollment(idScope, kind, id),
      },
    };
    const attestor = this.attestors.find((a) => a.applies(context));
    if (!attestor) {
      throw new AttestationError("no_credential", "No credential: send a SAS token in Authorization or a TLS client certificate");
    }
    const attestation = await attestor.attest(context);
    const admitted = { idScope, registrationId: request.registrationId, sourceAddress: request.sourceAddress, attestation, current };
    if (options.poll) return admitted;
    const refusal = allowlistRefusal(attestation.enrollment.allowlists, {
      registrationId: request.registrationId,
      payload: body.payload,
      sourceAddress: request.sourceAddress,
    });
    if (refusal) throw new AttestationError("no_enrollment", refusal);
    if (body.csr !== undefined) parseCsr(Buffer.from(body.csr, "base64"));
    else if (attestation.used.expiredRenewal) {
      throw new AttestationError("expired", "The device certificate has expired: it can only be presented to renew itself (send a CSR)");
    }
    return admitted;
  }

  /**
   * Assigns (or refuses) an admitted device and records the outcome. Allocation failures give a
   * `failed` registration; a disabled enrollment a `disabled` one. A refused CSR throws and
   * changes nothing.
   */
  async register(device: AdmittedDevice, body: RegisterBody, operationId: string): Promise<RegistrationOutcome> {
    try {
      return await this.assign(device, body, operationId);
    } catch (err) {
      await this.refusedIfClientFault(device, err, "register");
      throw err;
    }
  }

  private async assign(device: AdmittedDevice, body: RegisterBody, operationId: string): Promise<RegistrationOutcome> {
    const { enrollment } = device.attestation;
    const now = this.options.clock.now();
    const base = this.baseRecord(device, operationId, now);

    if (enrollment.provisioningStatus === "disabled") {
      const registration: RegistrationRecord = { ...base, status: "disabled", substatus: null, errorCode: null, errorMessage: null };
      await this.save(registration, device, null);
      return outcome(registration, device.attestation);
    }

    let allocated: AllocationResult & { substatus: RegistrationSubstatus };
    try {
      allocated = await this.allocate(device, body);
    } catch (err) {
      if (!(err instanceof AllocationError)) throw err;
      const registration: RegistrationRecord = {
        ...base,
        status: "failed",
        substatus: null,
        errorCode: err.errorCode,
        errorMessage: err.message,
      };
      await this.save(registration, device, null);
      return outcome(registration, device.attestation);
    }

    let issued: { serial: string; answer: IssuedAnswer; profile: string } | null = null;
    if (body.csr !== undefined) {
      const presented = device.attestation.used;
      if (presented.renewal && presented.thumbprint) await this.options.lifecycle?.checkRenewal(presented.thumbprint);
      const cert = await this.options.issuance.issue({
        csr: Buffer.from(body.csr, "base64"),
        profile: enrollment.profile,
        actor: `dps:${device.idScope}/${device.registrationId}`,
        scope: device.idScope,
        source: device.sourceAddress || null,
        commonNameMustEqual: device.registrationId,
        details: { registrationId: device.registrationId, idScope: device.idScope, enrollment: enrollmentRef(enrollment), operationId },
      });
      issued = {
        serial: cert.certificate.serial,
        profile: enrollment.profile,
        answer: await this.issuedAnswer([cert.der, ...cert.chain], body.csrField ?? "csr"),
      };
      const used = device.attestation.used;
      if (used.renewal && used.thumbprint) {
        await this.options.lifecycle?.renewed({
          oldSha256: used.thumbprint,
          newSerial: cert.certificate.serial,
          idScope: device.idScope,
          registrationId: device.registrationId,
          expiredRenewal: used.expiredRenewal === true,
          operationId,
        });
      }
    }

    const registration: RegistrationRecord = {
      ...base,
      status: "assigned",
      substatus: allocated.substatus,
      assignedHub: allocated.hub.hostName,
      initialHub: device.current?.initialHub ?? allocated.hub.hostName,
      deviceId: enrollment.deviceId ?? device.registrationId,
      issuedSerial: issued?.serial ?? device.current?.issuedSerial ?? null,
      errorCode: null,
      errorMessage: null,
      payload: allocated.payload ?? null,
      initialTwin: allocated.initialTwin !== undefined ? allocated.initialTwin : enrollment.initialTwin,
    };
    await this.save(registration, device, issued);
    return outcome(registration, device.attestation, issued?.answer);
  }

  /**
   * The issued certificate in the answer format the request's CSR field asks for. The older
   * format's trust bundle is the roots in service, each with the metadata DPS sends beside it.
   */
  private async issuedAnswer(ders: Uint8Array[], field: "csr" | "clientCertificateCsr"): Promise<IssuedAnswer> {
    if (field === "csr") return { issuedCertificateChain: ders.map((der) => Buffer.from(der).toString("base64")) };
    const now = this.options.clock.now();
    const roots = (await this.options.certificates.listCas()).filter((ca) => ca.kind === "root" && rootInService(ca, now));
    return {
      issuedClientCertificate: ders.map((der) => pemEncode("CERTIFICATE", der)).join(""),
      trustBundle: { certificates: roots.map((ca) => trustBundleCertificate(ca.certDer)) },
    };
  }

  /** The terminal state of a finished operation from the store (after a restart), or null. */
  async storedOutcome(device: AdmittedDevice, operationId: string): Promise<RegistrationOutcome | null> {
    const reg = await this.options.store.getRegistration(device.idScope, device.registrationId);
    if (!reg || reg.operationId !== operationId) return null;
    let answer: IssuedAnswer | undefined;
    if (reg.issuedSerial) {
      const cert = await this.options.certificates.getCertificate({ serial: reg.issuedSerial });
      if (cert) {
        const issuer = await this.options.ca.issuer(cert.issuerCaId);
        // The request's field is not stored: after a restart the poll answers in today's format.
        answer = await this.issuedAnswer([cert.der, ...issuer.chain], "csr");
      }
    }
    return outcome(reg, device.attestation, answer);
  }

  private baseRecord(device: AdmittedDevice, operationId: string, now: Date): RegistrationRecord {
    const { enrollment, used } = device.attestation;
    const current = device.current;
    return {
      idScope: device.idScope,
      registrationId: device.registrationId,
      enrollmentKind: enrollment.kind,
      enrollmentId: enrollment.id,
      status: "failed",
      substatus: null,
      assignedHub: current?.assignedHub ?? null,
      initialHub: current?.initialHub ?? null,
      deviceId: current?.deviceId ?? null,
      attestation: used,
      etag: newEtag(),
      operationId,
      issuedSerial: current?.issuedSerial ?? null,
      errorCode: null,
      errorMessage: null,
      payload: null,
      initialTwin: current?.initialTwin ?? null,
      iotEdge: enrollment.capabilities.iotEdge,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    };
  }

  /** Chooses the hub under the enrollment's allocation and reprovision policies. */
  private async allocate(device: AdmittedDevice, body: RegisterBody): Promise<AllocationResult & { substatus: RegistrationSubstatus }> {
    const { enrollment, used } = device.attestation;
    const scopeHubs = await this.options.store.listHubs(device.idScope);
    const hubs = linkedHubs(enrollment, scopeHubs);
    const current = device.current;
    const currentHub = current?.assignedHub ? scopeHubs.find((h) => h.enabled && sameHost(h.hostName, current.assignedHub!)) : undefined;

    // Never re-provision: an assigned device stays on its hub (even one no longer linked) while that hub exists and is enabled.
    if (current && currentHub && !enrollment.reprovision.updateHubAssignment) {
      return { hub: currentHub, substatus: current.substatus ?? "initialAssignment", payload: current.payload ?? undefined };
    }
    const policy = this.options.allocation[enrollment.allocation.policy];
    const result = await policy.allocate({
      registrationId: device.registrationId,
      enrollment,
      hubs,
      current,
      payload: body.payload,
      sourceAddress: device.sourceAddress,
      attestation: used,
    });
    return { ...result, substatus: substatusFor(current, result.hub, enrollment) };
  }

  private async save(registration: RegistrationRecord, device: AdmittedDevice, issued: { serial: string; profile: string } | null) {
    const audit: AuditInput = {
      at: registration.updatedAt,
      actor: `dps:${device.idScope}/${device.registrationId}`,
      action: "dps.register",
      subject: `${device.idScope}/${registration.registrationId}`,
      serial: issued?.serial ?? null,
      profile: issued?.profile ?? null,
      // The device's own address: the batch this entry joins commits in another request's context.
      source: device.sourceAddress || null,
      details: {
        idScope: device.idScope,
        registrationId: registration.registrationId,
        enrollment: enrollmentRef(device.attestation.enrollment),
        status: registration.status,
        substatus: registration.substatus,
        assignedHub: registration.assignedHub,
        deviceId: registration.deviceId,
        attestation: registration.attestation,
        operationId: registration.operationId,
        etag: registration.etag,
        ...(registration.errorCode !== null ? { errorCode: registration.errorCode, errorMessage: registration.errorMessage } : {}),
      },
    };
    await this.writer.write({ registration, audit });
  }
}

/** The enrollment's linked hubs that are enabled, in the enrollment's order (all enabled hubs when none are linked). */
export function linkedHubs(enrollment: EnrollmentRecord, scopeHubs: HubRecord[]): HubRecord[] {
  const enabled = scopeHubs.filter((h) => h.enabled);
  if (enrollment.allocation.hubs.length === 0) return enabled;
  const out: HubRecord[] = [];
  for (const name of enrollment.allocation.hubs) {
    const hub = enabled.find((h) => h.name.toLowerCase() === name.toLowerCase());
    if (hub) out.push(hub);
  }
  return out;
}

/**
 * DPS substatus: a first assignment is initialAssignment; moving to another hub is
 * deviceDataMigrated or deviceDataReset (per migrateDeviceData), or
 * reprovisionedToInitialAssignment when the move is back to the first hub. Staying on the
 * same hub keeps the substatus it had.
 */
export function substatusFor(current: RegistrationRecord | null, hub: HubRecord, enrollment: EnrollmentRecord): RegistrationSubstatus {
  if (!current?.assignedHub) return "initialAssignment";
  if (sameHost(current.assignedHub, hub.hostName)) return current.substatus ?? "initialAssignment";
  if (current.initialHub && sameHost(current.initialHub, hub.hostName)) return "reprovisionedToInitialAssignment";
  return enrollment.reprovision.migrateDeviceData ? "deviceDataMigrated" : "deviceDataReset";
}

function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function enrollmentRef(enrollment: EnrollmentRecord): string {
  return `${enrollment.kind}:${enrollment.id}`;
}

function invalidRegistrationId(id: string): AppError {
  const shown = id.length > 64 ? `${id.slice(0, 64)}…` : id;
  return new AppError(
    "invalid_argument",
    id.length > 128
      ? `Registration id is ${id.length} characters long; at most 128 are allowed`
      : `Registration id "${shown}" is invalid: use 1-128 of A-Z a-z 0-9 - . _ : ending in a letter, digit or -`,
  );
}

/** DPS-style operation id: `5.<16 hex>.<uuid>`. */
export function newOperationId(): string {
  return `5.${randomBytes(8).toString("hex")}.${randomUUID()}`;
}

/** DPS etags are base64 of a quoted GUID-like string; opaque to devices. */
function newEtag(): string {
  return Buffer.from(`"${randomUUID()}"`).toString("base64");
}

/** DPS writes seven fractional digits. */
export function dpsTime(d: Date): string {
  return d.toISOString().replace(/Z$/, "0000Z");
}

/** The issued certificate as a registrationState carries it, in one of the two request formats. */
export type IssuedAnswer =
  | { issuedCertificateChain: string[] }
  | { issuedClientCertificate: string; trustBundle: { certificates: TrustBundleCertificate[] } };

/** One trust-bundle entry as DPS sends it (and IoT Edge's identity service reads it). */
export interface TrustBundleCertificate {
  /** PEM. */
  certificate: string;
  metadata: {
    subjectName: string;
    sha1Thumbprint: string;
    sha256Thumbprint: string;
    issuerName: string;
    notBeforeUtc: string;
    notAfterUtc: string;
    serialNumber: string;
    version: number;
  };
}

function trustBundleCertificate(der: Uint8Array): TrustBundleCertificate {
  const cert = ParsedCertificate.parse(der, "CA certificate");
  return {
    certificate: cert.pem,
    metadata: {
      subjectName: cert.subject,
      // DPS writes thumbprints and serials in uppercase hex.
      sha1Thumbprint: cert.sha1.toUpperCase(),
      sha256Thumbprint: cert.sha256.toUpperCase(),
      issuerName: cert.issuer,
      notBeforeUtc: isoSeconds(cert.notBefore),
      notAfterUtc: isoSeconds(cert.notAfter),
      serialNumber: cert.serial.toUpperCase(),
      version: 3,
    },
  };
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function outcome(reg: RegistrationRecord, attestation: Attestation, issued?: IssuedAnswer): RegistrationOutcome {
  return { operationId: reg.operationId, status: reg.status, registrationState: registrationState(reg, attestation, issued) };
}

/** registrationState (DPS DeviceRegistrationResult) for one registration. */
export function registrationState(reg: RegistrationRecord, attestation: Attestation, issued?: IssuedAnswer): RegistrationStateJson {
  const state: RegistrationStateJson = { registrationId: reg.registrationId, createdDateTimeUtc: dpsTime(reg.createdAt) };
  if (reg.status === "assigned") {
    state.assignedHub = reg.assignedHub;
    state.deviceId = reg.deviceId;
  }
  state.status = reg.status;
  if (reg.status === "assigned" && reg.substatus) state.substatus = reg.substatus;
  if (reg.status === "failed") {
    state.errorCode = reg.errorCode;
    state.errorMessage = reg.errorMessage;
  }
  state.lastUpdatedDateTimeUtc = dpsTime(reg.updatedAt);
  state.etag = reg.etag;
  if (reg.status === "assigned" && reg.payload !== null && reg.payload !== undefined) state.payload = reg.payload;
  const group = attestation.enrollment.kind === "group" ? { enrollmentGroupId: attestation.enrollment.id } : {};
  if (attestation.used.method === "symmetricKey") state.symmetricKey = group;
  else state.x509 = { ...(attestation.certificate ? { certificateInfo: attestation.certificate } : {}), ...group };
  if (issued) Object.assign(state, issued);
  return state;
}
