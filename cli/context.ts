import { createInterface } from "node:readline/promises";
import { userInfo } from "node:os";
import type { Command } from "commander";
import { openServices } from "../src/app.js";
import { LocalOperations } from "../src/operations/local-operations.js";
import type { Operations } from "../src/operations/operations.js";
import { createOutput, type Output } from "./output.js";
import { dataDirAt } from "../src/data-dir.js";
import { serverTlsFiles } from "../src/http/tls-files.js";
import { ApiClient, type RemoteOptions } from "./remote/api-client.js";
import { RemoteOperations } from "./remote/remote-operations.js";
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
  /** One-time password for --server (TOTP step-up). */
  otp?: string;
  /** CA file to trust for --server (default: the system roots plus <data-dir>/root.pem when present). */
  caFile?: string;
}

/** What every command that works on the CA and its devices gets, locally or with --server. */
export interface CommandContext {
  ops: Operations;
  out: Output;
  /** The ID scope a provisioning command works in: --scope, DPKI_SCOPE, or the only scope there is. */
  scope(): Promise<string>;
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

/**
 * The one place a command's Operations are built: through the HTTP API with --server (or
 * DPKI_SERVER), else on the local data directory's services. `workers`: the command issues in
 * bulk, so local mode builds certificates on a worker per core.
 */
export function openContext(
  cmd: Command,
  opts: Record<string, unknown>,
  workers = false,
): { ctx: CommandContext; close(): Promise<void> | void } {
  const global = globalOptions(cmd);
  const out = createOutput(Boolean(global.json));
  const remote = remoteOptions(cmd);
  if (remote) {
    const api = new ApiClient(remote);
    const ops = new RemoteOperations(api);
    return { ctx: { ops, out, scope: scopeResolver(cmd, opts, ops) }, close: () => api.close() };
  }
  const services = openServices({ dataDir: global.dataDir, passphraseFile: global.passphraseFile, workers, database: global.database });
  const ops = new LocalOperations(services, actorFor(global));
  return { ctx: { ops, out, scope: scopeResolver(cmd, opts, ops) }, close: () => services.close() };
}

/** The --server settings of a command (or DPKI_SERVER/DPKI_TOKEN), or null in local mode. */
function remoteOptions(cmd: Command): RemoteOptions | null {
  const global = globalOptions(cmd);
  const server = global.server ?? process.env.DPKI_SERVER;
  if (!server) return null;
  return {
    server,
    token: global.token ?? process.env.DPKI_TOKEN,
    otp: global.otp,
    askOtp: process.stdin.isTTY && process.stderr.isTTY ? askOtp : undefined,
    caFile: global.caFile,
    defaultCaFile: serverTlsFiles(dataDirAt(global.dataDir).root).root,
  };
}

function scopeResolver(cmd: Command, opts: Record<string, unknown>, ops: Operations): () => Promise<string> {
  const explicit = (opts.scope as string | undefined) ?? (cmd.optsWithGlobals().scope as string | undefined) ?? process.env.DPKI_SCOPE;
  return async () => {
    if (explicit) return explicit;
    const scopes = await ops.scopeList();
    if (scopes.length === 1) return scopes[0]!.idScope;
    throw new AppError(
      "invalid_argument",
      scopes.length === 0
        ? "No ID scope yet: create one with `dpki scope add`"
        : `Several ID scopes exist (${scopes.map((s) => s.idScope).join(", ")}): pass --scope ID or set DPKI_SCOPE`,
    );
  };
}

/** Prompts for the one-time password of the operator's authenticator app. */
async function askOtp(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question("One-time password: ")).trim();
  } finally {
    rl.close();
  }
}
