import { existsSync } from "node:fs";
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
import { dataDirAt, ensureDataDir, hasConfig, isInitialised, resolvePassphrase, type DataDir } from "./data-dir.js";
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
import { OperatorService } from "./core/tokens/operator-service.js";
import { StepUpService } from "./core/tokens/step-up-service.js";
import { SqliteTokenStore } from "./store/sqlite/sqlite-token-store.js";
import { SqliteDpsStore } from "./store/sqlite/sqlite-dps-store.js";
import type { DpsStore } from "./store/dps-store.js";
import { DpsAdminService } from "./core/dps/dps-admin-service.js";
import { DpsService } from "./core/dps/dps-service.js";
import { EstEnrollmentService } from "./core/dps/est-enrollment.js";
import { SasOnDemandService } from "./core/dps/sas-on-demand.js";
import { allocationPolicies } from "./core/allocation/policies.js";
import { PassphraseSecretBox, type SecretBox } from "./store/secret-box.js";
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
import type { LifecycleStore } from "./store/lifecycle-store.js";
import type { TokenStore } from "./store/token-store.js";
import type { LogTreeStore } from "./store/log-tree-store.js";
import type { AuditCheckStore } from "./store/audit-check-store.js";
import type { StoreChanges } from "./store/store-changes.js";
import { PgDb } from "./store/postgres/pg-db.js";
import { PgStore } from "./store/postgres/pg-store.js";
import { PgDpsStore } from "./store/postgres/pg-dps-store.js";
import { PgLifecycleStore } from "./store/postgres/pg-lifecycle-store.js";
import { PgTokenStore } from "./store/postgres/pg-token-store.js";
import { PgLogTreeStore } from "./store/postgres/pg-log-tree-store.js";
import { PgAuditCheckStore } from "./store/postgres/pg-audit-check-store.js";
import { PgChangeListener } from "./store/postgres/pg-changes.js";
import { importSnapshot, type CopyReport } from "./store/postgres/pg-import.js";
import { SqliteSnapshot } from "./store/sqlite/sqlite-snapshot.js";

/** Everything one dpki instance runs on, wired once. Both the CLI and the HTTP server start here. */
export interface Services {
  dataDir: DataDir;
  config: DpkiConfig;
  policies: PolicySet;
  clock: Clock;
  store: Store;
  /** Which database the records live in, for banners and messages (never a password). */
  database: { engine: "sqlite" | "postgres"; where: string };
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
  /** Named operators that tokens are minted for; disabling one revokes their tokens. */
  operators: OperatorService;
  /** TOTP step-up: which actions of enrolled operators need a fresh one-time password, and checking it. */
  stepUp: StepUpService;
  /** Device provisioning: scopes, hubs, enrollments (admin) and the registration flow. */
  /** `est` is the second enrollment protocol over the same registration flow. */
  /** `sas` issues hub SAS tokens on demand to devices that authenticate to the device endpoint. */
  dps: { store: DpsStore; admin: DpsAdminService; registrations: DpsService; est: EstEnrollmentService; sas: SasOnDemandService };
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
  /** A PostgreSQL URL (postgres://…) to keep the records in instead of the data directory's SQLite file; else env DPKI_DATABASE_URL. */
  database?: string;
  /** Long-running servers: follow other nodes' changes on a shared database, so caches drop their copy at once. */
  watch?: boolean;
  /** Threads building certificates when `workers` is set; one per core when absent (nodes sharing a host split the cores). */
  workerThreads?: number;
}

