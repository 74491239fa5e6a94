import { Command, Option } from "commander";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../ca/key-algorithm.js";
import { CeremonyKeys } from "../../ca/offline-key.js";
import { checkKeySettings, databaseUrlOf, openServices } from "../../src/app.js";
import { DEFAULT_CONFIG, KEY_PROVIDERS, validateConfig, writeConfig, type DpkiConfig, type KeyProviderName } from "../../src/config.js";
import { dataDirAt, isInitialised, resolvePassphrase, type DataDir } from "../../src/data-dir.js";
import { AppError } from "../../src/errors.js";
import { actorFor, globalOptions } from "../context.js";
import { createOutput, formatTable, shortDate } from "../output.js";
import { withErrors } from "../run.js";
import type { CaView } from "../../src/core/authority/ca-service.js";
import { rootPassphrase, writeRootKeyFile } from "../root-key-file.js";

export function initCommand(): Command {
  return new Command("init")
    .description("Create a data directory with a new root CA and issuing intermediate")
    .addOption(new Option("--algorithm <alg>", "CA key algorithm").choices(KEY_ALGORITHMS).default("P-256"))
    .option("--org <name>", "organisation named in the CA subjects", "dpki")
    .option("--public-url <url>", "base URL relying parties use for CRL, OCSP and CA certificates", DEFAULT_CONFIG.publicUrl)
    .option("--dev", "generate a CA key passphrase into the data directory (development only)")
    .addOption(
      new Option("--key-provider <provider>", "where CA keys are made: key files, or a PKCS#11 token")
        .choices(KEY_PROVIDERS)
        .default("software"),
    )
    .option("--pkcs11-module <lib>", "PKCS#11 module (shared library) of the token, e.g. /usr/lib/softhsm/libsofthsm2.so")
    .option("--token-label <label>", "label of the PKCS#11 token")
    .option("--pin-file <file>", "file holding the token's user PIN (recorded in config.json as pkcs11.pinFile; else env DPKI_PKCS11_PIN)")
    .addOption(
      new Option("--root-key-provider <provider>", "where the root key is made, if not where --key-provider says").choices(KEY_PROVIDERS),
    )
    .option("--offline-root", "make the root key in memory and export it encrypted to --root-key-out: this data directory never holds it")
    .option("--root-key-out <file>", "with --offline-root: where the encrypted root key goes (outside the data directory)")
    .option("--root-passphrase-file <file>", "with --offline-root: file holding the root key passphrase (else env DPKI_ROOT_PASSPHRASE)")
    .addHelpText(
      "after",
      `
The CA keys are encrypted with a passphrase taken from --passphrase-file or DPKI_PASSPHRASE.
For a throwaway development setup, --dev writes a random passphrase to <data-dir>/dev-passphrase.

With --key-provider pkcs11 the CA keys are generated inside the token (private, sensitive, never
extractable) and only ever used there; the PIN comes from --pin-file or DPKI_PKCS11_PIN and is
never stored. With --offline-root the root signs the first intermediate and its CRL, then leaves
as an encrypted key file for the operator to take away (README "Offline root").

Examples:
  DPKI_PASSPHRASE=... dpki init --org "Acme Devices" --public-url https://pki.acme.example
  dpki init --dev --data-dir ./dev-ca
  dpki init --key-provider pkcs11 --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --token-label dpki --pin-file /etc/dpki/pin
  dpki init --offline-root --root-key-out /media/usb/root-key.pem --root-passphrase-file /media/usb/root-pass`,
    )
    .action(
      withErrors(async (opts, cmd) => {
        const global = globalOptions(cmd);
        const out = createOutput(Boolean(global.json));
        const result = await initDataDir({
          dataDir: dataDirAt(global.dataDir),
          algorithm: opts.algorithm as KeyAlgorithm,
          org: opts.org as string,
          publicUrl: opts.publicUrl as string,
          dev: Boolean(opts.dev),
          passphraseFile: global.passphraseFile,
          actor: actorFor(global),
          keys: keySetup(opts),
          database: global.database,
        });
        if (result.devPassphrase) {
          out.note(`Development mode: the CA passphrase is stored in ${result.dataDir.devPassphrase}. Do not use this CA in production.`);
        }
        if (result.rootKeyFile) {
          out.note(
            `The root key is in ${result.rootKeyFile} (encrypted) and nowhere else: take it to the offline machine; this data directory cannot sign with the root.`,
          );
        }
        out.print(
          { dataDir: result.dataDir.root, cas: result.cas, ...(result.rootKeyFile ? { rootKeyFile: result.rootKeyFile } : {}) },
          () => `Created CA in ${result.dataDir.root}\n` + caTable(result.cas),
        );
      }),
    );
}

