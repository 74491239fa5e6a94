import type { CaRevocationResult, CaStatusView, RotationResult } from "./core/ca-rotation-service.js";
import type { CertificateView } from "./core/certificate-view.js";

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

export interface RenewedView {
  certificate: CertificateView;
  pem: string;
  /** Issuer first, root last. */
  chainPem: string;
  /** The certificate renewed, and when it stops being good (revoked as superseded). */
  previous: { serial: string; sha256: string; supersededAt: string };
  /** The old certificate had expired: a flagged renewal inside the configured window. */
  expiredRenewal: boolean;
}

/**
 * Credential-lifecycle operations as plain JSON-able data: the CLI calls them, backed by the
 * local services or (with --server) by the HTTP API, so both print the same.
 */
export interface LifecycleOperations {
  caStatus(): Promise<CaStatusView[]>;
  caRotate(input: RotateInput): Promise<RotationResult>;
  caRevoke(caId: string, reason: string): Promise<CaRevocationResult>;
  /** PEM of the roots in service (the active issuer's first). */
  caTrustBundlePem(): Promise<string>;
  certRenew(id: string, input: RenewInput): Promise<RenewedView>;
}
