import { Command, Option } from "commander";
import { REVOCATION_REASONS } from "../../ca/revocation-reason.js";
import type { HubPolicyView } from "../../src/core/hub-service.js";
import type { RotationTarget } from "../../src/core/credential-service.js";
import { HUB_RIGHTS } from "../../src/store/lifecycle-store.js";
import { AppError } from "../../src/errors.js";
import { withLifecycle } from "../lifecycle-context.js";
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
      withLifecycle(async ({ lifecycle, out, scope }, opts, hubName: string, name: string) => {
        const created = await lifecycle.hubPolicyCreate(await scope(), hubName, { name, rights: rightsOf(opts.rights as string) });
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
      withLifecycle(async ({ lifecycle, out, scope }, _opts, hubName: string) => {
        const policies = await lifecycle.hubPolicyList(await scope(), hubName);
        out.print(policies, () => policyTable(policies));
      }),
    );

  scoped(policy.command("show"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name")
    .description("Show one policy (never its keys)")
    .action(
      withLifecycle(async ({ lifecycle, out, scope }, _opts, hubName: string, name: string) => {
        const p = await lifecycle.hubPolicyGet(await scope(), hubName, name);
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
      withLifecycle(async ({ lifecycle, out, scope }, opts, hubName: string, name: string) => {
        const p = await lifecycle.hubPolicyUpdate(await scope(), hubName, name, { rights: rightsOf(opts.rights as string) });
        out.print(p, () => `Policy ${p.name} on ${p.hub} now has ${p.rights.join(", ")}\n`);
      }),
    );

  scoped(policy.command("rm"))
    .argument("<hub>", "hub name")
    .argument("<name>", "policy name")
    .description("Remove a policy: its tokens stop working at once")
    .action(
      withLifecycle(async ({ lifecycle, out, scope }, _opts, hubName: string, name: string) => {
        const idScope = await scope();
        await lifecycle.hubPolicyDelete(idScope, hubName, name);
        out.print({ removed: { idScope, hub: hubName, policy: name } }, () => `Removed policy ${name} from hub ${hubName}\n`);
      }),
    );
  return hub;
}

/** `dpki key rotate`: symmetric keys of an enrollment, a group or a hub policy. */
export function keyCommand(): Command {
  const key = new Command("key").description("Symmetric keys of enrollments, groups and hub policies");
  scoped(key.command("rotate"))
    .description("Rotate keys: the secondary becomes the primary, a new secondary is made (printed once)")
    .option("--enrollment <registration-id>", "an individual enrollment")
    .option("--group <group-id>", "an enrollment group")
    .option("--hub <name>", "a hub (with --policy)")
    .option("--policy <name>", "the hub's shared access policy")
    .addHelpText(
      "after",
      `
Tokens signed with either of the current keys stay valid, so devices move to the new secondary
during the overlap; the next rotation drops today's primary. Each rotation is in the issuance
log; old keys are never shown again.

Examples:
  dpki key rotate --group sensors
  dpki key rotate --hub eu-1 --policy iothubowner --json`,
    )
    .action(
      withLifecycle(async ({ lifecycle, out, scope }, opts) => {
        const chosen = [opts.enrollment, opts.group, opts.policy].filter((v) => v !== undefined).length;
        if (chosen !== 1 || (opts.policy !== undefined) !== (opts.hub !== undefined)) {
          throw new AppError("invalid_argument", "Name one of: --enrollment ID, --group ID, or --hub NAME --policy NAME");
        }
        const idScope = await scope();
        const target: RotationTarget = opts.enrollment
          ? { kind: "enrollment", idScope, registrationId: opts.enrollment as string }
          : opts.group
            ? { kind: "group", idScope, groupId: opts.group as string }
            : { kind: "hubPolicy", idScope, hub: opts.hub as string, policy: opts.policy as string };
        const result = await lifecycle.keyRotate(target);
        out.print(
          result,
          () =>
            formatRecord([
              ["rotated", describeTarget(target)],
              ["new secondary key", result.secondaryKey],
            ]) + "The former secondary is now the primary. The new secondary is shown this once.\n",
        );
      }),
    );
  return key;
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
    .addHelpText(
      "after",
      `
The ${what} is blocked for good and disabled, every certificate dpki issued to its devices is
revoked, and the hub API refuses them at once.`,
    )
    .action(
      withLifecycle(async ({ lifecycle, out, scope }, opts, id: string) => {
        const r = await lifecycle.enrollmentRevoke(await scope(), kind, id, opts.reason as string);
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
