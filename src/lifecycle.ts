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

/** Credential lifecycle: CA rollover and revocation, OCSP, certificate renewal. */
export interface LifecycleServices {
  store: LifecycleStore;
  rotation: CaRotationService;
  status: CredentialStatus;
  ocsp: OcspService;
  renewals: RenewalService;
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

export function openLifecycle(deps: {
  sqlite: SqliteDb;
  store: Store;
  keys: KeyProvider;
  ca: CaService;
  certificates: CertificateService;
  issuance: IssuanceService;
  clock: Clock;
  config: DpkiConfig;
}): LifecycleServices {
  const { config, clock } = deps;
  const store = new SqliteLifecycleStore(deps.sqlite);
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
  return { store, rotation, status, ocsp, renewals };
}
