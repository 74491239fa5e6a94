import type { KeyProvider } from "../ca/key-provider.js";
import { KeyRouter } from "../ca/key-router.js";
import { CeremonyKeys } from "../ca/offline-key.js";
import { Pkcs11KeyProvider } from "../ca/pkcs11-key-provider.js";
import { SoftwareKeyProvider } from "../ca/software-key-provider.js";
import { resolveTokenPin } from "./token-pin.js";
import { SqliteStore } from "./store/sqlite/sqlite-store.js";
import { SqliteDb } from "./store/sqlite/sqlite-db.js";
import { SqliteWriter } from "./store/sqlite/sqlite-writer.js";
import { WriterThreadStore } from "./store/sqlite/writer-thread-store.js";
import type { Store } from "./store/store.js";
import { systemClock, type Clock } from "./clock.js";
import { readConfig, type DpkiConfig } from "./config.js";
import { dataDirAt, ensureDataDir, isInitialised, resolvePassphrase, type DataDir } from "./data-dir.js";
import { AppError } from "./errors.js";
import { loadPolicySet, type PolicySet } from "./policy/policy-set.js";
import { parseDuration } from "./duration.js";
import { CaService } from "./core/authority/ca-service.js";
import { IssuanceService } from "./core/issuance/issuance-service.js";
import { InlineLeafExecutor } from "./core/issuance/leaf-executor.js";
import { WorkerLeafExecutor } from "./core/issuance/worker-leaf-executor.js";
import { CertificateService } from "./core/issuance/certificate-service.js";
import { CrlService } from "./core/authority/crl-service.js";
import { AuditService } from "./core/audit/audit-service.js";
import { TokenService } from "./core/tokens/token-service.js";
import { SqliteTokenStore } from "./store/sqlite/sqlite-token-store.js";
import { SqliteDpsStore } from "./store/sqlite/sqlite-dps-store.js";
import type { DpsStore } from "./store/dps-store.js";
import { DpsAdminService } from "./core/dps/dps-admin-service.js";
import { DpsService } from "./core/dps/dps-service.js";
import { allocationPolicies } from "./core/allocation/policies.js";
import { PassphraseSecretBox } from "./store/secret-box.js";
import { sqliteSecretSalt } from "./store/sqlite/sqlite-secret-salt.js";
import { publicationUrls, type LifecycleServices } from "./lifecycle.js";
import { pemEncode } from "../ca/pem.js";
import { SqliteLifecycleStore } from "./store/sqlite/sqlite-lifecycle-store.js";
import { CaRotationService } from "./core/authority/ca-rotation-service.js";
import { writeRootPem } from "./root-pem.js";
import { CredentialStatus } from "./core/lifecycle/credential-status.js";
import { OcspService } from "./core/authority/ocsp-service.js";
import { RenewalService } from "./core/lifecycle/renewal-service.js";
import { HubService } from "./core/hub-api/hub-service.js";
import { HubPolicyService } from "./core/hub-api/hub-policy-service.js";
import { CredentialService } from "./core/lifecycle/credential-service.js";
import { LogService } from "./core/audit/log-service.js";
import { SqliteLogTreeStore } from "./store/sqlite/sqlite-log-tree-store.js";
import { AuditContext } from "./core/audit/audit-context.js";
import { RefusalLog } from "./core/audit/refusal-log.js";
import type { AuditDefaults } from "./store/audit-defaults.js";
import { AuditCheckService } from "./core/audit/audit-check-service.js";
import { SqliteAuditCheckStore } from "./store/sqlite/sqlite-audit-check-store.js";
import { LogTiles } from "./core/audit/log-tiles.js";
import { OfflineRootService } from "./core/authority/offline-root-service.js";

