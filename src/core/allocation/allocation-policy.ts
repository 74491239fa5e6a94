import type { AllocationPolicyName, AttestationUsed, EnrollmentRecord, HubRecord, RegistrationRecord } from "../../store/dps-records.js";

/** Everything a policy may weigh when choosing a hub for one device. */
export interface AllocationRequest {
  /** As the device sent it. */
  registrationId: string;
  enrollment: EnrollmentRecord;
  /** The enrollment's linked hubs that are enabled, in the enrollment's order. */
  hubs: HubRecord[];
  /** The device's registration before this one, if any. */
  current: RegistrationRecord | null;
  /** `payload` from the device's request body, if any. */
  payload: unknown;
  /** The request's source IP address. */
  sourceAddress: string;
  attestation: AttestationUsed;
}

export interface AllocationResult {
  hub: HubRecord;
  /** Replaces the enrollment's initial twin (custom allocation). */
  initialTwin?: Record<string, unknown> | null;
  /** Returned to the device as registrationState.payload (custom allocation). */
  payload?: unknown;
}

/** Chooses a hub. Never throws anything but AllocationError for a refusal it can explain. */
export interface AllocationPolicy {
  readonly name: AllocationPolicyName;
  allocate(request: AllocationRequest): Promise<AllocationResult>;
}

/** DPS registration error codes for failed allocations (registrationState.errorCode). */
export const ALLOCATION_ERROR_CODES = {
  /** No enabled hub is linked to the enrollment. */
  noHub: 400207,
  /** The custom allocation webhook failed, timed out or answered nonsense. */
  customFailed: 400209,
} as const;

/** The device ends up `failed` with this code and message; the service keeps running. */
export class AllocationError extends Error {
  override readonly name = "AllocationError";
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function noHub(request: AllocationRequest): AllocationError {
  return new AllocationError(
    ALLOCATION_ERROR_CODES.noHub,
    `No enabled hub is linked to ${request.enrollment.kind === "group" ? "enrollment group" : "enrollment"} ${request.enrollment.id}`,
  );
}
