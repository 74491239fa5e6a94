import { Command } from "commander";
import type { EnrollmentView } from "../src/core/dps/dps-views.js";
import type { EnrollmentKind } from "../src/store/dps-records.js";
import { formatTable, shortDate } from "./output.js";
import { withContext } from "./run.js";
import { enrollmentDetails, enrollmentInput, enrollmentOptions, scopeOption, withKeys } from "./dps-options.js";
import { toInt } from "./commands/cert.js";

/** add/list/show/update/disable/rm, shared by `dpki enrollment` (individual) and `dpki group`. */
export function enrollmentSubcommands(parent: Command, kind: EnrollmentKind): Command {
  const idArg = kind === "group" ? "<group-id>" : "<registration-id>";
  const idHelp = kind === "group" ? "enrollment group id" : "the device's registration id";
  const what = kind === "group" ? "enrollment group" : "individual enrollment";

  enrollmentOptions(scopeOption(parent.command("add")).argument(idArg, idHelp), kind, true)
    .description(`Create an ${what}`)
    .action(
      withContext(async ({ ops, out, scope }, opts, id: string) => {
        const created = await ops.enrollmentCreate(await scope(), kind, id, enrollmentInput(opts, kind, true));
        out.print(created, () => withKeys(created));
      }),
    );

  scopeOption(parent.command("list"))
    .description(`List ${what}s`)
    .option("--limit <n>", "page size (1-1000)", toInt, 100)
    .option("--after <cursor>", "continue from a previous page's cursor")
    .action(
      withContext(async ({ ops, out, scope }, opts) => {
        const page = await ops.enrollmentList(await scope(), kind, {
          limit: opts.limit as number,
          after: opts.after as string | undefined,
        });
        out.print(page, () => enrollmentTable(page.items, kind) + (page.nextCursor ? `(more: --after ${page.nextCursor})\n` : ""));
      }),
    );

  scopeOption(parent.command("show"))
    .argument(idArg, idHelp)
    .description(`Show an ${what} (keys are never shown again)`)
    .action(
      withContext(async ({ ops, out, scope }, _opts, id: string) => {
        const e = await ops.enrollmentGet(await scope(), kind, id);
        out.print(e, () => enrollmentDetails(e));
      }),
    );

  enrollmentOptions(scopeOption(parent.command("update")).argument(idArg, idHelp), kind, false)
    .description(`Change an ${what}; options given replace the current values`)
    .option("--regenerate-keys", "make new symmetric keys (shown once)")
    .option("--if-match <etag>", "refuse the change unless the etag is still this")
    .action(
      withContext(async ({ ops, out, scope }, opts, id: string) => {
        const updated = await ops.enrollmentUpdate(await scope(), kind, id, enrollmentInput(opts, kind, false), {
          regenerateKeys: Boolean(opts.regenerateKeys),
          ifMatch: opts.ifMatch as string | undefined,
        });
        out.print(updated, () => withKeys(updated));
      }),
    );

  scopeOption(parent.command("disable"))
    .argument(idArg, idHelp)
    .description(`Disable an ${what}: its devices' registrations end "disabled" (update --status enabled re-enables)`)
    .action(
      withContext(async ({ ops, out, scope }, _opts, id: string) => {
        const updated = await ops.enrollmentUpdate(await scope(), kind, id, { provisioningStatus: "disabled" }, {});
        out.print(updated, () => `Disabled ${what} ${id}\n`);
      }),
    );

  scopeOption(parent.command("rm"))
    .argument(idArg, idHelp)
    .description(`Delete an ${what} (its devices' registrations are kept)`)
    .action(
      withContext(async ({ ops, out, scope }, _opts, id: string) => {
        const idScope = await scope();
        await ops.enrollmentDelete(idScope, kind, id);
        out.print({ deleted: id, idScope }, () => `Deleted ${what} ${id}\n`);
      }),
    );

  return parent;
}

function enrollmentTable(items: EnrollmentView[], kind: EnrollmentKind): string {
  return formatTable(items, [
    { header: kind === "group" ? "group" : "registration id", value: (e) => (e.groupId ?? e.registrationId)! },
    { header: "attestation", value: (e) => (e.attestation.type === "symmetricKey" ? "symmetric-key" : "x509") },
    { header: "status", value: (e) => e.provisioningStatus },
    { header: "allocation", value: (e) => e.allocation.policy },
    { header: "hubs", value: (e) => e.allocation.hubs.join(",") || "*" },
    { header: "profile", value: (e) => e.profile },
    { header: "updated", value: (e) => shortDate(e.updatedAt) },
  ]);
}
