import type { Command } from "commander";
import type { LifecycleOperations } from "../src/lifecycle-operations.js";
import { LocalLifecycleOperations } from "../src/local-lifecycle-operations.js";
import { LocalDpsOperations } from "../src/local-dps-operations.js";
import { actorFor, globalOptions, localServices, remoteOptions, scopeResolver } from "./context.js";
import { createOutput, type Output } from "./output.js";
import { RemoteLifecycleOperations } from "./remote-lifecycle-operations.js";
import { RemoteDpsOperations } from "./remote-dps-operations.js";
import { action, type Opened } from "./run.js";

export interface LifecycleContext {
  lifecycle: LifecycleOperations;
  out: Output;
  /** The ID scope the command works in: --scope, DPKI_SCOPE, or the only scope there is. */
  scope(): Promise<string>;
}

/** The credential-lifecycle commands: LifecycleOperations on the local data directory, or through the HTTP API with --server. */
export function withLifecycle<P extends unknown[]>(
  body: (ctx: LifecycleContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return action(openLifecycle, body);
}

function openLifecycle(cmd: Command, opts: Record<string, unknown>): Opened<LifecycleContext> {
  const global = globalOptions(cmd);
  const remote = remoteOptions(cmd);
  const out = createOutput(Boolean(global.json));
  if (remote) {
    const lifecycle = new RemoteLifecycleOperations(remote);
    // Only needed to find the one scope when none is named.
    let dps: RemoteDpsOperations | undefined;
    return {
      ctx: { lifecycle, out, scope: scopeResolver(cmd, opts, () => (dps ??= new RemoteDpsOperations(remote))) },
      close: () => {
        lifecycle.close();
        dps?.close();
      },
    };
  }
  const services = localServices(global);
  const actor = actorFor(global);
  return {
    ctx: {
      lifecycle: new LocalLifecycleOperations(services, actor),
      out,
      scope: scopeResolver(cmd, opts, () => new LocalDpsOperations(services, actor)),
    },
    close: () => services.close(),
  };
}
