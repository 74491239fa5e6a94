import { Command, InvalidArgumentError, Option } from "commander";
import type { TokenView } from "../../src/core/tokens/token-service.js";
import { TOKEN_ROLES, type TokenRole } from "../../src/store/token-store.js";
import { formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";

export function tokenCommand(): Command {
  const token = new Command("token").description("API tokens for `dpki serve`: create (shown once), list, revoke");

  token
    .command("create")
    .description("Create an API token and print it once (only its hash is stored)")
    .addOption(new Option("--role <role>", "what the token may do").choices(TOKEN_ROLES).makeOptionMandatory())
    .option("--name <name>", "unique name; the issuance log records token:<name>")
    .option("--profiles <list>", "factory: comma-separated profiles it may issue under", splitList)
    .option("--quota <n>", "factory: most certificates per UTC day", positiveInt)
    .option("--scope <id-scope>", "confine the token to one DPS ID scope")
    .option("--hub <name>", "hub: the hub the token acts for")
    .option("--operator <name>", "mint it for an operator (dpki operator add); the log then records operator:<name>")
    .option("--expires <duration>", "lifetime, e.g. 90d (default: never)")
    .addHelpText(
      "after",
      `
Roles: admin (everything, tokens included), operator (CA, certificates, revocation,
enrollments, hubs), factory (issue only, under --profiles, optional --quota per day),
hub (its hub's endpoints), auditor (read certificates, CRL and the issuance log).

The token goes to standard output alone (the description to standard error), so it can be
captured: TOKEN=$(dpki token create --role factory --name line-1 --profiles device --quota 5000)

Examples:
  dpki token create --role admin --name alice --expires 30d
  dpki token create --role operator --operator bob --expires 8h
  dpki token create --role auditor --name audit-2026 --expires 1y`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const created = await ops.tokenCreate({
          role: opts.role as TokenRole,
          name: opts.name as string | undefined,
          profiles: opts.profiles as string[] | undefined,
          quotaPerDay: opts.quota as number | undefined,
          scope: opts.scope as string | undefined,
          hub: opts.hub as string | undefined,
          operator: opts.operator as string | undefined,
          expires: opts.expires as string | undefined,
        });
        if (out.json) return out.print(created, () => "");
        const t = created.token;
        out.note(
          `Created ${t.role} token ${t.name ?? t.id} (id ${t.id}), ${t.expiresAt ? `expires ${shortDate(t.expiresAt)}` : "never expires"}. ` +
            `Store it now: it is not shown again.`,
        );
        process.stdout.write(created.secret + "\n");
      }),
    );

  token
    .command("list")
    .description("List tokens (never their secrets)")
    .action(
      withContext(async ({ ops, out }) => {
        const tokens = await ops.tokenList();
        out.print(tokens, () => tokenTable(tokens));
      }),
    );

  token
    .command("revoke")
    .argument("<id>", "token id or name")
    .description("Revoke a token; it stops working at once")
    .action(
      withContext(async ({ ops, out }, _opts, id: string) => {
        const t = await ops.tokenRevoke(id);
        out.print(t, () => `Revoked ${t.role} token ${t.name ?? t.id} (id ${t.id}) at ${t.revokedAt}\n`);
      }),
    );
  return token;
}

export function tokenTable(tokens: TokenView[]): string {
  return formatTable(tokens, [
    { header: "id", value: (t) => t.id },
    { header: "name", value: (t) => t.name ?? "-" },
    { header: "role", value: (t) => t.role },
    { header: "status", value: (t) => t.status },
    { header: "limits", value: (t) => limits(t) },
    { header: "expires", value: (t) => (t.expiresAt ? shortDate(t.expiresAt) : "never") },
    { header: "last used", value: (t) => (t.lastUsedAt ? shortDate(t.lastUsedAt) : "-") },
  ]);
}

function limits(t: TokenView): string {
  const parts: string[] = [];
  if (t.profiles.length) parts.push(`profiles=${t.profiles.join(",")}`);
  if (t.quotaPerDay !== null) parts.push(`quota=${t.quotaPerDay}/day`);
  if (t.hub) parts.push(`hub=${t.hub}`);
  if (t.operator) parts.push(`operator=${t.operator}`);
  if (t.scope) parts.push(`scope=${t.scope}`);
  return parts.join(" ") || "-";
}

function splitList(value: string): string[] {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError("give at least one name");
  return items;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a whole number of at least 1`);
  return n;
}
