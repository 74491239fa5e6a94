import type { Command } from "commander";
import { LocalLogOperations } from "../src/local-log-operations.js";
import type { LogOperations } from "../src/log-operations.js";
import { actorFor, globalOptions, localServices, remoteOptions } from "./context.js";
import { createOutput, type Output } from "./output.js";
import { RemoteLogOperations } from "./remote-log-operations.js";
import { action, type Opened } from "./run.js";
import { AppError } from "../src/errors.js";

export interface LogContext {
  log: LogOperations;
  out: Output;
}

/** Commands reading the verifiable log: the local data directory, or a server with --server. */
export function withLog<P extends unknown[]>(
  body: (ctx: LogContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return action(openLog, body);
}

function openLog(cmd: Command): Opened<LogContext> {
  const global = globalOptions(cmd);
  const out = createOutput(Boolean(global.json));
  const remote = remoteOptions(cmd);
  if (remote) {
    const log = new RemoteLogOperations(remote);
    return { ctx: { log, out }, close: () => log.close() };
  }
  const services = localServices(global);
  return { ctx: { log: new LocalLogOperations(services, actorFor(global)), out }, close: () => services.close() };
}

/**
 * Auditor commands that need no data directory, passphrase or server: files and a verifier key.
 * They refuse --server rather than ignore it, so nobody believes a server was asked.
 */
export function withOutput<P extends unknown[]>(
  body: (out: Output, opts: Record<string, unknown>, cmd: Command, ...positionals: P) => Promise<number | void>,
) {
  return action(
    (cmd) => {
      for (let c: Command | null = cmd; c; c = c.parent) {
        if (c.getOptionValueSource("server") === "cli") {
          throw new AppError(
            "bad_request",
            `--server does not apply to \`dpki audit ${cmd.name()}\`, which reads files or a URL of its own`,
          );
        }
      }
      return { ctx: cmd, close: () => {} };
    },
    (cmd, opts, ...positionals: P) => body(createOutput(Boolean(globalOptions(cmd).json)), opts, cmd, ...positionals),
  );
}
