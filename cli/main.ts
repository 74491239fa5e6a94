import "reflect-metadata";
import { Command, CommanderError } from "commander";
import { initCommand } from "./commands/init.js";
import { certCommand } from "./commands/cert.js";
import { crlCommand } from "./commands/crl.js";
import { auditCommand } from "./commands/audit.js";
import { caCommand } from "./commands/ca.js";
import { profileCommand } from "./commands/profile.js";
import { tokenCommand } from "./commands/token.js";
import { operatorCommand } from "./commands/operator.js";
import { serveCommand } from "./commands/serve.js";
import { quickstartCommand } from "./commands/quickstart.js";
import { scopeCommand } from "./commands/scope.js";
import { hubCommand } from "./commands/hub.js";
import { enrollmentCommand } from "./commands/enrollment.js";
import { groupCommand } from "./commands/group.js";
import { registrationCommand } from "./commands/registration.js";
import { dpsCommand } from "./commands/dps.js";
import { sasCommand } from "./commands/sas.js";
import { keyCommand } from "./commands/credentials.js";
import { dbCommand } from "./commands/db.js";
import { reportError } from "./output.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/package-root.js";

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command("dpki")
    .description("Device PKI and provisioning for IoT fleets: a private CA, DPS-compatible enrollment, CRL/OCSP and an audit log")
    .option("-d, --data-dir <dir>", "data directory (env DPKI_HOME, default ./.dpki)")
    .option("--passphrase-file <file>", "file holding the CA key passphrase (else env DPKI_PASSPHRASE)")
    .option(
      "--database <url>",
      "keep the records in PostgreSQL (postgres://user@host:port/db, env DPKI_DATABASE_URL) instead of <data-dir>/dpki.db",
    )
    .option("--actor <name>", "who to record in the issuance log (default cli:<user>)")
    .option("--json", "machine-readable JSON output")
    .option("--server <url>", "work through a dpki server's HTTP API (env DPKI_SERVER)")
    .option("--token <token>", "API token for --server (env DPKI_TOKEN, preferred: not visible in ps)")
    .option("--otp <code>", "one-time password for --server when the operator enrolled in TOTP (asked for on a terminal otherwise)")
    .option("--ca-file <file>", "CA certificate (PEM) to trust for --server (default: system roots + <data-dir>/root.pem)")
    .version(VERSION, "-V, --version", "print the dpki version")
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 64 usage, 65 bad input or refused, 66 not found, 69 unavailable (also: the root key is offline),
70 internal, 73 already exists, 75 conflict (e.g. revoking the active issuer),
77 not allowed, 78 configuration (e.g. no passphrase, a token PIN that does not work).

Start here:
  dpki init --dev                      create a development CA in ./.dpki
  dpki cert issue --csr dev.csr --profile device
  dpki cert list --expiring-within 30d
  dpki audit verify`,
    );
  for (const cmd of [
    initCommand(),
    caCommand(),
    certCommand(),
    crlCommand(),
    auditCommand(),
    profileCommand(),
    tokenCommand(),
    operatorCommand(),
    serveCommand(),
    quickstartCommand(),
    scopeCommand(),
    hubCommand(),
    enrollmentCommand(),
    groupCommand(),
    registrationCommand(),
    dpsCommand(),
    sasCommand(),
    keyCommand(),
    dbCommand(),
  ])
    program.addCommand(cmd);
  program.exitOverride();
  for (const cmd of program.commands) propagateExitOverride(cmd);
  return program;
}

function propagateExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) propagateExitOverride(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; anything else commander rejects is a usage error.
      return err.exitCode === 0 ? 0 : 64;
    }
    return reportError(err, argv.includes("--json"));
  }
}

// A reader that stops early (`dpki cert list | head`) closes the pipe: that is not an error to report.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  });
}

process.exitCode = await main(process.argv);
