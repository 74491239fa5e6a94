import type { Command } from "commander";
import { globalOptions, openContext, type CommandContext } from "./context.js";
import { createOutput, reportError, type Output } from "./output.js";
import { AppError } from "../src/errors.js";

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
function action<C, P extends unknown[]>(
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

/** Every command that works on the CA and its devices: one Operations, local or (with --server) remote. */
export function withContext<P extends unknown[]>(
  body: (ctx: CommandContext, opts: Record<string, unknown>, ...positionals: P) => Promise<number | void>,
  options: { workers?: boolean } = {},
) {
  return action((cmd, opts) => openContext(cmd, opts, options.workers), body);
}

/**
 * Commands that work on the local data directory only and open it themselves (init, serve,
 * quickstart, dps serve): the options and the command. They refuse the --server options rather
 * than ignore them, so `init --server URL` cannot quietly create a local CA.
 */
export function withErrors<P extends unknown[]>(
  body: (opts: Record<string, unknown>, cmd: Command, ...positionals: P) => Promise<number | void>,
) {
  return action(
    (cmd) => {
      refuseIgnored(cmd, LOCAL_ONLY_IGNORES);
      return { ctx: cmd, close: () => {} };
    },
    (cmd, opts, ...positionals: P) => body(opts, cmd, ...positionals),
  );
}

/**
 * Auditor commands that check files, or a URL of their own, with a verifier key (`audit verify
 * DIR|URL`, `audit verify-proof`): no data directory, passphrase or server. They refuse --server
 * rather than ignore it, so nobody believes a server was asked.
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
            `--server does not apply to \`dpki ${commandPath(cmd)}\`, which reads files or a URL of its own`,
          );
        }
      }
      return { ctx: cmd, close: () => {} };
    },
    (cmd, opts, ...positionals: P) => body(createOutput(Boolean(globalOptions(cmd).json)), opts, cmd, ...positionals),
  );
}

const LOCAL_ONLY_IGNORES = { server: "--server", token: "--token", caFile: "--ca-file" };

/** Fails with a usage error when an option the command would ignore was given on the command line. */
function refuseIgnored(cmd: Command, options: Record<string, string>): void {
  const given: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent)
    for (const [key, flag] of Object.entries(options)) if (c.getOptionValueSource(key) === "cli") given.push(flag);
  if (given.length > 0) {
    throw new AppError(
      "bad_request",
      `Option ${[...new Set(given)].join(", ")} does not apply to \`dpki ${commandPath(cmd)}\`, which works on the local data directory only`,
    );
  }
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}
