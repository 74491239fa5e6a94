import { Command } from "commander";
import type { ScopeView } from "../../src/core/dps/dps-views.js";
import { formatRecord, formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";

export function scopeCommand(): Command {
  const scope = new Command("scope").description(
    "ID scopes: the tenants of device provisioning (hubs, enrollments and registrations belong to one)",
  );

  scope
    .command("add")
    .argument("[id]", "the ID scope devices will use (default: generated, 0ne + 8 hex digits)")
    .description("Create an ID scope")
    .option("--description <text>", "what the scope is for")
    .addHelpText("after", '\nExamples:\n  dpki scope add\n  dpki scope add 0ne00ACME1 --description "Acme thermostats"')
    .action(
      withContext(async ({ ops, out }, opts, id: string | undefined) => {
        const created = await ops.scopeCreate({ idScope: id, description: opts.description as string | undefined });
        out.print(created, () => `Created ID scope ${created.idScope}\n`);
      }),
    );

  scope
    .command("list")
    .description("List ID scopes")
    .action(
      withContext(async ({ ops, out }) => {
        const scopes = await ops.scopeList();
        out.print(scopes, () => scopeTable(scopes));
      }),
    );

  scope
    .command("show")
    .argument("<id>", "ID scope")
    .description("Show an ID scope and what it holds")
    .action(
      withContext(async ({ ops, out }, _opts, id: string) => {
        const s = await ops.scopeGet(id);
        out.print(s, () =>
          formatRecord([
            ["ID scope", s.idScope],
            ["description", s.description || null],
            ["created", s.createdAt],
            ["hubs", s.hubs],
            ["enrollments", s.enrollments],
            ["groups", s.groups],
            ["registrations", s.registrations],
          ]),
        );
      }),
    );

  scope
    .command("rm")
    .argument("<id>", "ID scope")
    .description("Delete an ID scope (refused while it holds anything, unless --force)")
    .option("--force", "delete its hubs, enrollments, groups and registrations too")
    .action(
      withContext(async ({ ops, out }, opts, id: string) => {
        await ops.scopeDelete(id, Boolean(opts.force));
        out.print({ deleted: id }, () => `Deleted ID scope ${id}\n`);
      }),
    );

  return scope;
}

function scopeTable(scopes: ScopeView[]): string {
  return formatTable(scopes, [
    { header: "id scope", value: (s) => s.idScope },
    { header: "created", value: (s) => shortDate(s.createdAt) },
    { header: "description", value: (s) => s.description },
  ]);
}
