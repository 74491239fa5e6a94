import type { Command } from "commander";
import { dataDirAt } from "../src/data-dir.js";
import { serverTlsFiles } from "../src/http/server-certificate.js";
import type { LifecycleOperations } from "../src/lifecycle-operations.js";
import { LocalLifecycleOperations } from "../src/local-lifecycle-operations.js";
import { actorFor, globalOptions, localServices } from "./context.js";
import { createOutput, reportError, type Output } from "./output.js";
import { RemoteLifecycleOperations } from "./remote-lifecycle-operations.js";
import type { RemoteOptions } from "./remote-operations.js";

export interface LifecycleContext {
  lifecycle: LifecycleOperations;
  out: Output;
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
      if (remote) {
        const ops = new RemoteLifecycleOperations(remote);
        lifecycle = ops;
        close = () => ops.close();
      } else {
        const services = localServices(global);
        lifecycle = new LocalLifecycleOperations(services, actorFor(global));
        close = () => services.close();
      }
      const code = await body({ lifecycle, out: createOutput(Boolean(global.json)) }, opts, ...(args.slice(0, -2) as P));
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(global.json));
    } finally {
      await close?.();
    }
  };
}
