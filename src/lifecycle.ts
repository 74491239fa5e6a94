import type { KeyProvider } from "../ca/key-provider.js";
import type { PublicationUrls } from "../ca/ca-certificates.js";
import type { Clock } from "./clock.js";
import type { DpkiConfig } from "./config.js";
import { parseDuration } from "./duration.js";
import type { Store } from "./store/store.js";
import type { CaRecord } from "./store/records.js";
import type { LifecycleStore } from "./store/lifecycle-store.js";
import type { SqliteDb } from "./store/sqlite/sqlite-db.js";
import { SqliteLifecycleStore } from "./store/sqlite/sqlite-lifecycle-store.js";
import type { CaService } from "./core/ca-service.js";
import type { CertificateService } from "./core/certificate-service.js";
import type { IssuanceService } from "./core/issuance-service.js";
import { CaRotationService } from "./core/ca-rotation-service.js";
import { CredentialStatus } from "./core/credential-status.js";
import { OcspService } from "./core/ocsp-service.js";
import { RenewalService } from "./core/renewal-service.js";
import { HubService } from "./core/hub-service.js";
import { CredentialService } from "./core/credential-service.js";
import type { DpsStore } from "./store/dps-store.js";
import type { SecretBox } from "./store/secret-box.js";
import type { DpsLifecycleHooks } from "./core/dps-service.js";

/** Credential lifecycle: CA rollover and revocation, OCSP, certificate renewal. */
export interface LifecycleServices {
  store: LifecycleStore;
  rotation: CaRotationService;
  status: CredentialStatus;
  ocsp: OcspService;
  renewals: RenewalService;
  /** Hub policies and the hub API (device view, device-auth, change feed). */
  hubs: HubService;
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
 * certificate keeps pointing at its own issuer's CRL and certificate after a rollover.
 */
export function publicationUrls(publicUrl: string): (ca: CaRecord) => PublicationUrls {
  return (ca) => ({
    crl: `${publicUrl}/v1/ca/${ca.id}/crl`,
    ocsp: `${publicUrl}/ocsp`,
    caIssuers: `${publicUrl}/v1/ca/${ca.id}/cert.der`,
  });
}

/** What the DPS registration flow needs for renewal through the device endpoint. */
export function dpsLifecycleHooks(lifecycle: LifecycleServices, clock: Clock): DpsLifecycleHooks {
  return {
    effectiveStatus: (cert, now) => lifecycle.status.of(cert, now ?? clock.now()),
    expiredRenewalWindowMs: lifecycle.renewals.expiredWindowMs,
    checkRenewal: (sha256) => lifecycle.renewals.checkDeviceRenewal(sha256),
    renewed: (event) => lifecycle.renewals.deviceRenewed(event),
  };
}

export function openLifecycle(deps: {
  sqlite: SqliteDb;
  store: Store;
  keys: KeyProvider;
  ca: CaService;
  certificates: CertificateService;
  issuance: IssuanceService;
  dps: DpsStore;
  secrets: SecretBox;
  clock: Clock;
  config: DpkiConfig;
}): LifecycleServices {
  const { config, clock } = deps;
  const store = new SqliteLifecycleStore(deps.sqlite, deps.secrets);
  const rotation = new CaRotationService(deps.store, store, deps.keys, deps.ca, clock);
  let renewals: RenewalService | undefined;
  // A status check that meets a renewed certificate past its grace has the sweeper persist the revocation.
  const status = new CredentialStatus(store, () => void renewals?.sweep().catch(() => {}));
  renewals = new RenewalService(
    { lifecycle: store, certificates: deps.certificates, issuance: deps.issuance, status, clock },
    {
      graceMs: parseDuration(config.renewalGrace),
      expiredWindowMs: config.expiredRenewalWindow === "off" ? null : parseDuration(config.expiredRenewalWindow),
      skewMs: parseDuration(config.clockSkew),
    },
  );
  const ocsp = new OcspService(
    { store: deps.store, lifecycle: store, keys: deps.keys, ca: deps.ca, rotation, status, clock },
    {
      responseValidityMs: parseDuration(config.ocspValidity),
      maxAgeMs: Math.min(60_000, parseDuration(config.ocspValidity)),
      signerValidityMs: parseDuration(config.ocspSignerValidity),
    },
  );
  rotation.onChange.push(() => ocsp.invalidate());
  const hubs = new HubService(
    { store: deps.store, dps: deps.dps, lifecycle: store, status, clock },
    { authCacheTtlMs: parseDuration(config.hubAuthCacheTtl), skewMs: parseDuration(config.clockSkew) },
  );
  const credentials = new CredentialService({ dps: deps.dps, lifecycle: store, hubs, store: deps.store, clock });
  const background = (onError: (what: string, err: unknown) => void) => {
    const timer = setInterval(() => {
      renewals!.sweep().catch((err) => onError("cannot supersede renewed certificates", err));
    }, 30_000);
    timer.unref();
    return () => clearInterval(timer);
  };
  return { store, rotation, status, ocsp, renewals, hubs, credentials, background };
}
