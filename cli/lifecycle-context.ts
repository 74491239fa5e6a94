import type { Command } from "commander";
import { dataDirAt } from "../src/data-dir.js";
import { serverTlsFiles } from "../src/http/server-certificate.js";
import type { LifecycleOperations } from "../src/lifecycle-operations.js";
import { LocalLifecycleOperations } from "../src/local-lifecycle-operations.js";
import { actorFor, globalOptions, localServices } from "./context.js";
import { createOutput, reportError, type Output } from "./output.js";
import { RemoteLifecycleOperations } from "./remote-lifecycle-operations.js";
import type { RemoteOptions } from "./remote-operations.js";
import { RemoteDpsOperations } from "./remote-dps-operations.js";
import { LocalDpsOperations } from "../src/local-dps-operations.js";
import type { DpsOperations } from "../src/dps-operations.js";
import { AppError } from "../src/errors.js";

export interface LifecycleContext {
  lifecycle: LifecycleOperations;
  out: Output;
  /** The ID scope the command works in: --scope, DPKI_SCOPE, or the only scope there is. */
  scope(): Promise<string>;
}

/** The --server settings of a command, or null in local mode. */
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

/**
 * Like withContext, for the credential-lifecycle commands: LifecycleOperations on the local data
 * directory, or through the HTTP API with --server; errors become their exit codes.
 */
export function withLifecycle<P extends unknown[]>(
  body: (ctx: LifecycleContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2] as Record<string, unknown>;
    const global = globalOptions(cmd);
    let close: (() => Promise<void> | void) | undefined;
    try {
      const remote = remoteOptions(cmd);
      let lifecycle: LifecycleOperations;
      let dps: () => DpsOperations;
      if (remote) {
        const ops = new RemoteLifecycleOperations(remote);
        let remoteDps: RemoteDpsOperations | undefined;
        lifecycle = ops;
        dps = () => (remoteDps ??= new RemoteDpsOperations(remote));
        close = () => {
          ops.close();
          remoteDps?.close();
        };
      } else {
        const services = localServices(global);
        lifecycle = new LocalLifecycleOperations(services, actorFor(global));
        dps = () => new LocalDpsOperations(services, actorFor(global));
        close = () => services.close();
      }
      const explicit = (opts.scope as string | undefined) ?? (cmd.optsWithGlobals().scope as string | undefined) ?? process.env.DPKI_SCOPE;
      const scope = async () => {
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
      const code = await body({ lifecycle, out: createOutput(Boolean(global.json)), scope }, opts, ...(args.slice(0, -2) as P));
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(global.json));
    } finally {
      await close?.();
    }
  };
}
