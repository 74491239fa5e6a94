import { Command } from "commander";
import { formatTable } from "../output.js";
import { withContext } from "../run.js";

export function profileCommand(): Command {
  const profile = new Command("profile").description("Certificate profiles in force (policies/profiles.yaml)");
  profile
    .command("list")
    .description("List profiles and what each allows")
    .action(
      withContext(async ({ ops, out }) => {
        const profiles = await ops.profiles();
        out.print(profiles, () =>
          formatTable(profiles, [
            { header: "name", value: (p) => p.name },
            { header: "keys", value: (p) => p.keyAlgorithms.join(",") },
            { header: "validity (days)", value: (p) => `${p.defaultValidityDays}/${p.maxValidityDays}` },
            { header: "SANs", value: (p) => p.subjectAltNames.join(",") || "-" },
            { header: "EKU", value: (p) => p.extendedKeyUsage.join(",") },
            { header: "description", value: (p) => p.description },
          ]),
        );
      }),
    );
  return profile;
}
