import { Command, InvalidArgumentError } from "commander";
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { databaseUrlOf, openServices, requireInitialised, type Services } from "../../src/app.js";
import { dataDirAt, resolvePassphrase, type DataDir } from "../../src/data-dir.js";
import { AppError } from "../../src/errors.js";
import type { TlsSource } from "../../src/http/server.js";
import { globalOptions } from "../context.js";
import { withErrors } from "../run.js";

export const DEFAULT_PORT = 8443;
export const DEFAULT_HTTP_PORT = 8080;

export function serveCommand(): Command {
  return serveOptions(new Command("serve"))
    .description("Serve the HTTP API (HTTPS) on the local data directory")
    .addHelpText(
      "after",
      `
Without --tls-cert/--tls-key, dpki issues itself a certificate (profile "server") from its own
CA for localhost, 127.0.0.1, ::1, --host and the publicUrl host, keeps it in <data-dir>/tls/
(key encrypted with the CA passphrase) and renews it when a third of its life is left.
Clients trust <data-dir>/root.pem. Logs are JSON lines on standard output.
SIGTERM or SIGINT stops accepting connections, lets requests in flight finish, then exits.

Examples:
  dpki serve
  dpki serve --host 0.0.0.0 --port 443 --tls-cert pki.crt --tls-key pki.key
  curl --cacert .dpki/root.pem https://localhost:8443/v1/crl | openssl crl -inform DER -noout -text`,
    )
    .action(
      withErrors(async (opts, cmd) => {
        const global = globalOptions(cmd);
        await runServer(dataDirAt(global.dataDir), global.passphraseFile, serveSettings(opts), global.database);
      }),
    );
}

export interface ServeSettings {
  host: string;
  port: number;
  /** Also serve the DPS device endpoint on this port (its own listener and TLS settings). */
  dpsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp: boolean;
  /** The plain-HTTP listener of CRLs, OCSP and CA certificates; undefined: the default port, if free. */
  httpPort?: number | false;
  /** Threads building certificates; one per core when undefined. */
  workerThreads?: number;
}

export function serveOptions(cmd: Command): Command {
  return cmd
    .option("--port <port>", "TCP port", toPort, DEFAULT_PORT)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--tls-cert <file>", "server certificate chain (PEM) instead of a self-issued one")
    .option("--tls-key <file>", "its private key (PEM)")
    .option("--insecure-http", "serve plain HTTP (tokens cross the network in clear: only behind a TLS proxy)")
    .option(
      "--http-port <port>",
      `also serve CRLs, OCSP and CA certificates over plain HTTP here (default ${DEFAULT_HTTP_PORT}, if free)`,
      toPort,
    )
    .option("--no-http", "no plain-HTTP listener for CRLs, OCSP and CA certificates")
    .option("--workers <n>", "threads building certificates (default: one per core; nodes sharing a host split the cores)", toThreads)
    .option(
      "--dps-port <port>",
      "also serve the DPS device endpoint on this port (Azure SDKs use 443; see `dpki dps serve` for its options)",
      toPort,
    );
}

export function serveSettings(opts: Record<string, unknown>): ServeSettings {
  return {
    host: opts.host as string,
    port: opts.port as number,
    tlsCert: opts.tlsCert as string | undefined,
    tlsKey: opts.tlsKey as string | undefined,
    insecureHttp: Boolean(opts.insecureHttp),
    dpsPort: opts.dpsPort as number | undefined,
    httpPort: opts.http === false ? false : (opts.httpPort as number | undefined),
    workerThreads: opts.workers as number | undefined,
  };
}

