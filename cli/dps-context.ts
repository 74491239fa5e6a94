import type { Command } from "commander";
import { LocalDpsOperations } from "../src/local-dps-operations.js";
import type { DpsOperations } from "../src/dps-operations.js";
import { AppError } from "../src/errors.js";
import { dataDirAt } from "../src/data-dir.js";
import { serverTlsFiles } from "../src/http/server-certificate.js";
import { actorFor, globalOptions, localServices } from "./context.js";
import { createOutput, reportError, type Output } from "./output.js";
import { RemoteDpsOperations } from "./remote-dps-operations.js";

export interface DpsContext {
  dps: DpsOperations;
  out: Output;
  /** The ID scope the command works in: --scope, DPKI_SCOPE, or the only scope there is. */
  scope(): Promise<string>;
}

/**
 * Like withContext, for the provisioning commands: DpsOperations on the local data directory,
 * or through the HTTP API with --server; errors become their exit codes.
 */
export function withDps<P extends unknown[]>(
  body: (ctx: DpsContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2] as Record<string, unknown>;
    const global = globalOptions(cmd);
    let close: (() => Promise<void> | void) | undefined;
    try {
      const server = global.server ?? process.env.DPKI_SERVER;
      let dps: DpsOperations;
      if (server) {
        const remote = new RemoteDpsOperations({
          server,
          token: global.token ?? process.env.DPKI_TOKEN,
          caFile: global.caFile,
          defaultCaFile: serverTlsFiles(dataDirAt(global.dataDir).root).root,
        });
        dps = remote;
        close = () => remote.close();
      } else {
        const services = localServices(global);
        dps = new LocalDpsOperations(services, actorFor(global));
        close = () => services.close();
      }
      const explicit = (opts.scope as string | undefined) ?? (cmd.optsWithGlobals().scope as string | undefined) ?? process.env.DPKI_SCOPE;
      const scope = async () => {
        if (explicit) return explicit;
        const scopes = await dps.scopeList();
        if (scopes.length === 1) return scopes[0]!.idScope;
        throw new AppError(
          "invalid_argument",
          scopes.length === 0
            ? "No ID scope yet: create one with `dpki scope add`"
            : `Several ID scopes exist (${scopes.map((s) => s.idScope).join(", ")}): pass --scope ID or set DPKI_SCOPE`,
        );
      };
      const code = await body({ dps, out: createOutput(Boolean(global.json)), scope }, opts, ...(args.slice(0, -2) as P));
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(global.json));
    } finally {
      await close?.();
    }
  };
}
