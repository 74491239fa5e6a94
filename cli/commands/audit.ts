import { Command } from "commander";
import { writeFileSync } from "node:fs";
import { AppError } from "../../src/errors.js";
import { REFUSAL_ACTIONS } from "../../src/store/records.js";
import { formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";
import { toInt } from "./cert.js";
import { auditCheckCommand } from "./audit-check.js";
import { exportCommand } from "./audit-export.js";
import { consistencyCommand, verifyCopy, verifyProofCommand } from "./audit-offline.js";

export function auditCommand(): Command {
  const audit = new Command("audit").description("Read and verify the tamper-evident issuance log");

  audit
    .command("log")
    .description("List log entries, newest first (--oldest-first for the log's own order)")
    .option("--since <time>", "entries at or after this ISO 8601 time")
    .option("--serial <serial>", "entries about one certificate")
    .option("--action <action>", "e.g. cert.issue, cert.revoke, crl.publish, ca.create")
    .option("--actor <actor>", "entries made by this actor")
    .option("--refusals", "only refused attempts: auth.deny, cert.refuse, dps.register.refuse, sas.issue.refuse")
    .option("--text <text>", "entries whose subject, actor, action, serial or details contain this (any case)")
    .option("--oldest-first", "from the first entry on, as the log was written")
    .option("--limit <n>", "page size (1-1000)", toInt, 100)
    .option("--after <cursor>", "continue from a previous page's cursor")
    .action(
      withContext(async ({ ops, out }, opts) => {
        const page = await ops.auditLog({
          since: opts.since as string | undefined,
          serial: opts.serial as string | undefined,
          action: opts.action as string | undefined,
          actor: opts.actor as string | undefined,
          refusals: opts.refusals ? true : undefined,
          text: opts.text as string | undefined,
          order: opts.oldestFirst ? "oldest" : "newest",
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
              { header: "source", value: (e) => (typeof e.details.source === "string" ? e.details.source : "-") },
              { header: "serial", value: (e) => e.serial ?? "-" },
              { header: "subject", value: (e) => e.subject ?? "-" },
              { header: "reason", value: (e) => refusalReason(e.action, e.details) },
            ]) + (page.nextCursor ? `(more: --after ${page.nextCursor}${opts.oldestFirst ? " --oldest-first" : ""})\n` : ""),
        );
      }),
    );

  audit
    .command("verify")
    .argument("[copy]", "a copy of the log to check offline instead: an export directory or a tlog-tiles URL")
    .description(
      "Check the hash chain and the latest signed checkpoint, or a copy of the log offline (DIR|URL --key); names the first altered, removed or reordered entry, or a cut tail",
    )
    .option("--key <vkey>", "with a copy: the log's note verifier key (text, or a file holding it)")
    .option("--root <pem>", "with a copy, instead of --key: a root certificate you trust, which certified the log key")
    .option("--previous <checkpoint>", "with a copy: a checkpoint seen before, which the copy must extend (repeatable)", collect)
    .addHelpText(
      "after",
      "\nExits 0 when the log is intact and 65 when it is not. The chain shows edits, deletions and reordering;\n" +
        "the latest signed checkpoint (`dpki audit checkpoint`) shows a log cut or rewritten below it.\n\n" +
        "With a copy (`dpki audit export`, or a server's /v1/log), no data directory or passphrase is needed: the\n" +
        "checkpoint is checked with --key, the tree recomputed from the entry bundles, and the first bad entry\n" +
        "named, or the checkpoint called forged or inconsistent; 66 when the copy is not there.\n\n" +
        "Examples:\n" +
        "  dpki audit verify\n" +
        "  dpki audit verify ./log-copy --key log.vkey --previous checkpoint-2026-03-01.note\n" +
        "  dpki audit verify ./log-copy --root root.pem\n" +
        "  DPKI_TOKEN=… dpki audit verify https://pki.example.net:8443/v1/log --key log.vkey",
    )
    .action((copy: string | undefined, opts: Record<string, unknown>, cmd: Command) =>
      copy === undefined ? verifyLocal(copy, opts, cmd) : verifyCopy(copy, opts, cmd),
    );
  audit
    .command("checkpoint")
    .description("Sign a checkpoint of the log (C2SP tlog-checkpoint) and print it with its verifier key")
    .option("--out <file>", "also write the signed note to this file")
    .addHelpText(
      "after",
      `
The checkpoint commits to every entry so far (RFC 6962 Merkle tree); \`audit verify\` then shows a
log cut or rewritten below it. Give auditors the verifier key once, the checkpoints as you sign them.

Examples:
  dpki audit checkpoint --out checkpoint-$(date +%F).note
  dpki audit checkpoint --json | jq -r .verifierKey`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const c = await ops.auditCheckpoint();
        if (opts.out) writeFileSync(opts.out as string, c.note);
        out.print(c, () => `${c.note}\nverifier key: ${c.verifierKey}\n`);
      }),
    );

  audit
    .command("prove")
    .argument("[serial]", "certificate serial (hex): prove its issuance entry")
    .description("Write a tlog-proof that an entry is in the signed log, for the certificate's owner to keep")
    .option("--entry <seq>", "prove log entry <seq> instead of a certificate's issuance", toInt)
    .option("--out <file>", "write the proof here (default: standard output)")
    .addHelpText(
      "after",
      `
The proof (c2sp.org/tlog-proof@v1) holds the entry's index, its inclusion proof and the signed
checkpoint; anyone with the log's verifier key can check it offline.

Examples:
  dpki audit prove 41a205e104ecb861e2b9022f58e6fb1b --out device-0042.tlog-proof
  dpki audit prove --entry 1`,
    )
    .action(
      withContext(async ({ ops, out }, opts, serial: string | undefined) => {
        if ((serial === undefined) === (opts.entry === undefined)) {
          throw new AppError("invalid_argument", "Name one thing to prove: a certificate serial or --entry SEQ");
        }
        const p = await ops.auditProve(serial !== undefined ? { serial } : { seq: opts.entry as number });
        if (opts.out) writeFileSync(opts.out as string, p.proof);
        out.print(p, () =>
          opts.out ? `Entry ${p.seq} (${p.action}) proven against checkpoint of ${p.checkpointSize}: ${opts.out}\n` : p.proof,
        );
      }),
    );
  audit.addCommand(auditCheckCommand());
  audit.addCommand(exportCommand());
  audit.addCommand(verifyProofCommand());
  audit.addCommand(consistencyCommand());
  return audit;
}

