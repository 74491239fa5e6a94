import { Command } from "commander";
import { enrollmentSubcommands } from "../enrollment-commands.js";
import { revokeEnrollmentCommand } from "./credentials.js";

export function enrollmentCommand(): Command {
  const enrollment = new Command("enrollment")
    .description("Individual enrollments: one device each, by registration id (wins over any group)")
    .addHelpText(
      "after",
      `
Examples:
  dpki enrollment add dev-001                                  symmetric key, keys shown once
  dpki enrollment add dev-002 --cert dev-002.pem --hub eu-1    X.509 by device certificate
  dpki enrollment update dev-001 --allocation static --hub eu-1 --reprovision never
  dpki enrollment disable dev-001`,
    );
  return enrollmentSubcommands(enrollment, "individual").addCommand(revokeEnrollmentCommand("individual"));
}
