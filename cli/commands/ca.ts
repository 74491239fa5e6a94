import { Command } from "commander";
import { writeOutput } from "../io.js";
import { withContext } from "../run.js";
import { caTable } from "./init.js";
import { addCaLifecycleCommands } from "./lifecycle.js";
import { addCeremonyCommands } from "./ceremony.js";

export function caCommand(): Command {
  const ca = new Command("ca").description("Inspect the certificate authorities");
  ca.command("list")
    .description("List the root and intermediates")
    .action(
      withContext(async ({ ops, out }) => {
        const cas = await ops.caList();
        out.print(cas, () => caTable(cas));
      }),
    );
  ca.command("chain")
    .description("Print the issuing CA chain (issuer first, root last) as PEM")
    .option("--out <file>", "write to a file")
    .action(
      withContext(async ({ ops, out }, opts) => {
        const pem = await ops.caChainPem();
        if (opts.out) writeOutput(opts.out as string, pem);
        else out.print({ pem }, () => pem);
      }),
    );
  addCaLifecycleCommands(ca);
  addCeremonyCommands(ca);
  return ca;
}
