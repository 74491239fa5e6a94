import { Command, Option } from "commander";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../ca/key-algorithm.js";
import { databaseUrlOf, openServices } from "../../src/app.js";
import { DEFAULT_CONFIG, writeConfig } from "../../src/config.js";
import { dataDirAt, isInitialised, resolvePassphrase, type DataDir } from "../../src/data-dir.js";
import { AppError } from "../../src/errors.js";
import { actorFor, globalOptions } from "../context.js";
import { createOutput, formatTable, shortDate } from "../output.js";
import { withErrors } from "../run.js";
import type { CaView } from "../../src/core/authority/ca-service.js";

export function initCommand(): Command {
  return new Command("init")
    .description("Create a data directory with a new root CA and issuing intermediate")
    .addOption(new Option("--algorithm <alg>", "CA key algorithm").choices(KEY_ALGORITHMS).default("P-256"))
    .option("--org <name>", "organisation named in the CA subjects", "dpki")
    .option("--public-url <url>", "base URL relying parties use for CRL, OCSP and CA certificates", DEFAULT_CONFIG.publicUrl)
    .option("--dev", "generate a CA key passphrase into the data directory (development only)")
    .addHelpText(
      "after",
      `
The CA keys are encrypted with a passphrase taken from --passphrase-file or DPKI_PASSPHRASE.
For a throwaway development setup, --dev writes a random passphrase to <data-dir>/dev-passphrase.

Examples:
  DPKI_PASSPHRASE=... dpki init --org "Acme Devices" --public-url https://pki.acme.example
  dpki init --dev --data-dir ./dev-ca`,
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
          database: global.database,
        });
        if (result.devPassphrase) {
          out.note(`Development mode: the CA passphrase is stored in ${result.dataDir.devPassphrase}. Do not use this CA in production.`);
        }
        out.print({ dataDir: result.dataDir.root, cas: result.cas }, () => `Created CA in ${result.dataDir.root}\n` + caTable(result.cas));
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
  /** PostgreSQL URL (else env DPKI_DATABASE_URL): the records go there, the keys and config still in the data directory. */
  database?: string;
}

/** Shared by `dpki init` and `dpki quickstart`. Fails before writing anything when it cannot finish. */
export async function initDataDir(args: InitArgs): Promise<{ dataDir: DataDir; cas: CaView[]; devPassphrase: boolean }> {
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
  const services = openServices({ dataDir: dataDir.root, passphrase, create: true, database });
  try {
    if ((await services.ca.list()).length > 0) {
      const where = database ? `The database at ${services.database.where}` : dataDir.root;
      throw new AppError("already_exists", `${where} already holds a CA; refusing to overwrite it`);
    }
    if (useDevPassphrase) writeFileSync(dataDir.devPassphrase, passphrase + "\n", { mode: 0o600 });
    const cas = await services.ca.init({ algorithm: args.algorithm, organization: args.org, actor: args.actor });
    writeConfig(dataDir.root, { ...DEFAULT_CONFIG, publicUrl: args.publicUrl, database: database ? "postgres" : "sqlite" });
    return { dataDir, cas, devPassphrase: useDevPassphrase };
  } finally {
    await services.close();
  }
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
