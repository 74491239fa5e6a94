import { Command, InvalidArgumentError } from "commander";
import type { HubInput, HubView } from "../../src/core/dps/dps-views.js";
import { formatRecord, formatTable } from "../output.js";
import { withContext } from "../run.js";
import { scopeOption } from "../dps-options.js";
import { addHubPolicyCommands } from "./credentials.js";

export function hubCommand(): Command {
  const hub = new Command("hub").description("Hubs devices are assigned to");

  scopeOption(hub.command("add"))
    .argument("<name>", "hub name, unique in the scope")
    .description("Add a hub")
    .requiredOption("--host-name <host>", "the host name devices connect to (e.g. hub1.example.net)")
    .option("--weight <n>", "relative share of hashed allocations, 1-1000", toWeight, 1)
    .option("--region <region>", "region, for geoLatency allocation")
    .option("--disabled", "add it disabled (no new assignments)")
    .addHelpText("after", "\nExample:\n  dpki hub add eu-1 --host-name eu-1.hubs.example.net --region eu --weight 2")
    .action(
      withContext(async ({ ops, out, scope }, opts, name: string) => {
        const created = await ops.hubCreate(await scope(), {
          name,
          hostName: opts.hostName as string,
          weight: opts.weight as number,
          region: (opts.region as string | undefined) ?? null,
          enabled: !opts.disabled,
        });
        out.print(created, () => `Added hub ${created.name} (${created.hostName}) to ${created.idScope}\n`);
      }),
    );

  scopeOption(hub.command("list"))
    .description("List the scope's hubs")
    .action(
      withContext(async ({ ops, out, scope }) => {
        const hubs = await ops.hubList(await scope());
        out.print(hubs, () => hubTable(hubs));
      }),
    );

  scopeOption(hub.command("show"))
    .argument("<name>", "hub name")
    .description("Show one hub")
    .action(
      withContext(async ({ ops, out, scope }, _opts, name: string) => {
        const h = await ops.hubGet(await scope(), name);
        out.print(h, () => hubDetails(h));
      }),
    );

  scopeOption(hub.command("update"))
    .argument("<name>", "hub name")
    .description("Change a hub's host name, weight, region or state")
    .option("--host-name <host>", "new host name")
    .option("--weight <n>", "new weight, 1-1000", toWeight)
    .option("--region <region>", "new region")
    .option("--no-region", "clear the region")
    .option("--enable", "accept new assignments")
    .option("--disable", "take no new assignments (assigned devices keep it under never-reprovision)")
    .action(
      withContext(async ({ ops, out, scope }, opts, name: string) => {
        const input: HubInput = {};
        if (opts.hostName !== undefined) input.hostName = opts.hostName as string;
        if (opts.weight !== undefined) input.weight = opts.weight as number;
        if (opts.region === false) input.region = null;
        else if (typeof opts.region === "string") input.region = opts.region;
        if (opts.enable) input.enabled = true;
        if (opts.disable) input.enabled = false;
        const h = await ops.hubUpdate(await scope(), name, input);
        out.print(h, () => hubDetails(h));
      }),
    );

  scopeOption(hub.command("rm"))
    .argument("<name>", "hub name")
    .description("Remove a hub (refused while an enrollment links it)")
    .action(
      withContext(async ({ ops, out, scope }, _opts, name: string) => {
        const idScope = await scope();
        await ops.hubDelete(idScope, name);
        out.print({ deleted: name, idScope }, () => `Removed hub ${name}\n`);
      }),
    );

  addHubPolicyCommands(hub);
  return hub;
}

function hubTable(hubs: HubView[]): string {
  return formatTable(hubs, [
    { header: "name", value: (h) => h.name },
    { header: "host name", value: (h) => h.hostName },
    { header: "weight", value: (h) => String(h.weight) },
    { header: "region", value: (h) => h.region ?? "-" },
    { header: "enabled", value: (h) => (h.enabled ? "yes" : "no") },
  ]);
}

function hubDetails(h: HubView): string {
  return formatRecord([
    ["name", h.name],
    ["ID scope", h.idScope],
    ["host name", h.hostName],
    ["weight", h.weight],
    ["region", h.region],
    ["enabled", h.enabled ? "yes" : "no"],
    ["created", h.createdAt],
    ["updated", h.updatedAt],
  ]);
}

function toWeight(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError(`"${value}" is not a weight from 1 to 1000`);
  return n;
}
