import { Command } from "commander";
import QRCode from "qrcode";
import type { OperatorView } from "../../src/core/tokens/operator-service.js";
import { formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";

export function operatorCommand(): Command {
  const operator = new Command("operator").description("Operators: named people or systems that tokens are minted for");

  operator
    .command("add")
    .argument("<name>", "1-64 letters, digits and . _ : @ -")
    .description("Add an operator; mint tokens for them with `dpki token create --operator NAME`")
    .addHelpText(
      "after",
      `
Every log entry, certificate record and \`cert show\` of a request made with one of their
tokens names the operator (operator:<name>).

Example:
  dpki operator add alice
  dpki token create --role operator --operator alice --expires 30d`,
    )
    .action(
      withContext(async ({ ops, out }, _opts, name: string) => {
        const o = await ops.operatorAdd(name);
        out.print(o, () => `Added operator ${o.name}\n`);
      }),
    );

  operator
    .command("list")
    .description("List operators and how many live tokens each has")
    .action(
      withContext(async ({ ops, out }) => {
        const all = await ops.operatorList();
        out.print(all, () => operatorTable(all));
      }),
    );

  operator
    .command("show")
    .argument("<name>")
    .description("Show one operator")
    .action(
      withContext(async ({ ops, out }, _opts, name: string) => {
        const o = await ops.operatorShow(name);
        out.print(o, () => operatorTable([o]));
      }),
    );

  operator
    .command("disable")
    .argument("<name>")
    .description("Disable an operator and revoke all their tokens at once")
    .action(
      withContext(async ({ ops, out }, _opts, name: string) => {
        const o = await ops.operatorDisable(name);
        out.print(
          o,
          () =>
            `Disabled operator ${o.name} at ${o.disabledAt}; revoked ${o.revokedTokens.length} token(s)` +
            (o.revokedTokens.length ? `: ${o.revokedTokens.join(", ")}` : "") +
            "\n",
        );
      }),
    );
  const totp = operator.command("totp").description("TOTP step-up (RFC 6238) for an operator's tokens");
  totp
    .command("enroll")
    .argument("<name>")
    .description("Enroll an operator in TOTP: prints the otpauth:// URI and its QR code for an authenticator app")
    .addHelpText(
      "after",
      `
From then on, each action the policy (config totpRequiredFor, default every write) names needs
a fresh 6-digit code when done with one of their tokens: --otp CODE, or the CLI asks for it on
a terminal; over HTTP it goes in the DPKI-OTP header. Enrolling again replaces the secret.
The URI holds the secret: it is shown here once, and stored only sealed.

Example:
  dpki operator totp enroll alice`,
    )
    .action(
      withContext(async ({ ops, out }, _opts, name: string) => {
        const enrolled = await ops.operatorTotpEnroll(name);
        if (out.json) return out.print(enrolled, () => "");
        const qr = await QRCode.toString(enrolled.uri, { type: "terminal", small: true });
        out.note(`Enrolled operator ${enrolled.operator.name} in TOTP (SHA-1, 6 digits, 30 s). Scan the code now: it is not shown again.`);
        process.stdout.write(qr + enrolled.uri + "\n");
      }),
    );
  return operator;
}

function operatorTable(all: OperatorView[]): string {
  return formatTable(all, [
    { header: "name", value: (o) => o.name },
    { header: "status", value: (o) => o.status },
    { header: "tokens", value: (o) => String(o.activeTokens) },
    { header: "created", value: (o) => shortDate(o.createdAt) },
    { header: "by", value: (o) => o.createdBy },
    { header: "totp", value: (o) => (o.totpEnrolledAt ? "enrolled" : "-") },
    { header: "disabled", value: (o) => (o.disabledAt ? shortDate(o.disabledAt) : "-") },
  ]);
}
