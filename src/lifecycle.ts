import type { PublicationUrls } from "../ca/ca-certificates.js";
import type { CaRecord } from "./store/records.js";
import type { LifecycleStore } from "./store/lifecycle-store.js";
import type { CaRotationService } from "./core/authority/ca-rotation-service.js";
import type { CredentialStatus } from "./core/lifecycle/credential-status.js";
import type { OcspService } from "./core/authority/ocsp-service.js";
import type { RenewalService } from "./core/lifecycle/renewal-service.js";
import type { HubService } from "./core/hub-api/hub-service.js";
import type { HubPolicyService } from "./core/hub-api/hub-policy-service.js";
import type { CredentialService } from "./core/lifecycle/credential-service.js";

/** Credential lifecycle: CA rollover and revocation, OCSP, certificate renewal. */
export interface LifecycleServices {
  store: LifecycleStore;
  rotation: CaRotationService;
  status: CredentialStatus;
  ocsp: OcspService;
  renewals: RenewalService;
  /** The hub API: device view, device-auth, change feed. */
  hubs: HubService;
  /** Hubs' shared access policies (operators manage them; their tokens authenticate hub services). */
  hubPolicies: HubPolicyService;
  /** Key rotation, enrollment revocation, SAS tokens from stored keys. */
  credentials: CredentialService;
  /**
   * Server upkeep: supersedes renewed certificates whose grace has ended, every half minute
   * (status checks already treat them as revoked; this writes it down for the CRL). OCSP
   * responder certificates are issued on first use and renewed as they age. Returns the stop function.
   */
  background(onError: (what: string, err: unknown) => void): () => void;
}

/**
 * Where relying parties reach one issuer's CRL, OCSP responder and certificate. Per CA, so a
 * certificate keeps pointing at its own issuer's CRL and certificate after a rollover. Under
 * publicHttpUrl when set (the plain-HTTP listener), else publicUrl.
 */
export function publicationUrls(publicUrl: string): (ca: CaRecord) => PublicationUrls {
  return (ca) => ({
    crl: `${publicUrl}/v1/ca/${ca.id}/crl`,
    ocsp: `${publicUrl}/ocsp`,
    caIssuers: `${publicUrl}/v1/ca/${ca.id}/cert.der`,
  });
}