/** Serves until SIGTERM/SIGINT, then drains and closes the store. */
export async function runServer(
  dataDir: DataDir,
  passphraseFile: string | undefined,
  settings: ServeSettings,
  database?: string,
): Promise<void> {
  const databaseUrl = databaseUrlOf({ database });
  requireInitialised(dataDir, databaseUrl);
  if (Boolean(settings.tlsCert) !== Boolean(settings.tlsKey)) {
    throw new AppError("invalid_argument", "--tls-cert and --tls-key go together");
  }
  if (settings.insecureHttp && settings.tlsCert)
    throw new AppError("invalid_argument", "--insecure-http and --tls-cert exclude each other");
  const passphrase = resolvePassphrase(dataDir, passphraseFile);
  const services = openServices({
    dataDir: dataDir.root,
    passphrase,
    workers: true,
    workerThreads: settings.workerThreads,
    database: databaseUrl,
    watch: true,
  });
  try {
    // Fail at start, not on the first request, when the CA or its key cannot be used.
    await services.ca.activeIssuer();
    const tls: TlsSource = settings.insecureHttp
      ? "none"
      : settings.tlsCert
        ? { cert: readFile(settings.tlsCert), key: readFile(settings.tlsKey!) }
        : { self: { passphrase } };
    // Loaded here, not at the top: other commands should not pay for express and the validator.
    const { startServer } = await import("../../src/http/server.js");
    // The default port is a convenience: busy, it is skipped with a warning; a port asked for must bind.
    const publicHttp =
      settings.httpPort === false
        ? undefined
        : settings.httpPort === undefined
          ? { port: DEFAULT_HTTP_PORT, optional: true }
          : { port: settings.httpPort };
    const running = await startServer(services, { host: settings.host, port: settings.port, tls, publicHttp });
    // The API already listens: a device port that cannot be bound must not leave it running.
    const devices =
      settings.dpsPort === undefined
        ? undefined
        : await startDevices(services, settings).catch(async (err: unknown) => {
            await running.close();
            throw err;
          });
    const hint = dataDir.root === dataDirAt(undefined).root ? "" : ` --data-dir ${relative(process.cwd(), dataDir.root) || "."}`;
    process.stderr.write(
      `\ndpki is listening on ${running.url}\n` +
        (running.rootPemFile
          ? `  trust:       ${running.rootPemFile}   (the roots in service, as \`dpki ca root\` prints them: curl --cacert ${running.rootPemFile} ${running.url}/v1/ca/chain)\n`
          : "") +
        (running.publicHttpUrl ? `  CRL, OCSP:   ${running.publicHttpUrl} (plain HTTP, public artefacts only)\n` : "") +
        (services.database.engine === "postgres" ? `  database:    PostgreSQL at ${services.database.where}\n` : "") +
        `  admin token: npx dpki token create --role admin${hint}\n` +
        `  remote CLI:  DPKI_SERVER=${running.url} DPKI_TOKEN=<token> npx dpki cert list\n` +
        (devices
          ? `  devices:     DPS endpoint on ${devices.url} (provisioningHost ${new URL(devices.url).hostname}; certificate names ${devices.names.join(", ")})\n`
          : "") +
        `  stop:        Ctrl-C (drains requests in flight)\n\n`,
    );
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", resolve);
      process.once("SIGINT", resolve);
    });
    await Promise.all([running.close(), devices?.close()]);
  } finally {
    await services.close();
  }
}

/** The DPS device endpoint with the defaults of `dpki dps serve`, beside the management API. */
async function startDevices(services: Services, settings: ServeSettings) {
  const { startDeviceListener, defaultListenerNames } = await import("../../src/dps/serve.js");
  return startDeviceListener(services, {
    host: settings.host,
    port: settings.dpsPort!,
    names: [...new Set([...defaultListenerNames(), settings.host])].filter((n) => n !== "0.0.0.0" && n !== "::"),
    rateLimit: { perSecond: 50, burst: 100 },
    respondWithinMs: 2000,
    retryAfterSeconds: 1,
    maxBodyBytes: 64 * 1024,
    actor: "system:serve",
  });
}

function readFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new AppError("not_found", `Cannot read ${file}`);
  }
}

export function toThreads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`"${value}" is not a thread count (1-256)`);
  return n;
}

function toPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a TCP port`);
  return n;
}