/** Everything one dpki instance runs on, wired once. Both the CLI and the HTTP server start here. */
export interface Services {
  dataDir: DataDir;
  config: DpkiConfig;
  policies: PolicySet;
  clock: Clock;
  store: Store;
  ca: CaService;
  issuance: IssuanceService;
  certificates: CertificateService;
  crl: CrlService;
  audit: AuditService;
  /** The verifiable log: Merkle tree, signed checkpoints, proofs. */
  log: LogService;
  /** Where the work in progress came from: the edges run each request in it. */
  auditContext: AuditContext;
  /** Refused attempts, bounded, into the log. */
  refusals: RefusalLog;
  /** The audit checks: findings about certificates, CAs, registrations and tokens. */
  auditCheck: AuditCheckService;
  /** The same log as C2SP tlog-tiles: checkpoint, hash tiles, entry bundles. */
  logTiles: LogTiles;
  tokens: TokenService;
  /** Device provisioning: scopes, hubs, enrollments (admin) and the registration flow. */
  dps: { store: DpsStore; admin: DpsAdminService; registrations: DpsService };
  /** Credential lifecycle: CA rollover and revocation, OCSP, renewal. */
  lifecycle: LifecycleServices;
  /** The online half of the offline-root ceremony (requests out, signed intermediates and root CRLs in). */
  offlineRoot: OfflineRootService;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Data directory; DPKI_HOME or ./.dpki when absent. */
  dataDir?: string;
  passphraseFile?: string;
  /** Overrides the passphrase lookup (tests). */
  passphrase?: string;
  clock?: Clock;
  profilesFile?: string;
  /** PBKDF2 iterations for new CA keys; tests lower it. */
  keyIterations?: number;
  /** Servers and batches: build certificates on a worker per core and commit them on a writer thread, instead of on the calling thread (one-shot commands). */
  workers?: boolean;
  /** Create the data directory and an empty database when missing: only `init` and `quickstart` may. */
  create?: boolean;
  /** Extra PEM CA certificates trusted for custom-allocation webhooks (dpki's roots always are). */
  webhookCa?: string[];
  /** Used instead of config.json (`init`, before it writes the file). */
  config?: DpkiConfig;
  /** An offline root's keys during a ceremony (`init --offline-root`), held in memory only. */
  ceremonyKeys?: CeremonyKeys;
}

