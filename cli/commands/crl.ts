import { Command } from "commander";
import { pemEncode } from "../../ca/pem.js";
import { formatRecord } from "../output.js";
import { writeOutput } from "../io.js";
import { withContext } from "../run.js";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/errors.js";
import type { CrlInfo } from "../../src/core/authority/crl-service.js";

export function crlCommand(): Command {
  return new Command("crl")
    .description("Print or save the current CRL of the issuing CA, or of any CA (signing a fresh one when stale)")
    .option("--out <file>", "write the CRL to a file (with --all: the directory to write into)")
    .option("--der", "DER instead of PEM")
    .option("--ca <id>", "the CRL of this CA: a retired intermediate still serving, or a root (its ARL); see `dpki ca status`")
    .option("--all", "write one file per CA in service, roots included, <ca-id>.crl.pem (.crl with --der), into --out (default: .)")
    .addHelpText(
      "after",
      `
The CRL is a signed X.509 v2 CRL with a CRL number that only goes up, AKI and per-entry
reason codes. A new one is signed after any revocation or when the current one nears nextUpdate.
Without --ca it is the active issuer's; after a rotation, the retired issuer's CRL (with its
revocations) is \`dpki crl --ca <its id>\`. A root's CRL (ARL) lists the intermediates it signed
that were revoked (\`dpki ca revoke\`). --all writes every one that relying parties need, so
every link of a chain checks (openssl verify -crl_check_all, one -CRLfile per written file).

Examples:
  dpki crl --out ca.crl.pem
  dpki crl --ca int-7b2e4d6f --out int-7b2e4d6f.crl.pem
  dpki crl --all --out ./crls
  dpki crl --der | openssl crl -inform DER -noout -text`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        if (opts.all && opts.ca) throw new AppError("invalid_argument", "Give --ca or --all, not both");
        if (opts.all) {
          const dir = (opts.out as string | undefined) ?? ".";
          if (!existsSync(dir) || !statSync(dir).isDirectory())
            throw new AppError("invalid_argument", `Cannot write CRLs into ${dir}: not a directory`);
          // Every CA whose certificates relying parties may still check: roots in service, the active
          // issuer, and retired ones until their certificates expire (revoked ones too).
          const issuers = (await ops.caList()).filter((c) =>
            c.kind === "root" ? c.state === "active" : ["active", "serving", "revoked"].includes(c.state),
          );
          const written: Array<CrlInfo & { file: string }> = [];
          for (const ca of issuers) {
            if (ca.state === "revoked" && ca.lastCertificateExpiry !== null && Date.parse(ca.lastCertificateExpiry) <= Date.now()) continue;
            const { info, der } = await ops.crl(ca.id);
            const file = join(dir, `${ca.id}.crl${opts.der ? "" : ".pem"}`);
            writeOutput(file, opts.der ? der : pemEncode("X509 CRL", der));
            written.push({ ...info, file });
          }
          out.print(written, () =>
            written
              .map((w) => `Wrote CRL #${w.number} of ${w.issuer} (${w.entries} entries, next update ${w.nextUpdate}) to ${w.file}\n`)
              .join(""),
          );
          return;
        }
        const { info, der } = await ops.crl(opts.ca as string | undefined);
        const body = opts.der ? der : pemEncode("X509 CRL", der);
        if (opts.out) {
          writeOutput(opts.out as string, body);
          out.print(info, () => `Wrote CRL #${info.number} (${info.entries} entries, next update ${info.nextUpdate}) to ${opts.out}\n`);
        } else if (out.json) {
          out.print({ ...info, pem: pemEncode("X509 CRL", der) }, () => "");
        } else {
          process.stdout.write(body);
        }
      }),
    );
}

export function crlInfoText(info: { issuer: string; number: string; thisUpdate: string; nextUpdate: string; entries: number }): string {
  return formatRecord([
    ["issuer", info.issuer],
    ["number", info.number],
    ["this update", info.thisUpdate],
    ["next update", info.nextUpdate],
    ["entries", info.entries],
  ]);
}
