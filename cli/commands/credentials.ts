import { confirm } from "../confirm.js";
import { createInterface } from "node:readline/promises";
import { Command, Option } from "commander";
import { REVOCATION_REASONS } from "../../ca/revocation-reason.js";
import type { HubPolicyView } from "../../src/core/hub-api/hub-policy-service.js";
import type { KeyRotationResult, RotationTarget } from "../../src/core/lifecycle/credential-service.js";
import { HUB_RIGHTS } from "../../src/store/lifecycle-store.js";
import { AppError } from "../../src/errors.js";
import { withContext } from "../run.js";
import { formatRecord, formatTable, shortDate } from "../output.js";

const scoped = (cmd: Command) => cmd.option("--scope <id>", "ID scope (env DPKI_SCOPE; default: the only one)");

function rightsOf(text: string): string[] {
  const rights = text
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
  const canonical = rights.map((r) => HUB_RIGHTS.find((known) => known.toLowerCase() === r.toLowerCase()) ?? r);
  if (canonical.length === 0) throw new AppError("invalid_argument", `--rights needs one or more of ${HUB_RIGHTS.join(", ")}`);
  return canonical;
}

/** `dpki hub policy add|list|show|update|rm`: a hub's shared access policies. */
export function addHubPolicyCommands(hub: Command): Command {
  const policy = hub.command("policy").description("A hub's shared access policies (name, rights, primary/secondary keys)");

  scoped(policy.command("add"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name: the skn of its tokens, e.g. iothubowner")
    .requiredOption("--rights <list>", `comma-separated: ${HUB_RIGHTS.join(", ")}`)
    .description("Add a policy; its two keys are printed this once")
    .addHelpText(
      "after",
      `
Examples:
  dpki hub policy add eu-1 iothubowner --rights RegistryRead,RegistryWrite,ServiceConnect,DeviceConnect
  dpki hub policy add eu-1 device --rights DeviceConnect`,
    )
    .action(
      withContext(async ({ ops, out, scope }, opts, hubName: string, name: string) => {
        const created = await ops.hubPolicyCreate(await scope(), hubName, { name, rights: rightsOf(opts.rights as string) });
        out.print(
          created,
          () =>
            formatRecord([
              ["policy", `${created.policy.name} on ${created.policy.hub} (${created.policy.rights.join(", ")})`],
              ["primary key", created.keys.primaryKey],
              ["secondary key", created.keys.secondaryKey],
            ]) + "The keys are shown this once: store them now.\n",
        );
      }),
    );

  scoped(policy.command("list"))
    .argument("<hub>", "hub name")
    .description("List a hub's policies (never their keys)")
    .action(
      withContext(async ({ ops, out, scope }, _opts, hubName: string) => {
        const policies = await ops.hubPolicyList(await scope(), hubName);
        out.print(policies, () => policyTable(policies));
      }),
    );

  scoped(policy.command("show"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name")
    .description("Show one policy (never its keys)")
    .action(
      withContext(async ({ ops, out, scope }, _opts, hubName: string, name: string) => {
        const p = await ops.hubPolicyGet(await scope(), hubName, name);
        out.print(p, () =>
          formatRecord([
            ["policy", p.name],
            ["hub", p.hub],
            ["rights", p.rights.join(", ")],
            ["created", p.createdAt],
            ["keys rotated", p.rotatedAt],
          ]),
        );
      }),
    );

  scoped(policy.command("update"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name")
    .requiredOption("--rights <list>", `the new rights, comma-separated: ${HUB_RIGHTS.join(", ")}`)
    .description("Change a policy's rights")
    .action(
      withContext(async ({ ops, out, scope }, opts, hubName: string, name: string) => {
        const p = await ops.hubPolicyUpdate(await scope(), hubName, name, { rights: rightsOf(opts.rights as string) });
        out.print(p, () => `Policy ${p.name} on ${p.hub} now has ${p.rights.join(", ")}\n`);
      }),
    );

  scoped(policy.command("rm"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name")
    .description("Remove a policy: its tokens stop working at once")
    .action(
      withContext(async ({ ops, out, scope }, _opts, hubName: string, name: string) => {
        const idScope = await scope();
        await ops.hubPolicyDelete(idScope, hubName, name);
        out.print({ removed: { idScope, hub: hubName, policy: name } }, () => `Removed policy ${name} from hub ${hubName}\n`);
      }),
    );
  return hub;
}

/** `dpki key rotate|swap`: symmetric keys of an enrollment, a group or a hub policy (Azure's two-key model). */
export function keyCommand(): Command {
  const key = new Command("key").description("Symmetric keys of enrollments, groups and hub policies");
  const targeted = (cmd: Command) =>
    scoped(cmd)
      .option("--enrollment <registration-id>", "an individual enrollment")
      .option("--group <group-id>", "an enrollment group")
      .option("--hub <name>", "a hub (with --policy)")
      .option("--policy <name>", "the hub's shared access policy");

  targeted(key.command("rotate"))
    .description("Regenerate one key (printed once); the other key keeps working")
    .addOption(new Option("--key <which>", "the key to regenerate").choices(["primary", "secondary"]).makeOptionMandatory())
    .option("--yes", "regenerate even if registrations still authenticate with that key (they are refused from then on)")
    .addHelpText(
      "after",
      `
Both keys authenticate until one is regenerated. To move a fleet without locking it out:
regenerate the secondary, give devices the new secondary, \`dpki key swap\` so it becomes the
primary, and regenerate the (former primary, now) secondary once no registration uses it.
Before regenerating a key that registrations last authenticated with (at their latest DPS
registration), dpki says how many; it then asks on a terminal and otherwise needs --yes (exit 64
without it). Each rotation is in the issuance log; old keys are never shown again.

Examples:
  dpki key rotate --group sensors --key secondary
  dpki key rotate --enrollment dev-1 --key primary --yes
  dpki key rotate --hub eu-1 --policy iothubowner --key secondary --json`,
    )
    .action(
      withContext(async ({ ops, out, scope }, opts) => {
        const target = rotationTarget(opts, await scope());
        const change = opts.key as "primary" | "secondary";
        let result: KeyRotationResult;
        try {
          result = await ops.keyRotate(target, { key: change, confirm: opts.yes === true });
        } catch (err) {
          if (!(err instanceof AppError) || err.code !== "confirmation_required") throw err;
          if (!process.stdin.isTTY || !process.stderr.isTTY) {
            throw new AppError("confirmation_required", `${err.message} (pass --yes)`, err.detail);
          }
          if (!(await ask(`${err.message}. Regenerate the ${change} key? [y/N] `))) {
            throw new AppError("confirmation_required", "Not confirmed: nothing changed", err.detail);
          }
          result = await ops.keyRotate(target, { key: change, confirm: true });
        }
        out.print(
          result,
          () =>
            formatRecord([
              ["rotated", describeTarget(target)],
              [`new ${change} key`, change === "primary" ? result.primaryKey : result.secondaryKey],
              ["registrations refused", String(result.registrationsRefused)],
            ]) + `The new ${change} key is shown this once; the ${change === "primary" ? "secondary" : "primary"} key keeps working.\n`,
        );
      }),
    );

  targeted(key.command("swap"))
    .description("Swap primary and secondary keys; both keep working")
    .addHelpText(
      "after",
      `
Examples:
  dpki key swap --group sensors`,
    )
    .action(
      withContext(async ({ ops, out, scope }, opts) => {
        const target = rotationTarget(opts, await scope());
        const result = await ops.keyRotate(target, { key: "swap" });
        out.print(result, () => `Swapped the keys of ${describeTarget(target)}: the former secondary is now the primary\n`);
      }),
    );
  return key;
}

function rotationTarget(opts: Record<string, unknown>, idScope: string): RotationTarget {
  const chosen = [opts.enrollment, opts.group, opts.policy].filter((v) => v !== undefined).length;
  if (chosen !== 1 || (opts.policy !== undefined) !== (opts.hub !== undefined)) {
    throw new AppError("invalid_argument", "Name one of: --enrollment ID, --group ID, or --hub NAME --policy NAME");
  }
  return opts.enrollment
    ? { kind: "enrollment", idScope, registrationId: opts.enrollment as string }
    : opts.group
      ? { kind: "group", idScope, groupId: opts.group as string }
      : { kind: "hubPolicy", idScope, hub: opts.hub as string, policy: opts.policy as string };
}

async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** `dpki enrollment revoke` / `dpki group revoke`: the revocation cascade. */
export function revokeEnrollmentCommand(kind: "individual" | "group"): Command {
  const what = kind === "group" ? "enrollment group" : "individual enrollment";
  return scoped(new Command("revoke"))
    .argument(kind === "group" ? "<group-id>" : "<registration-id>", `the ${what}`)
    .description(`Revoke an ${what} and every credential under it, in one logged operation (permanent)`)
    .addOption(
      new Option("--reason <reason>", "RFC 5280 reason for its certificates")
        .choices(Object.keys(REVOCATION_REASONS))
        .default("privilegeWithdrawn"),
    )
    .option("--yes", "do not ask for confirmation (required when not run on a terminal)")
    .addHelpText(
      "after",
      `
The ${what} is blocked for good and disabled, every certificate dpki issued to its devices is
revoked, and the hub API refuses them at once. It cannot be undone: on a terminal dpki asks
first; scripts pass --yes (without it, and without a terminal, exit 64).`,
    )
    .action(
      withContext(async ({ ops, out, scope }, opts, id: string) => {
        await confirm(`Revoke ${what} ${id} and every credential under it, refusing its devices for good?`, Boolean(opts.yes));
        const r = await ops.enrollmentRevoke(await scope(), kind, id, opts.reason as string);
        out.print(
          r,
          () => `Revoked ${what} ${r.id}: ${r.devices} devices refused, ${r.certificatesRevoked} certificates revoked (${r.reason})\n`,
        );
      }),
    );
}

function describeTarget(t: RotationTarget): string {
  switch (t.kind) {
    case "enrollment":
      return `individual enrollment ${t.registrationId} (${t.idScope})`;
    case "group":
      return `enrollment group ${t.groupId} (${t.idScope})`;
    case "hubPolicy":
      return `policy ${t.policy} of hub ${t.hub} (${t.idScope})`;
  }
}

function policyTable(policies: HubPolicyView[]): string {
  return formatTable(policies, [
    { header: "name", value: (p) => p.name },
    { header: "rights", value: (p) => p.rights.join(",") },
    { header: "created", value: (p) => shortDate(p.createdAt) },
    { header: "keys rotated", value: (p) => (p.rotatedAt ? shortDate(p.rotatedAt) : "-") },
  ]);
}
