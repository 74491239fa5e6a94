import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { EnrollmentRecord } from "../../store/dps-records.js";
import type { DeviceRegistration, LifecycleStore } from "../../store/lifecycle-store.js";
import type { DeviceAuthReason, HubDeviceView } from "./hub-api-types.js";

/** Whether a device may connect at all, read live from its registration and enrollment. */
export interface DeviceStanding {
  enrollment: EnrollmentRecord | null;
  /** Why it may not, or null. */
  refusal: HubDeviceView["disabledReason"];
}

/** Whether the device's registration and enrollment let it connect at all. */
export async function deviceStanding(deps: { dps: DpsStore; lifecycle: LifecycleStore }, reg: DeviceRegistration): Promise<DeviceStanding> {
  const [enrollment, block] = await Promise.all([
    deps.dps.getEnrollment(reg.idScope, reg.enrollmentKind, reg.enrollmentId),
    deps.lifecycle.enrollmentBlock(reg.idScope, reg.enrollmentKind, reg.enrollmentId),
  ]);
  let refusal: HubDeviceView["disabledReason"] = null;
  if (block) refusal = "enrollmentRevoked";
  else if (!enrollment) refusal = "enrollmentDeleted";
  else if (enrollment.provisioningStatus !== "enabled") refusal = "enrollmentDisabled";
  else if (reg.status !== "assigned") refusal = "registrationDisabled";
  return { enrollment, refusal };
}

export function refusalReason(refusal: NonNullable<HubDeviceView["disabledReason"]>): DeviceAuthReason {
  return refusal === "enrollmentRevoked" ? "revoked" : "disabled";
}

export function refusalMessage(refusal: NonNullable<HubDeviceView["disabledReason"]>, reg: DeviceRegistration): string {
  const what = `${reg.enrollmentKind === "group" ? "enrollment group" : "enrollment"} ${reg.enrollmentId}`;
  switch (refusal) {
    case "enrollmentRevoked":
      return `The device's ${what} was revoked`;
    case "enrollmentDeleted":
      return `The device's ${what} no longer exists`;
    case "enrollmentDisabled":
      return `The device's ${what} is disabled`;
    case "registrationDisabled":
      return `The device's registration is ${reg.status}`;
  }
}

export function authenticationOf(enrollment: EnrollmentRecord | null, reg: DeviceRegistration): HubDeviceView["authentication"] {
  const att = enrollment?.attestation;
  if (!att) return { type: reg.attestation.method, thumbprints: [] };
  if (att.type === "symmetricKey") return { type: "symmetricKey", thumbprints: [] };
  if ("thumbprints" in att) return { type: "x509", thumbprints: [...att.thumbprints] };
  return {
    type: "x509",
    thumbprints: att.caCertificates.map((pem) => ParsedCertificate.parse(pem).sha256),
  };
}
