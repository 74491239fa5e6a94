import type { CaRevocationResult, CaStatusView, RotationResult } from "../core/authority/ca-rotation-service.js";
import type { CertificateView } from "../core/issuance/certificate-view.js";
import type {
  EnrollmentRevocationResult,
  KeyRotationResult,
  MintedTokenView,
  MintRequest,
  RotationChange,
  RotationTarget,
} from "../core/lifecycle/credential-service.js";
import type { HubPolicyView, HubPolicyWithKeys } from "../core/hub-api/hub-policy-service.js";
import type { EnrollmentKind } from "../store/dps-records.js";
import type { SasPolicyChange, SasPolicyView } from "../core/dps/sas-on-demand.js";

export interface RotateInput {
  /** Also make a new root, cross-signed by the current one. */
  newRoot?: boolean;
  /** Key algorithm of the new CA keys (default: the current issuer's). */
  algorithm?: string;
}

export interface RenewInput {
  /** PEM, or base64 DER. */
  csr: string;
  /** Base64 signature by the old certificate's key over the new CSR's DER (expired certificates with a new key). */
  proof?: string;
}

export interface MintInput {
  /** Lifetime from now, e.g. "1h" (default 1h). */
  ttl?: string;
  /** Absolute expiry, seconds since the epoch (instead of ttl). */
  expiry?: number;
  /** Sign with the secondary key. */
  secondary?: boolean;
}

export interface RenewedView {
  certificate: CertificateView;
  pem: string;
  /** The issuing CA and any cross certificates to older roots in service (no self-signed root). */
  chainPem: string;
  /** The certificate renewed, and when it stops being good (revoked as superseded). */
  previous: { serial: string; sha256: string; supersededAt: string };
  /** The old certificate had expired: a flagged renewal inside the configured window. */
  expiredRenewal: boolean;
}

/** The part of Operations for credential lifecycles: CA rollover, renewal, hub policies, key rotation, SAS tokens. */
export interface LifecycleOperations {
  caRotate(input: RotateInput): Promise<RotationResult>;
  caRevoke(caId: string, reason: string): Promise<CaRevocationResult>;
  /** Takes a root out of service (out of root.pem); refused while it still anchors an active or serving intermediate. */
  caRetire(caId: string): Promise<CaStatusView>;
  /** PEM of the roots in service (the active issuer's first): root.pem. */
  caTrustBundlePem(): Promise<string>;
  certRenew(id: string, input: RenewInput): Promise<RenewedView>;

  /** A hub's shared access policies; both keys are in the creation result only. */
  hubPolicyCreate(idScope: string, hub: string, input: { name: string; rights: string[] }): Promise<HubPolicyWithKeys>;
  hubPolicyList(idScope: string, hub: string): Promise<HubPolicyView[]>;
  hubPolicyGet(idScope: string, hub: string, name: string): Promise<HubPolicyView>;
  hubPolicyUpdate(idScope: string, hub: string, name: string, input: { rights: string[] }): Promise<HubPolicyView>;
  hubPolicyDelete(idScope: string, hub: string, name: string): Promise<void>;

  /** Regenerates the named key (returned once) or swaps primary and secondary. */
  keyRotate(target: RotationTarget, change: RotationChange): Promise<KeyRotationResult>;
  /** Revokes an individual enrollment or a group with every credential under it. */
  enrollmentRevoke(idScope: string, kind: EnrollmentKind, id: string, reason?: string): Promise<EnrollmentRevocationResult>;
  /** A SAS token from stored keys (the keys themselves are never returned). */
  sasMint(idScope: string, request: MintRequest, input: MintInput): Promise<MintedTokenView>;
  /** The scope's policy for SAS tokens issued on demand to devices (the defaults while none was set). */
  sasPolicyGet(idScope: string): Promise<SasPolicyView>;
  /** Changes the named settings of the scope's SAS policy; logged. */
  sasPolicySet(idScope: string, change: SasPolicyChange): Promise<SasPolicyView>;
}