export function openServices(options: OpenOptions = {}): Services {
  const dataDir = dataDirAt(options.dataDir);
  // A mistyped --data-dir or DPKI_HOME must not pass for a new, empty CA.
  if (options.create) ensureDataDir(dataDir);
  else if (!isInitialised(dataDir)) throw missingDataDir(dataDir);
  const config = options.config ?? readConfig(dataDir.root);
  const policies = loadPolicySet(options.profilesFile ?? process.env.DPKI_PROFILES);
  const clock = options.clock ?? systemClock;
  const auditContext = new AuditContext("local");
  // The one place every entry gets the policy in force and its source, whichever service appends it.
  const auditDefaults = (): AuditDefaults => ({ policyHash: policies.hash, source: auditContext.source() });
  const sqlite = new SqliteDb(dataDir.database, { auditDefaults, announcePolicyChanges: true });
  // Servers and batches also move certificate commits off the main thread.
  const sqliteStore = new SqliteStore(sqlite);
  const store: Store = options.workers
    ? new WriterThreadStore(sqliteStore, new SqliteWriter(dataDir.database, { announcePolicyChanges: true }), auditDefaults)
    : sqliteStore;
  const refusals = new RefusalLog(
    { store, clock },
    {
      windowMs: parseDuration(config.refusalLogWindow),
      perSource: config.refusalLogPerSource,
      perWindow: config.refusalLogPerWindow,
    },
  );
  const passphrase = () => options.passphrase ?? resolvePassphrase(dataDir, options.passphraseFile);
  const softwareKeys = lazyKeyProvider(
    () => new SoftwareKeyProvider({ dir: dataDir.keys, passphrase: passphrase(), iterations: options.keyIterations }),
  );
  const { keys, rootKeys } = caKeyProviders(config, softwareKeys, options.ceremonyKeys);
  // Device and hub policy keys are sealed under the CA passphrase too; derived only when one is read or written.
  const secrets = new PassphraseSecretBox(passphrase, sqliteSecretSalt(sqlite));
  const lifecycleStore = new SqliteLifecycleStore(sqlite, secrets);
  const ca = new CaService(
    store,
    keys,
    clock,
    publicationUrls(config.publicHttpUrl ?? config.publicUrl),
    () => lifecycleStore.listCrossCertificates(),
    rootKeys,
  );
  const executor = options.workers ? new WorkerLeafExecutor() : new InlineLeafExecutor();
  const certificates = new CertificateService(store, clock);
  const crl = new CrlService(store, lifecycleStore, ca, clock, parseDuration(config.crlValidity), parseDuration(config.crlRefreshBefore), {
    offlineValidityMs: parseDuration(config.offlineCrlValidity),
  });
  certificates.onRevoked.push((cert) => crl.revoked(cert.issuerCaId));
  const issuance = new IssuanceService(store, ca, policies, clock, executor, { context: auditContext, refusals });
  const dpsStore = new SqliteDpsStore(sqlite, secrets);
  const rotation = new CaRotationService(store, lifecycleStore, keys, ca, clock);
  let renewals: RenewalService | undefined;
  // A status check that meets a renewed certificate past its grace has the sweeper persist the revocation.
  const status = new CredentialStatus(lifecycleStore, () => auditContext.detached(() => void renewals?.sweep().catch(() => {})));
  renewals = new RenewalService(
    { lifecycle: lifecycleStore, certificates, issuance, status, clock },
    {
      graceMs: parseDuration(config.renewalGrace),
      expiredWindowMs: config.expiredRenewalWindow === "off" ? null : parseDuration(config.expiredRenewalWindow),
      skewMs: parseDuration(config.clockSkew),
    },
  );
  const ocsp = new OcspService(
    { store, lifecycle: lifecycleStore, keys, ca, rotation, status, clock },
    {
      responseValidityMs: parseDuration(config.ocspValidity),
      maxAgeMs: Math.min(60_000, parseDuration(config.ocspValidity)),
      signerValidityMs: parseDuration(config.ocspSignerValidity),
    },
  );
  rotation.onChange.push(() => ocsp.invalidate());
  // A CA revocation changes its root's CRL (and, cascading, its own).
  rotation.onChange.push(() => crl.revoked());
  // root.pem follows the roots in service; a failed write is not the rotation's failure (serve and `dpki ca root --out` rewrite it).
  rotation.onChange.push(() =>
    writeRootPem(dataDir.root, rotation).then(
      () => undefined,
      () => undefined,
    ),
  );
  const hubs = new HubService(
    { store, dps: dpsStore, lifecycle: lifecycleStore, status, clock },
    { authCacheTtlMs: parseDuration(config.hubAuthCacheTtl), skewMs: parseDuration(config.clockSkew) },
  );
  const hubPolicies = new HubPolicyService({ dps: dpsStore, lifecycle: lifecycleStore, clock });
  const lifecycle: LifecycleServices = {
    store: lifecycleStore,
    rotation,
    status,
    ocsp,
    renewals,
    hubs,
    hubPolicies,
    credentials: new CredentialService({ dps: dpsStore, lifecycle: lifecycleStore, hubPolicies, store, clock }),
    background: (onError) => {
      const timer = setInterval(() => {
        renewals!.sweep().catch((err) => onError("cannot supersede renewed certificates", err));
      }, 30_000);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
  const logTree = new SqliteLogTreeStore(sqlite);
  // The checkpoint key signs the log, not certificates: it stays a software key wherever CA keys live.
  const log = new LogService({ store, tree: logTree, keys: softwareKeys, clock }, logOrigin(config.publicUrl));
  const webhookTrust = async () => [pemEncode("CERTIFICATE", (await ca.root()).certDer), ...(options.webhookCa ?? [])];
  // The one registration flow: the device listener and the management API both use it.
  const registrations = new DpsService({
    store: dpsStore,
    certificates: store,
    issuance,
    ca,
    clock,
    allocation: allocationPolicies({ ca: webhookTrust }),
    skewMs: parseDuration(config.clockSkew),
    refusals,
    lifecycle: {
      effectiveStatus: (cert, now) => status.of(cert, now ?? clock.now()),
      expiredRenewalWindowMs: renewals.expiredWindowMs,
      checkRenewal: (sha256) => renewals!.checkDeviceRenewal(sha256),
      renewed: (event) => renewals!.deviceRenewed(event),
    },
  });
  const tokens = new TokenService(
    new SqliteTokenStore(sqlite),
    clock,
    () => policies.profiles.keys(),
    async (hub, scope) => void (await hubs.resolve({ role: "admin", scope, hub: null }, hub)),
  );
  return {
    dataDir,
    config,
    policies,
    clock,
    store,
    ca,
    issuance,
    certificates,
    crl,
    audit: new AuditService(store, log),
    log,
    auditContext,
    refusals,
    logTiles: new LogTiles({ store, tree: logTree, log }),
    lifecycle,
    offlineRoot: new OfflineRootService(
      { store, keys, ca, rotation, crl, clock },
      { crlValidityMs: parseDuration(config.offlineCrlValidity) },
    ),
    auditCheck: new AuditCheckService({
      checks: new SqliteAuditCheckStore(sqlite),
      store,
      dps: dpsStore,
      tokens,
      rotation,
      policies,
      clock,
    }),
    tokens,
    dps: { store: dpsStore, admin: new DpsAdminService(dpsStore, policies, clock), registrations },
    close: async () => {
      // The counts of refusals not logged one by one are written before the store closes.
      await refusals.close();
      await executor.close();
      await store.close();
      await keys.close();
    },
  };
}

/** The checkpoint origin and log key name: this installation's host, as a schema-less URL. */
function logOrigin(publicUrl: string): string {
  return `${new URL(publicUrl).host}/dpki-log`;
}

export function missingDataDir(dir: DataDir): AppError {
  return new AppError(
    "not_found",
    `No dpki data directory at ${dir.root}: check --data-dir or DPKI_HOME, or create one with \`dpki init\` (or \`dpki quickstart\` for a development CA)`,
  );
}

/**
 * Logs in to the token the settings name and lets go again: `init` checks the module, token
 * and PIN before it creates anything.
 */
export async function checkKeySettings(config: DpkiConfig): Promise<void> {
  const p11 = config.pkcs11;
  if (!p11 || (config.keyProvider !== "pkcs11" && config.rootKeyProvider !== "pkcs11")) return;
  const provider = new Pkcs11KeyProvider({ module: p11.module, tokenLabel: p11.tokenLabel, pin: resolveTokenPin(p11), sessions: 1 });
  await provider.close();
}

/**
 * Where CA keys are made and opened. A key opens where its reference says it lives (file, token,
 * offline), so a root in a file or offline and the issuing key in a token work side by side.
 */
function caKeyProviders(
  config: DpkiConfig,
  software: KeyProvider,
  ceremony: CeremonyKeys | undefined,
): { keys: KeyRouter; rootKeys: KeyProvider } {
  const p11 = config.pkcs11;
  const pkcs11 = p11
    ? lazyKeyProvider(
        () => new Pkcs11KeyProvider({ module: p11.module, tokenLabel: p11.tokenLabel, pin: resolveTokenPin(p11), sessions: p11.sessions }),
      )
    : undefined;
  const offline =
    ceremony ??
    new CeremonyKeys({
      canGenerate: false,
      refusal: 'this installation\'s root key is offline; what needs it is done in the offline-root ceremony (README "Offline root")',
    });
  const named = (name: string): KeyProvider => (name === "pkcs11" ? pkcs11! : name === "offline" ? offline : software);
  const keys = new KeyRouter({ generateIn: named(config.keyProvider), software, pkcs11, offline });
  return { keys, rootKeys: ceremony ?? named(config.rootKeyProvider ?? config.keyProvider) };
}

/** Opens the provider (reads the passphrase or PIN, logs in to a token) only when a key is first used, so read-only commands never need it. */
function lazyKeyProvider(create: () => KeyProvider): KeyProvider {
  let provider: KeyProvider | undefined;
  const get = () => (provider ??= create());
  return {
    generate: (alg, label) => get().generate(alg, label),
    signer: (ref) => get().signer(ref),
    close: async () => provider?.close?.(),
  };
}
