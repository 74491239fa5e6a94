/** What the hub API speaks: who calls it, the hub it resolved, and the answers it gives. Never keys. */
import type { HubChangeKind } from "../../store/lifecycle-store.js";

/** Who is asking: an API principal's role, and for hub tokens the one hub (and scope) they act for. */
export interface HubCaller {
  role: string;
  scope: string | null;
  hub: string | null;
}

/** A hub as the hub API resolved it. */
export interface ResolvedHub {
  idScope: string;
  name: string;
  hostName: string;
  enabled: boolean;
}

export interface HubDeviceCertificate {
  serial: string;
  sha256: string;
  sha1: string;
  notBefore: string;
  notAfter: string;
  status: "good" | "revoked" | "expired";
  revokedAt: string | null;
  revocationReason: string | null;
  /** When this certificate stops being good because it was renewed (grace period end), or null. */
  supersededAt: string | null;
}

export interface HubDeviceView {
  hub: string;
  hostName: string;
  deviceId: string;
  registrationId: string;
  enrollment: { kind: "individual" | "group"; id: string; provisioningStatus: "enabled" | "disabled" | null };
  /** The registration's DPS status. */
  status: "assigned" | "failed" | "disabled";
  /** Whether the device may connect now; when not, `disabledReason` says why. */
  enabled: boolean;
  disabledReason: "registrationDisabled" | "enrollmentDisabled" | "enrollmentRevoked" | "enrollmentDeleted" | null;
  authentication: {
    type: "symmetricKey" | "x509";
    /** x509: SHA-256 thumbprints of the enrolled device certificates (individual) or signing CAs (group). */
    thumbprints: string[];
  };
  /** Certificates dpki issued to the device (at registration and renewals), newest first. */
  certificates: HubDeviceCertificate[];
  assignedAt: string;
  updatedAt: string;
}

export type DeviceAuthReason =
  | "ok"
  | "malformed"
  | "unknown_device"
  | "disabled"
  | "revoked"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "resource"
  | "key_name"
  | "rights"
  | "wrong_method"
  | "subject"
  | "untrusted";

export interface DeviceAuthVerdict {
  allow: boolean;
  reason: DeviceAuthReason;
  message: string;
  deviceId: string | null;
  registrationId: string | null;
  /** How long the hub may reuse this answer; 0 for refusals (a later attempt may succeed). */
  cacheTtlSeconds: number;
  credential?:
    | { type: "sas"; keyName: string | null; keyIndex: number; expiresAt: string }
    | { type: "x509"; sha256: string; serial: string; notAfter: string; issuedByDpki: boolean };
}

export interface DeviceAuthRequest {
  deviceId?: string;
  moduleId?: string;
  /** `SharedAccessSignature sr=…&sig=…[&skn=…]&se=…` exactly as the device sent it. */
  sasToken?: string;
  /** The client certificate chain from the TLS handshake: base64 DER, leaf first. */
  certificateChain?: string[];
}

export interface HubChangeView {
  /** Pass back as `after` to continue after this change. */
  cursor: string;
  at: string;
  kind: HubChangeKind;
  deviceId: string | null;
  registrationId: string | null;
  details: Record<string, unknown>;
}

export interface HubChangesPage {
  items: HubChangeView[];
  /** Where to continue from: the last item's cursor, or the one given when nothing is new. Never null. */
  nextCursor: string;
  /** More changes are waiting beyond this page. */
  more: boolean;
}

export interface HubServiceOptions {
  /** Longest time a hub may cache an `allow`. */
  authCacheTtlMs: number;
  skewMs: number;
}
