import type { Command } from "commander";
import { globalOptions, openContext, type CommandContext } from "./context.js";
import { reportError } from "./output.js";

/**
 * Wraps a command action: opens the context (local services or a remote server), runs the
 * body, closes, and turns any error into a message and the exit code its error code maps to.
 * Commander calls actions with (positionals…, options, command).
 */
export function withContext<P extends unknown[]>(
  body: (ctx: CommandContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
  options: { workers?: boolean } = {},
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2] as Record<string, unknown>;
    const positionals = args.slice(0, -2) as P;
    let ctx: CommandContext | undefined;
    try {
      ctx = openContext(cmd, options.workers);
      const code = await body(ctx, opts, ...positionals);
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(globalOptions(cmd).json));
    } finally {
      await ctx?.close();
    }
  };
}

/** Same error handling for commands that do not need a context (init, serve). */
export function withErrors<P extends unknown[]>(
  body: (opts: Record<string, unknown>, cmd: Command, ...positionals: P) => Promise<number | void>,
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2] as Record<string, unknown>;
    try {
      const code = await body(opts, cmd, ...(args.slice(0, -2) as P));
      if (code) process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(globalOptions(cmd).json));
    }
  };
}