export function openServices(options: OpenOptions = {}): Services {
  const dataDir = dataDirAt(options.dataDir);
  const databaseUrl = databaseUrlOf(options);
  // A mistyped --data-dir or DPKI_HOME must not pass for a new, empty CA.
  if (options.create) ensureDataDir(dataDir);
  else requireInitialised(dataDir, databaseUrl);
  const config = options.config ?? readConfig(dataDir.root);
  const policies = loadPolicySet(options.profilesFile ?? process.env.DPKI_PROFILES);
  const clock = options.clock ?? systemClock;
  const auditContext = new AuditContext("local");
  // The one place every entry gets the policy in force and its source, whichever service appends it.
  const auditDefaults = (): AuditDefaults => ({ policyHash: policies.hash, source: auditContext.source() });
  const passphrase = () => options.passphrase ?? resolvePassphrase(dataDir, options.passphraseFile);
  const backend = databaseUrl
    ? postgresBackend(databaseUrl, passphrase, auditDefaults, Boolean(options.watch))
    : sqliteBackend(dataDir, passphrase, auditDefaults, Boolean(options.workers));
  const { store, lifecycle: lifecycleStore } = backend;
  const refusals = new RefusalLog(
    { store, clock },
    {
      windowMs: parseDuration(config.refusalLogWindow),
      perSource: config.refusalLogPerSource,
      perWindow: config.refusalLogPerWindow,
    },
  );
  const softwareKeys = lazyKeyProvider(
    () => new SoftwareKeyProvider({ dir: dataDir.keys, passphrase: passphrase(), iterations: options.keyIterations }),
  );
  const { keys, rootKeys } = caKeyProviders(config, softwareKeys, options.ceremonyKeys);
  const ca = new CaService(
    store,
    keys,
    clock,
    publicationUrls(config.publicHttpUrl ?? config.publicUrl),
    () => lifecycleStore.listCrossCertificates(),
    rootKeys,
  );
  const executor = options.workers ? new WorkerLeafExecutor(options.workerThreads) : new InlineLeafExecutor();
  const certificates = new CertificateService(store, clock);
  const crl = new CrlService(store, lifecycleStore, ca, clock, parseDuration(config.crlValidity), parseDuration(config.crlRefreshBefore), {
    offlineValidityMs: parseDuration(config.offlineCrlValidity),
  });
  certificates.onRevoked.push((cert) => crl.revoked(cert.issuerCaId));
  const issuance = new IssuanceService(store, ca, policies, clock, executor, { context: auditContext, refusals });
  const dpsStore = backend.dps;
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
  const logTree = backend.logTree;
  // The checkpoint key signs the log, not certificates: it stays a software key wherever CA keys live.
  const log = new LogService(
    { store, tree: logTree, keys: softwareKeys, clock, certifyKey: (spki, certified) => ca.certifyLogKey(spki, certified) },
    logOrigin(config.publicUrl),
  );
  // Another node rotated or revoked a CA, revoked a certificate or changed hubs: drop what this one holds.
  backend.changes?.onChange((change) => {
    if (change === "ca") {
      ca.refreshActive();
      for (const listener of rotation.onChange) void Promise.resolve(listener()).catch(() => {});
    }
    if (change === "revocation") crl.revoked();
    if (change === "dps-config") hubs.forgetHubs();
  });
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
    backend.tokens,
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
    database: { engine: backend.engine, where: backend.where },
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
      checks: backend.auditChecks,
      store,
      dps: dpsStore,
      tokens,
      rotation,
      policies,
      clock,
    }),
    tokens,
    operators: new OperatorService(backend.tokens, clock, backend.secrets),
    stepUp: new StepUpService(backend.tokens, backend.secrets, clock, config.totpRequiredFor),
    dps: {
      store: dpsStore,
      admin: new DpsAdminService(dpsStore, policies, clock),
      registrations,
      est: new EstEnrollmentService({ registrations, dps: dpsStore, ca, clock }),
      sas: new SasOnDemandService({ store, dps: dpsStore, lifecycle: lifecycleStore, registrations, hubs, clock, refusals }),
    },
    close: async () => {
      // The counts of refusals not logged one by one are written before the store closes.
      await refusals.close();
      await executor.close();
      await backend.close();
      await keys.close();
    },
  };
}

/** The stores over one database, and how to close it: the only place an engine is chosen. */
interface Backend {
  engine: "sqlite" | "postgres";
  where: string;
  store: Store;
  dps: DpsStore;
  lifecycle: LifecycleStore;
  tokens: TokenStore;
  logTree: LogTreeStore;
  auditChecks: AuditCheckStore;
  /** Seals secrets at rest under the CA passphrase (device keys, hub policies, TOTP secrets). */
  secrets: SecretBox;
  changes?: StoreChanges;
  close(): Promise<void>;
}

function sqliteBackend(dataDir: DataDir, passphrase: () => string, auditDefaults: () => AuditDefaults, workers: boolean): Backend {
  const sqlite = new SqliteDb(dataDir.database, { auditDefaults, announcePolicyChanges: true });
  // Servers and batches also move certificate commits off the main thread.
  const sqliteStore = new SqliteStore(sqlite);
  const store: Store = workers
    ? new WriterThreadStore(sqliteStore, new SqliteWriter(dataDir.database, { announcePolicyChanges: true }), auditDefaults)
    : sqliteStore;
  // Device and hub policy keys are sealed under the CA passphrase too; derived only when one is read or written.
  const secrets = new PassphraseSecretBox(passphrase, sqliteSecretSalt(sqlite));
  return {
    engine: "sqlite",
    where: dataDir.database,
    store,
    dps: new SqliteDpsStore(sqlite, secrets),
    lifecycle: new SqliteLifecycleStore(sqlite, secrets),
    tokens: new SqliteTokenStore(sqlite),
    secrets,
    logTree: new SqliteLogTreeStore(sqlite),
    auditChecks: new SqliteAuditCheckStore(sqlite),
    close: () => store.close(),
  };
}

