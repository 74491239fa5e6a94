import { Command } from "commander";
import { pemEncode } from "../../ca/pem.js";
import { formatRecord } from "../output.js";
import { writeOutput } from "../io.js";
import { withContext } from "../run.js";

export function crlCommand(): Command {
  return new Command("crl")
    .description("Print or save the current CRL of the issuing CA (signing a fresh one when stale)")
    .option("--out <file>", "write the CRL to a file")
    .option("--der", "DER instead of PEM")
    .addHelpText(
      "after",
      `
The CRL is a signed X.509 v2 CRL with a CRL number that only goes up, AKI and per-entry
reason codes. A new one is signed after any revocation or when the current one nears nextUpdate.

Examples:
  dpki crl --out ca.crl.pem
  dpki crl --der | openssl crl -inform DER -noout -text`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const { info, der } = await ops.crl();
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