export interface InitArgs {
  dataDir: DataDir;
  algorithm: KeyAlgorithm;
  org: string;
  publicUrl: string;
  dev: boolean;
  passphraseFile?: string;
  actor: string;
  /** Where the CA keys live; key files, root included, when absent. */
  keys?: KeySetup;
  /** PostgreSQL URL (else env DPKI_DATABASE_URL): the records go there, the keys and config still in the data directory. */
  database?: string;
}

/** Where `init` puts the CA keys. */
export interface KeySetup {
  keyProvider: KeyProviderName;
  rootKeyProvider?: KeyProviderName;
  pkcs11?: { module: string; tokenLabel: string; pinFile?: string };
  offlineRoot?: { keyOut: string; passphraseFile?: string };
}

/** Shared by `dpki init` and `dpki quickstart`. Fails before writing anything when it cannot finish. */
export async function initDataDir(
  args: InitArgs,
): Promise<{ dataDir: DataDir; cas: CaView[]; devPassphrase: boolean; rootKeyFile?: string }> {
  const { dataDir } = args;
  const useDevPassphrase = args.dev && !args.passphraseFile && !process.env.DPKI_PASSPHRASE && !existsSync(dataDir.devPassphrase);
  // Resolve the passphrase first, so a missing one leaves no half-made data directory behind.
  const passphrase = useDevPassphrase ? randomBytes(32).toString("base64url") : resolvePassphrase(dataDir, args.passphraseFile);
  const database = databaseUrlOf(args);
  if (database && isInitialised(dataDir)) {
    throw new AppError(
      "already_exists",
      `${dataDir.root} already holds a CA in ${dataDir.database}; move it with \`dpki db copy\` instead`,
    );
  }
  const config = { ...initConfig(args), database: database ? ("postgres" as const) : ("sqlite" as const) };
  // The same goes for the token (module, label, PIN) and the offline root's key file and passphrase.
  await checkKeySettings(config);
  const offline = args.keys?.offlineRoot && offlineRootTarget(dataDir, args.keys.offlineRoot, passphrase);
  const ceremonyKeys = offline ? new CeremonyKeys() : undefined;
  const services = openServices({ dataDir: dataDir.root, passphrase, create: true, config, ceremonyKeys, database });
  try {
    if ((await services.ca.list()).length > 0) {
      const where = database ? `The database at ${services.database.where}` : dataDir.root;
      throw new AppError("already_exists", `${where} already holds a CA; refusing to overwrite it`);
    }
    if (useDevPassphrase) writeFileSync(dataDir.devPassphrase, passphrase + "\n", { mode: 0o600 });
    const cas = await services.ca.init({
      algorithm: args.algorithm,
      organization: args.org,
      actor: args.actor,
      // The root key leaves (encrypted) before the CA is stored: no CA without its root key somewhere.
      beforeStore: offline
        ? async ([root]) => writeRootKeyFile(offline.file, ceremonyKeys!.export(root!.keyRef, offline.passphrase))
        : undefined,
    });
    // Its first CRL is signed now, while the root key is here; later ones in the ceremony.
    if (offline) await services.crl.publish(args.actor, cas.find((c) => c.kind === "root")!.id);
    // And the log key is made and certified by the root, the one time an offline root can do it online.
    if (offline) await services.log.checkpoint();
    writeConfig(dataDir.root, config);
    return { dataDir, cas, devPassphrase: useDevPassphrase, ...(offline ? { rootKeyFile: offline.file } : {}) };
  } finally {
    await services.close();
  }
}

