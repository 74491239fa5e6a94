import { Command, InvalidArgumentError } from "commander";
import { readFileSync } from "node:fs";
import { databaseUrlOf, openServices, requireInitialised } from "../../src/app.js";
import { dataDirAt, resolvePassphrase } from "../../src/data-dir.js";
import { parseDuration } from "../../src/duration.js";
import { AppError } from "../../src/errors.js";
import { defaultListenerNames, startDeviceListener } from "../../src/dps/serve.js";
import { writeRootPem } from "../../src/http/server-certificate.js";
import { actorFor, globalOptions } from "../context.js";
import { withErrors } from "../run.js";
import { toThreads } from "./serve.js";

export function dpsCommand(): Command {
  const dps = new Command("dps").description("The DPS-compatible device endpoint");

  dps
    .command("serve")
    .description("Serve device registration (Azure DPS HTTPS protocol) on its own port")
    .option("--host <address>", "address to listen on", "0.0.0.0")
    .option("--port <port>", "TCP port (Azure SDKs always use 443)", toInt, 443)
    .option("--name <host>", "host name or IP devices use; SAN of the self-issued certificate (repeatable)", collect)
    .option("--tls-cert <file>", "certificate chain (PEM) instead of a self-issued one")
    .option("--tls-key <file>", "its private key (PEM)")
    .option("--rate <n>", "requests per second per source address; 0 turns flood control off", toInt, 50)
    .option("--burst <n>", "requests a source may make at once (default: 2 x rate)", toInt)
    .option(
      "--respond-within <duration>",
      'answer at once when done within this time, else 202 and let devices poll; "0" always polls like Azure DPS',
      "2s",
    )
    .option("--retry-after <seconds>", "Retry-After on 202 answers", toInt, 1)
    .option("--max-body <bytes>", "largest request body", toInt, 64 * 1024)
    .option("--workers <n>", "threads building certificates (default: one per core; nodes sharing a host split the cores)", toThreads)
    .option("--webhook-ca <file>", "CA certificate (PEM) trusted for custom allocation webhooks besides the system roots and dpki's root")
    .addHelpText(
      "after",
      `
Devices register with PUT /{idScope}/registrations/{registrationId}/register (symmetric key:
SAS token in Authorization; X.509: TLS client certificate) and poll GET .../operations/{id}.
A body field "csr" (base64 DER PKCS#10, CN = registration id) returns the issued chain in
registrationState.issuedCertificateChain. Point the Azure IoT device SDK at this host
(provisioningHost) and trust dpki's root (NODE_EXTRA_CA_CERTS=<data-dir>/root.pem).
Logs are JSON lines on standard output. SIGTERM or SIGINT stops it.

Examples:
  sudo dpki dps serve --name dps.example.net
  dpki dps serve --port 8443 --name localhost --respond-within 0`,
    )
    .action(
      withErrors(async (opts, cmd) => {
        const global = globalOptions(cmd);
        const dataDir = dataDirAt(global.dataDir);
        const database = databaseUrlOf(global);
        requireInitialised(dataDir, database);
        if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new AppError("invalid_argument", "--tls-cert and --tls-key go together");
        const rate = opts.rate as number;
        const passphrase = resolvePassphrase(dataDir, global.passphraseFile);
        const webhookCa = opts.webhookCa ? [read(opts.webhookCa as string).toString("utf8")] : [];
        const services = openServices({
          dataDir: dataDir.root,
          passphrase,
          workers: true,
          workerThreads: opts.workers as number | undefined,
          webhookCa,
          database,
          watch: true,
        });
        try {
          await services.ca.activeIssuer();
          const rootFile = await writeRootPem(services);
          const running = await startDeviceListener(services, {
            host: opts.host as string,
            port: opts.port as number,
            tls: opts.tlsCert ? { cert: read(opts.tlsCert as string), key: read(opts.tlsKey as string) } : undefined,
            names: (opts.name as string[] | undefined) ?? defaultListenerNames(),
            rateLimit: rate > 0 ? { perSecond: rate, burst: (opts.burst as number | undefined) ?? rate * 2 } : false,
            respondWithinMs: opts.respondWithin === "0" ? 0 : parseDuration(opts.respondWithin as string),
            retryAfterSeconds: opts.retryAfter as number,
            maxBodyBytes: opts.maxBody as number,
            actor: actorFor(global),
          });
          process.stderr.write(
            `\ndpki device endpoint listening on ${running.url}  (certificate names: ${running.names.join(", ")})\n` +
              `  devices: provisioningHost = ${new URL(running.url).hostname}, trust ${rootFile} (NODE_EXTRA_CA_CERTS)\n` +
              `  stop:    Ctrl-C\n\n`,
          );
          await new Promise<void>((resolve) => {
            process.once("SIGTERM", resolve);
            process.once("SIGINT", resolve);
          });
          await running.close();
        } finally {
          await services.close();
        }
      }),
    );
  return dps;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new AppError("not_found", `Cannot read ${file}`);
  }
}

function toInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return n;
}
