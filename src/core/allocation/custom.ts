import { request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import type { EnrollmentRecord, HubRecord } from "../../store/dps-records.js";
import { jsonBoundsProblem } from "../json-bounds.js";
import {
  ALLOCATION_ERROR_CODES,
  AllocationError,
  noHub,
  type AllocationPolicy,
  type AllocationRequest,
  type AllocationResult,
} from "./allocation-policy.js";

export interface CustomAllocationOptions {
  /**
   * PEM certificates trusted for webhook servers besides Node's own store (dpki's roots, an
   * operator's CA). Asked per call, so a root rollover is trusted without a restart.
   */
  ca?: () => Promise<readonly string[]>;
  /** Largest webhook answer read, in bytes. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE = 64 * 1024;

/**
 * DPS custom allocation: POSTs an AllocationRequest `{individualEnrollment | enrollmentGroup,
 * deviceRuntimeContext, linkedHubs}` to the enrollment's HTTPS webhook and expects
 * `{iotHubHostName, initialTwin?, payload?}` naming one of the linked hubs. Any failure (refused
 * connection, timeout, non-2xx, oversize or malformed answer, unknown hub) is an
 * AllocationError 400209 with a message saying which: the device ends up `failed`.
 */
export class CustomAllocation implements AllocationPolicy {
  readonly name = "custom" as const;

  private trust: { key: string; ca: string[] } | undefined;

  constructor(private readonly options: CustomAllocationOptions = {}) {}

  /** Node's store plus the extra certificates, rebuilt only when those change. */
  private async trusted(): Promise<string[] | undefined> {
    const extra = (await this.options.ca?.()) ?? [];
    if (extra.length === 0) return undefined;
    const key = extra.join("");
    if (this.trust?.key !== key) this.trust = { key, ca: [...rootCertificates, ...extra] };
    return this.trust.ca;
  }

  async allocate(request: AllocationRequest): Promise<AllocationResult> {
    if (request.hubs.length === 0) throw noHub(request);
    const url = request.enrollment.allocation.webhookUrl;
    if (!url) throw failed("no webhook URL is configured");
    const timeoutMs = request.enrollment.allocation.webhookTimeoutMs;
    const body = JSON.stringify(allocationRequestBody(request));
    const answer = await this.post(url, body, timeoutMs, await this.trusted());
    if (answer.status < 200 || answer.status > 299) throw failed(`status code: ${answer.status}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      throw failed("the webhook's answer is not JSON");
    }
    return resultFrom(parsed, request.hubs);
  }

  private post(url: string, body: string, timeoutMs: number, ca: string[] | undefined): Promise<{ status: number; body: string }> {
    const max = this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
    return new Promise((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return reject(failed("the webhook URL is invalid"));
      }
      if (target.protocol !== "https:") return reject(failed("the webhook URL must be https"));
      let settled = false;
      const finish = (err: AllocationError | null, value?: { status: number; body: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = httpsRequest(
        target,
        {
          method: "POST",
          headers: {
            "content-type": "application/json; charset=utf-8",
            "content-length": Buffer.byteLength(body),
            accept: "application/json",
          },
          ...(ca ? { ca } : {}),
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > max) {
              req.destroy();
              finish(failed(`the webhook's answer exceeds ${max} bytes`));
            } else chunks.push(chunk);
          });
          res.on("end", () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", () => finish(failed("the webhook's answer was cut off")));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        finish(failed(`the webhook did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on("error", (err: NodeJS.ErrnoException) => finish(failed(`cannot reach the webhook (${err.code ?? err.message})`)));
      req.end(body);
    });
  }
}

function failed(reason: string): AllocationError {
  return new AllocationError(ALLOCATION_ERROR_CODES.customFailed, `Custom allocation failed: ${reason}`);
}

function resultFrom(answer: unknown, hubs: HubRecord[]): AllocationResult {
  if (answer === null || typeof answer !== "object" || Array.isArray(answer)) throw failed("the webhook's answer is not a JSON object");
  const { iotHubHostName, initialTwin, payload } = answer as Record<string, unknown>;
  if (typeof iotHubHostName !== "string" || iotHubHostName.length === 0) throw failed("the answer has no iotHubHostName");
  const hub = hubs.find((h) => h.hostName.toLowerCase() === iotHubHostName.toLowerCase());
  if (!hub) throw failed(`the webhook chose ${iotHubHostName.slice(0, 100)}, which is not a linked, enabled hub`);
  if (initialTwin !== undefined && initialTwin !== null && (typeof initialTwin !== "object" || Array.isArray(initialTwin))) {
    throw failed("initialTwin in the answer is not an object");
  }
  const unbounded =
    jsonBoundsProblem(initialTwin ?? null, "initialTwin in the answer") ?? jsonBoundsProblem(payload ?? null, "payload in the answer");
  if (unbounded) throw failed(unbounded);
  return {
    hub,
    ...(initialTwin !== undefined ? { initialTwin: initialTwin as Record<string, unknown> | null } : {}),
    ...(payload !== undefined ? { payload } : {}),
  };
}

/** The DPS AllocationRequest body. Keys and certificates never leave dpki. */
export function allocationRequestBody(request: AllocationRequest): Record<string, unknown> {
  const { enrollment, current } = request;
  const runtime: Record<string, unknown> = { registrationId: request.registrationId };
  if (current?.assignedHub) runtime.currentIotHubHostName = current.assignedHub;
  if (current?.deviceId) runtime.currentDeviceId = current.deviceId;
  if (request.attestation.method === "symmetricKey") runtime.symmetricKey = {};
  else runtime.x509 = request.attestation.thumbprint ? { clientCertificate: { sha256Thumbprint: request.attestation.thumbprint } } : {};
  if (request.payload !== undefined) runtime.payload = request.payload;
  return {
    [enrollment.kind === "group" ? "enrollmentGroup" : "individualEnrollment"]: dpsEnrollmentShape(enrollment),
    deviceRuntimeContext: runtime,
    linkedHubs: request.hubs.map((h) => h.hostName),
  };
}

/** An enrollment as DPS names its fields, without secrets. */
export function dpsEnrollmentShape(enrollment: EnrollmentRecord): Record<string, unknown> {
  return {
    ...(enrollment.kind === "group" ? { enrollmentGroupId: enrollment.id } : { registrationId: enrollment.id }),
    ...(enrollment.deviceId ? { deviceId: enrollment.deviceId } : {}),
    attestation: { type: enrollment.attestation.type },
    capabilities: enrollment.capabilities,
    initialTwin: enrollment.initialTwin,
    iotHubs: enrollment.allocation.hubs,
    allocationPolicy: enrollment.allocation.policy,
    reprovisionPolicy: enrollment.reprovision,
    provisioningStatus: enrollment.provisioningStatus,
    etag: enrollment.etag,
    createdDateTimeUtc: enrollment.createdAt.toISOString(),
    lastUpdatedDateTimeUtc: enrollment.updatedAt.toISOString(),
  };
}
