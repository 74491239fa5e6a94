/**
 * The rules a DPS enrollment or hub must meet before it is stored: each refusal names the field
 * and what it must be. Attestation input becomes the stored spec here (keys generated when not given).
 */
import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { AllocationPolicyName, AttestationSpec, EnrollmentKind, EnrollmentRecord, HubRecord } from "../../store/dps-records.js";
import type { PolicySet } from "../../policy/policy-set.js";
import { getProfile } from "../../policy/policy-set.js";
import { AppError } from "../../errors.js";
import { makeSymmetricKey } from "../sas/sas.js";
import { clip } from "../clip.js";
import { cidrProblem } from "./cidr.js";
import { isRegistrationIdPattern } from "./dps-allowlist.js";
import { jsonBoundsProblem } from "../json-bounds.js";
import type { AttestationInput } from "./dps-views.js";

const POLICIES: readonly AllocationPolicyName[] = ["hashed", "static", "geoLatency", "custom"];
export const ID_SCOPE = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
const HUB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IP_HOST = /^\d{1,3}(?:\.\d{1,3}){3}$/;
/** IoT Hub device ids. */
const DEVICE_ID = /^[A-Za-z0-9\-.%_#*?!(),:=@$']{1,128}$/;
const MAX_LIST = 1000;
const MAX_TWIN_BYTES = 32 * 1024;

/** Checks everything but the attestation (already built) and resolves hub names to the stored spelling. */
export async function checkedEnrollment(
  e: EnrollmentRecord,
  policies: PolicySet,
  hubsOfScope: (idScope: string) => Promise<HubRecord[]>,
): Promise<EnrollmentRecord> {
  if (e.provisioningStatus !== "enabled" && e.provisioningStatus !== "disabled")
    throw invalid("Cannot accept provisioningStatus: it must be enabled or disabled");
  const lists = e.allowlists;
  for (const key of ["registrationIds", "hardwareIds", "sourceCidrs"] as const) {
    if (!Array.isArray(lists[key]) || lists[key].some((v) => typeof v !== "string"))
      throw invalid(`Cannot accept allowlists.${key}: it must be a list of strings`);
    if (lists[key].length > MAX_LIST) throw invalid(`Cannot accept allowlists.${key}: it has more than ${MAX_LIST} entries`);
  }
  const unknownListKeys = Object.keys(lists).filter((k) => !["registrationIds", "hardwareIds", "sourceCidrs"].includes(k));
  if (unknownListKeys.length) throw invalid(`Unknown allowlist ${unknownListKeys.join(", ")}`);
  for (const p of lists.registrationIds)
    if (!isRegistrationIdPattern(p)) throw invalid(`Registration-id pattern "${clip(p)}" is invalid: use the id alphabet with * and ?`);
  for (const h of lists.hardwareIds) if (h.length === 0 || h.length > 128) throw invalid("Hardware ids must be 1-128 characters");
  for (const c of lists.sourceCidrs) {
    const problem = cidrProblem(c);
    if (problem) throw invalid(`Source network ${problem}`);
  }
  getProfile(policies, e.profile);

  const a = e.allocation;
  const unknownAllocation = Object.keys(a).filter(
    (k) => !["policy", "hubs", "webhookUrl", "webhookTimeoutMs", "regionNetworks"].includes(k),
  );
  if (unknownAllocation.length) throw invalid(`Unknown allocation setting ${unknownAllocation.join(", ")}`);
  if (!POLICIES.includes(a.policy)) throw invalid(`Allocation policy must be one of ${POLICIES.join(", ")}`);
  if (!Array.isArray(a.hubs) || a.hubs.length > 100)
    throw invalid("Cannot accept allocation.hubs: it must be a list of at most 100 hub names");
  const scopeHubs = await hubsOfScope(e.idScope);
  const hubs = a.hubs.map((name) => {
    const hub = typeof name === "string" ? scopeHubs.find((h) => h.name.toLowerCase() === name.toLowerCase()) : undefined;
    if (!hub) throw new AppError("not_found", `No hub ${clip(String(name))} in scope ${e.idScope}`);
    return hub.name;
  });
  if (new Set(hubs.map((h) => h.toLowerCase())).size !== hubs.length) throw invalid("Cannot accept allocation.hubs: it lists a hub twice");
  if (a.policy === "custom") {
    if (!a.webhookUrl) throw invalid("Custom allocation needs a webhookUrl");
  }
  if (a.webhookUrl !== null) {
    let url: URL | null = null;
    try {
      url = new URL(a.webhookUrl);
    } catch {
      // refused below
    }
    if (!url || url.protocol !== "https:")
      throw invalid(`Cannot accept webhookUrl "${clip(String(a.webhookUrl))}": it must be an https URL`);
  }
  if (!Number.isInteger(a.webhookTimeoutMs) || a.webhookTimeoutMs < 100 || a.webhookTimeoutMs > 60_000) {
    throw invalid("Cannot accept allocation.webhookTimeoutMs: it must be 100-60000");
  }
  if (!Array.isArray(a.regionNetworks) || a.regionNetworks.length > MAX_LIST)
    throw invalid("Cannot accept allocation.regionNetworks: it must be a list");
  for (const n of a.regionNetworks) {
    if (typeof n?.cidr !== "string" || typeof n.region !== "string" || n.region.length === 0 || n.region.length > 64) {
      throw invalid("Cannot accept allocation.regionNetworks: its entries are {cidr, region}");
    }
    const problem = cidrProblem(n.cidr);
    if (problem) throw invalid(`Region network ${problem}`);
  }

  if (typeof e.reprovision.updateHubAssignment !== "boolean" || typeof e.reprovision.migrateDeviceData !== "boolean") {
    throw invalid("Cannot accept reprovision: updateHubAssignment and migrateDeviceData must be true or false");
  }
  if (e.deviceId !== null) {
    if (e.kind === "group") throw invalid("An enrollment group has no device id: each device's is its registration id");
    if (typeof e.deviceId !== "string" || !DEVICE_ID.test(e.deviceId)) throw invalid(`Device id "${clip(String(e.deviceId))}" is invalid`);
  }
  if (e.initialTwin !== null) {
    if (typeof e.initialTwin !== "object" || Array.isArray(e.initialTwin)) throw invalid("Cannot accept initialTwin: it must be an object");
    const unbounded = jsonBoundsProblem(e.initialTwin, "initialTwin", { maxBytes: MAX_TWIN_BYTES });
    if (unbounded) throw invalid(unbounded);
  }
  if (typeof e.capabilities.iotEdge !== "boolean") throw invalid("Cannot accept capabilities.iotEdge: it must be true or false");
  return { ...e, allocation: { ...a, hubs } };
}

export function attestationSpec(
  kind: EnrollmentKind,
  input: AttestationInput,
  current: AttestationSpec | null,
): { spec: AttestationSpec; keys?: { primaryKey: string; secondaryKey: string } } {
  if (input.type === "symmetricKey") {
    const size = kind === "group" ? 64 : 32;
    const keep = current?.type === "symmetricKey" ? current : null;
    let generated = false;
    const key = (given: string | undefined, kept: string | undefined): string => {
      if (given !== undefined) return given;
      if (kept !== undefined) return kept;
      generated = true;
      return makeSymmetricKey(size);
    };
    const primaryKey = key(input.primaryKey, keep?.primaryKey);
    const secondaryKey = key(input.secondaryKey, keep?.secondaryKey);
    for (const [name, value] of [
      ["primaryKey", primaryKey],
      ["secondaryKey", secondaryKey],
    ] as const) {
      if (typeof value !== "string" || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) || Buffer.from(value, "base64").length < 16) {
        throw invalid(`Cannot accept ${name}: it must be base64 of at least 16 bytes`);
      }
    }
    return { spec: { type: "symmetricKey", primaryKey, secondaryKey }, ...(generated ? { keys: { primaryKey, secondaryKey } } : {}) };
  }
  if (input.type !== "x509") throw invalid("Cannot accept attestation.type: it must be symmetricKey or x509");
  if (kind === "group") {
    const pems = input.caCertificates ?? input.certificates ?? [];
    if (pems.length < 1 || pems.length > 2) throw invalid("An X.509 enrollment group needs one or two CA certificates (PEM)");
    const certs = pems.map(parseCertificate);
    for (const cert of certs) if (!cert.isCa) throw invalid(`Certificate ${cert.subject} is not a CA certificate`);
    return { spec: { type: "x509", caCertificates: certs.map((c) => c.pem) } };
  }
  const thumbprints = [
    ...(input.certificates ?? []).map((pem) => parseCertificate(pem).sha256),
    ...(input.thumbprints ?? []).map((t) => t.replace(/:/g, "").toLowerCase()),
  ];
  if (thumbprints.length < 1 || thumbprints.length > 2)
    throw invalid("An X.509 individual enrollment needs one or two device certificates or SHA-256 thumbprints");
  for (const t of thumbprints) if (!/^[0-9a-f]{64}$/.test(t)) throw invalid(`"${clip(t)}" is not a SHA-256 thumbprint (64 hex digits)`);
  return { spec: { type: "x509", thumbprints } };
}

function parseCertificate(pem: string): ParsedCertificate {
  try {
    return ParsedCertificate.parse(pem);
  } catch {
    throw new AppError("bad_encoding", "Cannot parse certificate: expected PEM or DER X.509");
  }
}

export function checkedHub(hub: HubRecord): HubRecord {
  if (!HUB_NAME.test(hub.name)) throw invalid(`Hub name "${clip(hub.name)}" is invalid: use 1-63 letters, digits, . _ -`);
  if (!HOST_NAME.test(hub.hostName) && !IP_HOST.test(hub.hostName)) throw invalid(`Host name "${clip(hub.hostName)}" is not a DNS name`);
  if (!Number.isInteger(hub.weight) || hub.weight < 1 || hub.weight > 1000)
    throw invalid("Cannot accept weight: it must be an integer from 1 to 1000");
  if (hub.region !== null && (typeof hub.region !== "string" || hub.region.length === 0 || hub.region.length > 64)) {
    throw invalid("Cannot accept region: it must be 1-64 characters");
  }
  if (typeof hub.enabled !== "boolean") throw invalid("Cannot accept enabled: it must be true or false");
  return hub;
}

export function invalid(message: string): AppError {
  return new AppError("invalid_argument", message);
}
