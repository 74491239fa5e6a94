import type { Command } from "commander";
import { globalOptions, openContext, type CommandContext } from "./context.js";
import { reportError } from "./output.js";

/** What a command action works with, and how to let go of it. */
export interface Opened<C> {
  ctx: C;
  close(): Promise<void> | void;
}

/**
 * The skeleton every command action shares: open what it needs (local services or a remote
 * server), run the body, close, and turn any error into a message and the exit code its
 * error code maps to. Commander calls actions with (positionals…, options, command).
 */
export function action<C, P extends unknown[]>(
  open: (cmd: Command, opts: Record<string, unknown>) => Opened<C>,
  body: (ctx: C, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2] as Record<string, unknown>;
    let opened: Opened<C> | undefined;
    try {
      opened = open(cmd, opts);
      const code = await body(opened.ctx, opts, ...(args.slice(0, -2) as P));
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(globalOptions(cmd).json));
    } finally {
      await opened?.close();
    }
  };
}

/** Certificate, CRL, audit, token, CA and profile commands: the Operations facade. */
export function withContext<P extends unknown[]>(
  body: (ctx: CommandContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
  options: { workers?: boolean } = {},
) {
  return action((cmd) => {
    const ctx = openContext(cmd, options.workers);
    return { ctx, close: () => ctx.close() };
  }, body);
}

/** Commands that open nothing themselves (init, serve): the options and the command. */
export function withErrors<P extends unknown[]>(
  body: (opts: Record<string, unknown>, cmd: Command, ...positionals: P) => Promise<number | void>,
) {
  return action(
    (cmd) => ({ ctx: cmd, close: () => {} }),
    (cmd, opts, ...positionals: P) => body(opts, cmd, ...positionals),
  );
}
