import { Command } from "commander";
import { formatRecord } from "../output.js";
import { withContext } from "../run.js";
import { scopeOption } from "../dps-options.js";
import { enrollmentSubcommands } from "../enrollment-commands.js";
import { revokeEnrollmentCommand } from "./credentials.js";

export function groupCommand(): Command {
  const group = new Command("group")
    .description("Enrollment groups: many devices sharing a CA (X.509) or a group key (symmetric key)")
    .addHelpText(
      "after",
      `
Devices of a symmetric-key group use keys derived from the group key:
HMAC-SHA256(groupKey, registrationId), base64 (see derive-key).

Examples:
  dpki group add sensors --allow-id "sensor-*" --hub eu-1 --hub eu-2
  dpki group derive-key sensors sensor-0042
  dpki group add vendor-a --cert vendor-a-root.pem --profile device`,
    );
  enrollmentSubcommands(group, "group");

  scopeOption(group.command("derive-key"))
    .argument("<group-id>", "symmetric-key enrollment group")
    .argument("<registration-id>", "the device's registration id (case-sensitive)")
    .description("Print a group member's device keys (for provisioning it at the factory)")
    .action(
      withContext(async ({ ops, out, scope }, _opts, groupId: string, registrationId: string) => {
        const k = await ops.groupDeriveKey(await scope(), groupId, registrationId);
        out.print(k, () =>
          formatRecord([
            ["registration id", k.registrationId],
            ["primary key", k.primaryKey],
            ["secondary key", k.secondaryKey],
          ]),
        );
      }),
    );
  group.addCommand(revokeEnrollmentCommand("group"));
  return group;
}