/** What a refusal entry says of itself: its code, and how many it stands for when it counts suppressed ones. */
function refusalReason(action: string, details: Record<string, unknown>): string {
  if (!(REFUSAL_ACTIONS as readonly string[]).includes(action) || typeof details.code !== "string") return "-";
  return typeof details.suppressed === "number" ? `${details.code} ×${details.suppressed}` : details.code;
}
/** `audit verify` on the local database: the hash chain, then the latest signed checkpoint. */
const verifyLocal = withContext(async ({ ops, out }, opts) => {
  for (const [key, flag] of [
    ["key", "--key"],
    ["previous", "--previous"],
  ] as const) {
    if (opts[key] !== undefined)
      throw new AppError("bad_request", `${flag} applies to a copy of the log: dpki audit verify DIR|URL ${flag} …`);
  }
  const verdict = await ops.auditVerify();
  out.print(verdict, () =>
    verdict.ok
      ? `Log intact: ${verdict.entries} entries, head ${verdict.head}\n` +
        (verdict.checkpoint
          ? `  ${verdict.checkpoint.message}\n`
          : "  No signed checkpoint yet: run `dpki audit checkpoint` so a cut tail shows\n")
      : `Log BROKEN at entry ${verdict.seq} (${verdict.problem}): ${verdict.message}\n`,
  );
  return verdict.ok ? 0 : 65;
});

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
