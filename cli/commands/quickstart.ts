import { Command } from "commander";
import { openServices } from "../../src/app.js";
import { dataDirAt } from "../../src/data-dir.js";
import { actorFor, globalOptions } from "../context.js";
import { withErrors } from "../run.js";
import { initDataDir } from "./init.js";
import { DEFAULT_PORT, runServer, serveOptions, serveSettings } from "./serve.js";

const DEFAULT_DPS_PORT = 8444;

export function quickstartCommand(): Command {
  return serveOptions(new Command("quickstart"))
    .description(
      "Development setup in one step: create a dev CA on first start (in ./.dpki or DPKI_HOME), then serve the API and the DPS device endpoint (--dps-port, default 8444)",
    )
    .addHelpText(
      "after",
      `
The development CA keeps its passphrase in <data-dir>/dev-passphrase: never use it in
production (use \`dpki init\` with a passphrase, then \`dpki serve\`). \`npm start\` runs this.`,
    )
    .action(
      withErrors(async (opts, cmd) => {
        const global = globalOptions(cmd);
        const dataDir = dataDirAt(global.dataDir);
        // The whole product in one step: the management API and the DPS device endpoint.
        const settings = { ...serveSettings(opts), dpsPort: (opts.dpsPort as number | undefined) ?? DEFAULT_DPS_PORT };
        const probe = openServices({ dataDir: dataDir.root, create: true, database: global.database });
        const hasCa = (await probe.ca.list().finally(() => probe.close())).length > 0;
        if (!hasCa) {
          await initDataDir({
            dataDir,
            algorithm: "P-256",
            org: "dpki dev",
            publicUrl: `${settings.insecureHttp ? "http" : "https"}://localhost:${settings.port || DEFAULT_PORT}`,
            dev: true,
            passphraseFile: global.passphraseFile,
            actor: actorFor(global),
            database: global.database,
          });
          process.stderr.write(`Created a development CA in ${dataDir.root} (passphrase in ${dataDir.devPassphrase}: development only)\n`);
        }
        await runServer(dataDir, global.passphraseFile, settings, global.database);
      }),
    );
}
