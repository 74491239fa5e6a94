import { Command } from "commander";
import { resolve } from "node:path";
import { copyDatabase, databaseUrlOf, migrateDatabase } from "../../src/app.js";
import { readConfig, writeConfig } from "../../src/config.js";
import { dataDirAt, hasConfig } from "../../src/data-dir.js";
import { AppError } from "../../src/errors.js";
import { globalOptions } from "../context.js";
import { createOutput, formatRecord } from "../output.js";
import { withErrors } from "../run.js";

export function dbCommand(): Command {
  const db = new Command("db").description("The database the records live in: migrations, moving to PostgreSQL");

  db.command("migrate")
    .description("Apply the schema migrations this dpki knows and the database lacks (serve and every command also do it at start)")
    .addHelpText(
      "after",
      `
Migrations are named and applied once each, in order; nodes starting together on one
PostgreSQL database take turns. A database migrated by a newer dpki is refused (exit 78).

Examples:
  dpki db migrate
  DPKI_DATABASE_URL=postgres://dpki@db.example/dpki dpki db migrate`,
    )
    .action(
      withErrors(async (_opts, cmd) => {
        const global = globalOptions(cmd);
        refuseRemote(cmd);
        const out = createOutput(Boolean(global.json));
        const result = await migrateDatabase({ dataDir: global.dataDir, database: global.database });
        const where = result.engine === "postgres" ? `PostgreSQL at ${result.where}` : result.where;
        out.print(result, () =>
          result.applied.length ? `Applied to ${where}:\n${result.applied.map((n) => `  ${n}`).join("\n")}\n` : `${where} is up to date\n`,
        );
      }),
    );

  db.command("copy")
    .description("Copy an installation's SQLite database into an empty PostgreSQL database and verify the copy")
    .requiredOption("--from <source>", "the SQLite database: sqlite:PATH (e.g. sqlite:.dpki/dpki.db)")
    .option("--to <url>", "the PostgreSQL database: postgres://user@host:port/db (default --database / DPKI_DATABASE_URL)")
    .addHelpText(
      "after",
      `
Stop every dpki using the SQLite file first: the copy reads one snapshot of it, and later
writes there would not be copied. The copy is one transaction (all or nothing) into a
database that must be empty (run it on a fresh database; migrations are applied). It then
checks the copy: the same rows per table, the issuance log verifying entry by entry to the
same head, the latest signed checkpoint's root recomputed from the copied Merkle tree, and
every certificate's serial, thumbprint and status. The SQLite file is left as it was.

When the source is this data directory's dpki.db, its config.json is switched to PostgreSQL,
so a command run without --database / DPKI_DATABASE_URL says so instead of using the old file.

Example:
  dpki db copy --from sqlite:.dpki/dpki.db --to postgres://dpki@db.example/dpki
  DPKI_DATABASE_URL=postgres://dpki@db.example/dpki dpki serve`,
    )
    .action(
      withErrors(async (opts, cmd) => {
        const global = globalOptions(cmd);
        refuseRemote(cmd);
        const out = createOutput(Boolean(global.json));
        const from = sqlitePath(opts.from as string);
        const to = databaseUrlOf({ database: (opts.to as string | undefined) ?? global.database });
        if (!to)
          throw new AppError("invalid_argument", "Name the PostgreSQL database: --to postgres://… (or --database / DPKI_DATABASE_URL)");
        const report = await copyDatabase(from, to, (table, rows) => out.note(`copied ${table}: ${rows} rows`));
        const dataDir = dataDirAt(global.dataDir);
        let switched = false;
        if (resolve(from) === dataDir.database && hasConfig(dataDir)) {
          writeConfig(dataDir.root, { ...readConfig(dataDir.root), database: "postgres" });
          switched = true;
        }
        const rows = Object.values(report.tables).reduce((a, b) => a + b, 0);
        out.print({ ...report, configSwitched: switched }, () =>
          formatRecord([
            ["from", report.from],
            ["to", `PostgreSQL at ${report.to}`],
            ["rows", rows],
            ["certificates", report.tables.certificates ?? 0],
            ["log entries", `${report.log.entries}, verified to head ${report.log.head.slice(0, 16)}…`],
            ["checkpoint", report.log.checkpoint === null ? "none yet" : `size ${report.log.checkpoint}, root matches the copied tree`],
            ["config", switched ? `${dataDir.root}/config.json now says postgres: pass --database or set DPKI_DATABASE_URL` : "unchanged"],
          ]),
        );
      }),
    );
  return db;
}

function sqlitePath(source: string): string {
  const path = source.startsWith("sqlite:") ? source.slice("sqlite:".length) : source;
  if (!path || /^[a-z]+:\/\//i.test(path)) throw new AppError("invalid_argument", `--from takes sqlite:PATH, not "${source}"`);
  return resolve(path);
}

function refuseRemote(cmd: Command): void {
  if (globalOptions(cmd).server ?? process.env.DPKI_SERVER)
    throw new AppError("invalid_argument", "dpki db works on the local installation's database, not through --server");
}
