import type { Command } from "commander";
import { LocalDpsOperations } from "../src/local-dps-operations.js";
import type { DpsOperations } from "../src/dps-operations.js";
import { actorFor, globalOptions, localServices, remoteOptions, scopeResolver } from "./context.js";
import { createOutput, type Output } from "./output.js";
import { RemoteDpsOperations } from "./remote-dps-operations.js";
import { action, type Opened } from "./run.js";

export interface DpsContext {
  dps: DpsOperations;
  out: Output;
  /** The ID scope the command works in: --scope, DPKI_SCOPE, or the only scope there is. */
  scope(): Promise<string>;
}

/** The provisioning commands: DpsOperations on the local data directory, or through the HTTP API with --server. */
export function withDps<P extends unknown[]>(
  body: (ctx: DpsContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return action(openDps, body);
}

function openDps(cmd: Command, opts: Record<string, unknown>): Opened<DpsContext> {
  const global = globalOptions(cmd);
  const remote = remoteOptions(cmd);
  const out = createOutput(Boolean(global.json));
  if (remote) {
    const dps = new RemoteDpsOperations(remote);
    return { ctx: { dps, out, scope: scopeResolver(cmd, opts, () => dps) }, close: () => dps.close() };
  }
  const services = localServices(global);
  const dps = new LocalDpsOperations(services, actorFor(global));
  return { ctx: { dps, out, scope: scopeResolver(cmd, opts, () => dps) }, close: () => services.close() };
}
