import { Command, InvalidArgumentError, Option } from "commander";
import { ParsedCertificate } from "../ca/x509-certificate.js";
import type { AttestationInput, EnrollmentInput, EnrollmentView, EnrollmentWithKeys } from "../src/core/dps/dps-views.js";
import type { AllocationPolicyName, EnrollmentKind } from "../src/store/dps-records.js";
import { parseDuration } from "../src/duration.js";
import { AppError } from "../src/errors.js";
import { readInput } from "./io.js";
import { formatRecord } from "./output.js";

/** `--scope ID` on a provisioning command (else DPKI_SCOPE, else the only scope). */
export function scopeOption(cmd: Command): Command {
  return cmd.option("--scope <id>", "ID scope (env DPKI_SCOPE; default: the only one)");
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The enrollment settings shared by `enrollment` and `group`, for add (`creating`) and update. */
export function enrollmentOptions(cmd: Command, kind: EnrollmentKind, creating: boolean): Command {
  const x509What =
    kind === "group"
      ? "CA certificate (PEM file) devices chain to; repeat for a second"
      : "device certificate (PEM file); repeat for a secondary";
  cmd
    .addOption(
      new Option("--attestation <type>", "how devices prove themselves")
        .choices(["symmetric-key", "x509"])
        .default(creating ? "symmetric-key" : undefined),
    )
    .option("--primary-key <base64>", "symmetric primary key (default: generated and shown once)")
    .option("--secondary-key <base64>", "symmetric secondary key (default: generated and shown once)")
    .option("--cert <file>", x509What, collect);
  if (kind === "individual")
    cmd.option("--thumbprint <sha256>", "SHA-256 thumbprint of the device certificate, instead of --cert", collect);
  cmd
    .option("--status <status>", "provisioning status: enabled or disabled", toStatus)
    .option("--allow-id <pattern>", "allowed registration ids, glob with * and ? (repeatable; replaces the list)", collect)
    .option("--allow-hardware-id <id>", "allowed payload.hardwareId values (repeatable; replaces the list)", collect)
    .option("--allow-cidr <cidr>", "allowed source networks (repeatable; replaces the list)", collect)
    .option("--clear-allowlists", "remove every allowlist")
    .option("--profile <name>", "certificate profile for CSRs sent at registration (default device)")
    .addOption(
      new Option("--allocation <policy>", "allocation policy").choices(["hashed", "static", "geoLatency", "geo-latency", "custom"]),
    )
    .option("--hub <name>", "linked hub (repeatable; replaces the list; none = every enabled hub)", collect)
    .option("--all-hubs", "unlink every hub: allocate among all enabled hubs of the scope")
    .option("--webhook-url <url>", "custom allocation webhook (https)")
    .option("--webhook-timeout <duration>", "custom allocation timeout, e.g. 5s")
    .option("--region-network <cidr=region>", "geoLatency: source network of a region (repeatable; replaces the list)", collect)
    .addOption(new Option("--reprovision <policy>", "on re-registration").choices(["migrate", "reset", "never"]))
    .option("--initial-twin <json-or-file>", "initial twin, JSON text or a file holding it")
    .option("--iot-edge", "devices are IoT Edge devices")
    .option("--no-iot-edge", "devices are not IoT Edge devices");
  if (kind === "individual") cmd.option("--device-id <id>", "hub device id (default: the registration id)");
  return cmd;
}

/** Turns parsed options into an EnrollmentInput (only what was given, for update). */
export function enrollmentInput(opts: Record<string, unknown>, kind: EnrollmentKind, creating: boolean): EnrollmentInput {
  const input: EnrollmentInput = {};
  const attestation = attestationInput(opts, kind, creating);
  if (attestation) input.attestation = attestation;
  if (opts.status) input.provisioningStatus = opts.status as "enabled" | "disabled";
  if (opts.clearAllowlists) input.allowlists = { registrationIds: [], hardwareIds: [], sourceCidrs: [] };
  const lists: NonNullable<EnrollmentInput["allowlists"]> = {};
  if (opts.allowId) lists.registrationIds = opts.allowId as string[];
  if (opts.allowHardwareId) lists.hardwareIds = opts.allowHardwareId as string[];
  if (opts.allowCidr) lists.sourceCidrs = opts.allowCidr as string[];
  if (Object.keys(lists).length) input.allowlists = { ...input.allowlists, ...lists };
  if (opts.profile) input.profile = opts.profile as string;
  const allocation: NonNullable<EnrollmentInput["allocation"]> = {};
  if (opts.allocation) allocation.policy = (opts.allocation === "geo-latency" ? "geoLatency" : opts.allocation) as AllocationPolicyName;
  if (opts.allHubs) allocation.hubs = [];
  if (opts.hub) allocation.hubs = opts.hub as string[];
  if (opts.webhookUrl) allocation.webhookUrl = opts.webhookUrl as string;
  if (opts.webhookTimeout) allocation.webhookTimeoutMs = parseDuration(opts.webhookTimeout as string);
  if (opts.regionNetwork) {
    allocation.regionNetworks = (opts.regionNetwork as string[]).map((pair) => {
      const eq = pair.lastIndexOf("=");
      if (eq <= 0 || eq === pair.length - 1) throw new AppError("invalid_argument", `--region-network "${pair}" is not CIDR=REGION`);
      return { cidr: pair.slice(0, eq), region: pair.slice(eq + 1) };
    });
  }
  if (Object.keys(allocation).length) input.allocation = allocation;
  if (opts.reprovision) {
    input.reprovision =
      opts.reprovision === "never"
        ? { updateHubAssignment: false, migrateDeviceData: true }
        : { updateHubAssignment: true, migrateDeviceData: opts.reprovision === "migrate" };
  }
  if (opts.initialTwin !== undefined) input.initialTwin = readJsonObject(opts.initialTwin as string, "--initial-twin");
  if (opts.iotEdge !== undefined) input.capabilities = { iotEdge: Boolean(opts.iotEdge) };
  if (opts.deviceId !== undefined) input.deviceId = opts.deviceId as string;
  return input;
}

function attestationInput(opts: Record<string, unknown>, kind: EnrollmentKind, creating: boolean): AttestationInput | undefined {
  const certs = (opts.cert as string[] | undefined)?.map((file) => readCertificate(file));
  const thumbprints = opts.thumbprint as string[] | undefined;
  const type = opts.attestation ?? (certs || thumbprints ? "x509" : opts.primaryKey || opts.secondaryKey ? "symmetric-key" : undefined);
  if (!type) return creating ? { type: "symmetricKey" } : undefined;
  if (type === "x509") {
    if (opts.primaryKey || opts.secondaryKey)
      throw new AppError("invalid_argument", "--primary-key/--secondary-key are for symmetric-key attestation");
    return kind === "group" ? { type: "x509", caCertificates: certs } : { type: "x509", certificates: certs, thumbprints };
  }
  if (certs || thumbprints) throw new AppError("invalid_argument", "--cert/--thumbprint are for x509 attestation");
  return {
    type: "symmetricKey",
    ...(opts.primaryKey ? { primaryKey: opts.primaryKey as string } : {}),
    ...(opts.secondaryKey ? { secondaryKey: opts.secondaryKey as string } : {}),
  };
}

function readCertificate(file: string): string {
  const bytes = readInput(file);
  try {
    return ParsedCertificate.parse(bytes).pem;
  } catch {
    throw new AppError("bad_encoding", `Cannot parse certificate ${file}: expected PEM or DER X.509`);
  }
}

function readJsonObject(text: string, what: string): Record<string, unknown> | null {
  const source = text.trim().startsWith("{") || text.trim() === "null" ? text : readInput(text).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    throw new AppError("bad_encoding", `Cannot parse ${what}: not JSON`);
  }
  if (value !== null && (typeof value !== "object" || Array.isArray(value)))
    throw new AppError("invalid_argument", `${what} must be a JSON object`);
  return value as Record<string, unknown> | null;
}