/** PostgreSQL: one pool per process; the driver is asynchronous, so commits never block the main thread. */
function postgresBackend(url: string, passphrase: () => string, auditDefaults: () => AuditDefaults, watch: boolean): Backend {
  const pg = new PgDb(url, { auditDefaults, announcePolicyChanges: true });
  const secrets = new PassphraseSecretBox(passphrase, () => pg.secretSalt());
  const changes = watch ? new PgChangeListener(url) : undefined;
  return {
    engine: "postgres",
    where: pg.where,
    store: new PgStore(pg),
    dps: new PgDpsStore(pg, secrets),
    lifecycle: new PgLifecycleStore(pg, secrets),
    tokens: new PgTokenStore(pg),
    secrets,
    logTree: new PgLogTreeStore(pg),
    auditChecks: new PgAuditCheckStore(pg),
    changes,
    close: async () => {
      await changes?.close();
      await pg.close();
    },
  };
}

/** The checkpoint origin and log key name: this installation's host, as a schema-less URL. */
function logOrigin(publicUrl: string): string {
  return `${new URL(publicUrl).host}/dpki-log`;
}

/** Applies the pending migrations of the installation's database (both engines migrate at start too). */
export async function migrateDatabase(options: {
  dataDir?: string;
  database?: string;
}): Promise<{ engine: "sqlite" | "postgres"; where: string; applied: string[] }> {
  const dataDir = dataDirAt(options.dataDir);
  const url = databaseUrlOf(options);
  requireInitialised(dataDir, url);
  if (url) {
    const pg = new PgDb(url);
    try {
      return { engine: "postgres", where: pg.where, applied: await pg.ready() };
    } finally {
      await pg.close();
    }
  }
  const sqlite = new SqliteDb(dataDir.database);
  sqlite.close();
  return { engine: "sqlite", where: dataDir.database, applied: sqlite.migrated };
}

/**
 * Copies a SQLite database into an empty PostgreSQL one and verifies the copy (see
 * importSnapshot). The source is read in one snapshot; it is left as it was.
 */
export async function copyDatabase(
  fromFile: string,
  toUrl: string,
  onTable?: (table: string, rows: number) => void,
): Promise<CopyReport & { from: string; to: string }> {
  if (!existsSync(fromFile)) throw new AppError("not_found", `No SQLite database at ${fromFile}`);
  const url = databaseUrlOf({ database: toUrl })!;
  const sqlite = new SqliteDb(fromFile);
  const snapshot = new SqliteSnapshot(sqlite);
  const pg = new PgDb(url);
  try {
    return { ...(await importSnapshot(pg, snapshot, onTable)), from: fromFile, to: pg.where };
  } finally {
    snapshot.close();
    sqlite.close();
    await pg.close();
  }
}

/** --database, else DPKI_DATABASE_URL; undefined for the data directory's SQLite file. */
export function databaseUrlOf(options: { database?: string }): string | undefined {
  const url = options.database ?? process.env.DPKI_DATABASE_URL;
  if (url === undefined || url === "") return undefined;
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new AppError(
      "invalid_argument",
      "--database takes a PostgreSQL URL (postgres://user@host:port/database); leave it out for SQLite",
    );
  }
  return url;
}

/**
 * Throws unless the data directory holds an installation whose records are where the command
 * looks: its SQLite database, or with a PostgreSQL URL its config.json saying postgres (keys and
 * config stay in the directory either way). not_found for no installation, config_error for
 * records kept in the other engine.
 */
export function requireInitialised(dataDir: DataDir, databaseUrl: string | undefined): void {
  const engine = hasConfig(dataDir) ? readConfig(dataDir.root).database : undefined;
  if (databaseUrl) {
    if (!engine) throw missingDataDir(dataDir);
    // Records in two places would split the installation: the file's must be moved, not left behind.
    if (engine === "sqlite" && isInitialised(dataDir)) {
      throw new AppError(
        "config_error",
        `The data directory ${dataDir.root} keeps its records in ${dataDir.database}, not PostgreSQL: move them with \`dpki db copy\`, or leave out --database / DPKI_DATABASE_URL`,
      );
    }
    return;
  }
  if (engine === "postgres") {
    throw new AppError(
      "config_error",
      `The data directory ${dataDir.root} keeps its records in PostgreSQL: pass --database postgres://… or set DPKI_DATABASE_URL`,
    );
  }
  if (!isInitialised(dataDir)) throw missingDataDir(dataDir);
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
