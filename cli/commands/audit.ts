import { Command } from "commander";
import { formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";
import { toInt } from "./cert.js";

export function auditCommand(): Command {
  const audit = new Command("audit").description("Read and verify the tamper-evident issuance log");

  audit
    .command("log")
    .description("List log entries in order")
    .option("--since <time>", "entries at or after this ISO 8601 time")
    .option("--serial <serial>", "entries about one certificate")
    .option("--action <action>", "e.g. cert.issue, cert.revoke, crl.publish, ca.create")
    .option("--actor <actor>", "entries made by this actor")
    .option("--limit <n>", "page size (1-1000)", toInt, 100)
    .option("--after <cursor>", "continue from a previous page's cursor")
    .action(
      withContext(async ({ ops, out }, opts) => {
        const page = await ops.auditLog({
          since: opts.since as string | undefined,
          serial: opts.serial as string | undefined,
          action: opts.action as string | undefined,
          actor: opts.actor as string | undefined,
          limit: opts.limit as number,
          after: opts.after as string | undefined,
        });
        out.print(
          page,
          () =>
            formatTable(page.items, [
              { header: "seq", value: (e) => String(e.seq) },
              { header: "at", value: (e) => shortDate(e.at) },
              { header: "actor", value: (e) => e.actor },
              { header: "action", value: (e) => e.action },
              { header: "serial", value: (e) => e.serial ?? "-" },
              { header: "subject", value: (e) => e.subject ?? "-" },
            ]) + (page.nextCursor ? `(more: --after ${page.nextCursor})\n` : ""),
        );
      }),
    );

  audit
    .command("verify")
    .description("Check the hash chain from the first entry; names the first altered, removed or reordered entry")
    .addHelpText(
      "after",
      "\nExits 0 when the chain is intact and 65 when it is not. Record the printed head hash to detect later truncation.",
    )
    .action(
      withContext(async ({ ops, out }) => {
        const verdict = await ops.auditVerify();
        out.print(verdict, () =>
          verdict.ok
            ? `Log intact: ${verdict.entries} entries, head ${verdict.head}\n`
            : `Log BROKEN at entry ${verdict.seq} (${verdict.problem}): ${verdict.message}\n`,
        );
        return verdict.ok ? 0 : 65;
      }),
    );
  return audit;
}
