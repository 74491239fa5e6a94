import { userInfo } from "node:os";
import type { Command } from "commander";
import { openServices, type Services } from "../src/app.js";
import { LocalOperations } from "../src/local-operations.js";
import type { Operations } from "../src/operations.js";
import { createOutput, type Output } from "./output.js";
import { dataDirAt } from "../src/data-dir.js";
import { serverTlsFiles } from "../src/http/tls-files.js";
import { RemoteOperations, type RemoteOptions } from "./remote-operations.js";
import type { DpsOperations } from "../src/dps-operations.js";
import { AppError } from "../src/errors.js";

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  dataDir?: string;
  passphraseFile?: string;
  /** PostgreSQL URL (else env DPKI_DATABASE_URL); the data directory's SQLite file without one. */
  database?: string;
  actor?: string;
  json?: boolean;
  /** A dpki server to work through instead of the local data directory (else env DPKI_SERVER). */
  server?: string;
  /** API token for --server (else env DPKI_TOKEN). */
  token?: string;
  /** CA file to trust for --server (default: the system roots plus <data-dir>/root.pem when present). */
  caFile?: string;
}

export interface CommandContext {
  ops: Operations;
  out: Output;
  close(): Promise<void>;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function actorFor(opts: GlobalOptions): string {
  if (opts.actor) return opts.actor;
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli:unknown";
  }
}

/** Opens the local data directory's services; the caller must close them. */
export function localServices(opts: GlobalOptions, workers = false): Services {
  return openServices({ dataDir: opts.dataDir, passphraseFile: opts.passphraseFile, workers, database: opts.database });
}

/** `workers`: the command issues in bulk, so local mode builds certificates on a worker per core. */
export function openContext(cmd: Command, workers = false): CommandContext {
  const opts = globalOptions(cmd);
  const server = remoteOptions(cmd);
  if (server) {
    const remote = new RemoteOperations(server);
    return { ops: remote, out: createOutput(Boolean(opts.json)), close: async () => remote.close() };
  }
  const services = localServices(opts, workers);
  return {
    ops: new LocalOperations(services, actorFor(opts)),
    out: createOutput(Boolean(opts.json)),
    close: () => services.close(),
  };
}

/** The --server settings of a command (or DPKI_SERVER/DPKI_TOKEN), or null in local mode. */
export function remoteOptions(cmd: Command): RemoteOptions | null {
  const global = globalOptions(cmd);
  const server = global.server ?? process.env.DPKI_SERVER;
  if (!server) return null;
  return {
    server,
    token: global.token ?? process.env.DPKI_TOKEN,
    caFile: global.caFile,
    defaultCaFile: serverTlsFiles(dataDirAt(global.dataDir).root).root,
  };
}

/** The ID scope a provisioning command works in: --scope, DPKI_SCOPE, or the only scope there is. */
export function scopeResolver(cmd: Command, opts: Record<string, unknown>, dps: () => DpsOperations): () => Promise<string> {
  const explicit = (opts.scope as string | undefined) ?? (cmd.optsWithGlobals().scope as string | undefined) ?? process.env.DPKI_SCOPE;
  return async () => {
    if (explicit) return explicit;
    const scopes = await dps().scopeList();
    if (scopes.length === 1) return scopes[0]!.idScope;
    throw new AppError(
      "invalid_argument",
      scopes.length === 0
        ? "No ID scope yet: create one with `dpki scope add`"
        : `Several ID scopes exist (${scopes.map((s) => s.idScope).join(", ")}): pass --scope ID or set DPKI_SCOPE`,
    );
  };
}