function toStatus(value: string): "enabled" | "disabled" {
  if (value !== "enabled" && value !== "disabled") throw new InvalidArgumentError("use enabled or disabled");
  return value;
}

export function enrollmentDetails(e: EnrollmentView): string {
  const a = e.attestation;
  const attestation =
    a.type === "symmetricKey"
      ? "symmetric key"
      : "thumbprints" in a
        ? `x509 (${a.thumbprints.join(", ")})`
        : `x509 CA ${a.caCertificates.map((c) => `${c.subject} [${c.sha256.slice(0, 16)}…]`).join("; ")}`;
  const lists = e.allowlists;
  return formatRecord([
    [e.groupId !== undefined ? "group" : "registration id", e.groupId ?? e.registrationId],
    ["ID scope", e.idScope],
    ["status", e.provisioningStatus],
    ["attestation", attestation],
    ["profile", e.profile],
    ["allocation", e.allocation.policy + (e.allocation.webhookUrl ? ` (${e.allocation.webhookUrl})` : "")],
    ["hubs", e.allocation.hubs.join(", ") || "(all enabled)"],
    ["reprovision", reprovisionName(e)],
    ["allowed ids", lists.registrationIds.join(", ") || null],
    ["hardware ids", lists.hardwareIds.join(", ") || null],
    ["source CIDRs", lists.sourceCidrs.join(", ") || null],
    ["device id", e.deviceId],
    ["iot edge", e.capabilities.iotEdge ? "yes" : "no"],
    ["initial twin", e.initialTwin ? JSON.stringify(e.initialTwin) : null],
    ["etag", e.etag],
    ["created", e.createdAt],
    ["updated", e.updatedAt],
  ]);
}

function reprovisionName(e: EnrollmentView): string {
  if (!e.reprovision.updateHubAssignment) return "never";
  return e.reprovision.migrateDeviceData ? "migrate" : "reset";
}

/** Keys are printed once, when made: nothing can show them again (derive-key recomputes device keys). */
export function withKeys(result: EnrollmentWithKeys): string {
  const body = enrollmentDetails(result.enrollment);
  if (!result.keys) return body;
  return (
    body + `\nprimary key:   ${result.keys.primaryKey}\nsecondary key: ${result.keys.secondaryKey}\n` + "(shown once: store them now)\n"
  );
}