function initConfig(args: InitArgs): DpkiConfig {
  const keys = args.keys ?? { keyProvider: "software" };
  return validateConfig(
    {
      ...DEFAULT_CONFIG,
      publicUrl: args.publicUrl,
      keyProvider: keys.keyProvider,
      rootKeyProvider: keys.offlineRoot ? "offline" : (keys.rootKeyProvider ?? null),
      pkcs11: keys.pkcs11
        ? {
            module: keys.pkcs11.module,
            tokenLabel: keys.pkcs11.tokenLabel,
            ...(keys.pkcs11.pinFile ? { pinFile: resolve(keys.pkcs11.pinFile) } : {}),
          }
        : null,
    },
    "dpki init",
  );
}

/** Where the offline root key goes and under which passphrase: checked before anything is made. */
function offlineRootTarget(dataDir: DataDir, offline: NonNullable<KeySetup["offlineRoot"]>, caPassphrase: string) {
  const file = resolve(offline.keyOut);
  const inside = relative(dataDir.root, file);
  if (inside === "" || (!inside.startsWith("..") && !isAbsolute(inside))) {
    throw new AppError(
      "invalid_argument",
      `--root-key-out ${offline.keyOut} is inside the data directory, which must never hold the root key`,
    );
  }
  if (existsSync(file)) throw new AppError("already_exists", `${offline.keyOut} already exists; refusing to overwrite a key file`);
  if (!existsSync(dirname(file))) throw new AppError("not_found", `Cannot write ${offline.keyOut}: no directory ${dirname(file)}`);
  const passphrase = rootPassphrase(offline.passphraseFile);
  if (passphrase === caPassphrase) {
    throw new AppError("invalid_argument", "The root key passphrase must differ from the CA passphrase: the online service holds that one");
  }
  return { file, passphrase };
}

/** The key flags of `dpki init`, checked for what goes together. */
function keySetup(opts: Record<string, unknown>): KeySetup {
  const keyProvider = opts.keyProvider as KeyProviderName;
  const rootKeyProvider = opts.rootKeyProvider as KeyProviderName | undefined;
  const usesToken = keyProvider === "pkcs11" || rootKeyProvider === "pkcs11";
  const tokenFlags = ["pkcs11Module", "tokenLabel", "pinFile"].filter((k) => opts[k] !== undefined);
  if (usesToken && (!opts.pkcs11Module || !opts.tokenLabel)) {
    throw new AppError(
      "bad_request",
      "A pkcs11 key provider needs --pkcs11-module LIB and --token-label LABEL (and --pin-file FILE or DPKI_PKCS11_PIN)",
    );
  }
  if (!usesToken && tokenFlags.length > 0) {
    throw new AppError(
      "bad_request",
      "--pkcs11-module, --token-label and --pin-file go with --key-provider pkcs11 (or --root-key-provider pkcs11)",
    );
  }
  if (opts.offlineRoot && rootKeyProvider) throw new AppError("bad_request", "--offline-root and --root-key-provider exclude each other");
  if (opts.offlineRoot && !opts.rootKeyOut)
    throw new AppError("bad_request", "--offline-root needs --root-key-out FILE: where the encrypted root key goes");
  if (!opts.offlineRoot && (opts.rootKeyOut || opts.rootPassphraseFile)) {
    throw new AppError("bad_request", "--root-key-out and --root-passphrase-file go with --offline-root");
  }
  return {
    keyProvider,
    ...(rootKeyProvider ? { rootKeyProvider } : {}),
    ...(usesToken
      ? {
          pkcs11: {
            module: opts.pkcs11Module as string,
            tokenLabel: opts.tokenLabel as string,
            pinFile: opts.pinFile as string | undefined,
          },
        }
      : {}),
    ...(opts.offlineRoot
      ? { offlineRoot: { keyOut: opts.rootKeyOut as string, passphraseFile: opts.rootPassphraseFile as string | undefined } }
      : {}),
  };
}

export function caTable(cas: CaView[]): string {
  return formatTable(cas, [
    { header: "id", value: (c) => c.id },
    { header: "kind", value: (c) => c.kind },
    // The lifecycle state where known (as `ca status` says it), else the signing status of a fresh CA.
    { header: "state", value: (c) => ("state" in c ? (c as CaView & { state: string }).state : c.status) },
    { header: "algorithm", value: (c) => c.keyAlgorithm },
    { header: "not after", value: (c) => shortDate(c.notAfter) },
    { header: "subject", value: (c) => c.subject },
  ]);
}
