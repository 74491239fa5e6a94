import { userInfo } from "node:os";
import type { Command } from "commander";
import { openServices, type Services } from "../src/app.js";
import { LocalOperations } from "../src/local-operations.js";
import type { Operations } from "../src/operations.js";
import { createOutput, type Output } from "./output.js";

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  dataDir?: string;
  passphraseFile?: string;
  actor?: string;
  json?: boolean;
}

export interface CommandContext {
  ops: Operations;
  out: Output;
  close(): Promise<void>;
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

/** Opens the local data directory's services; the caller must close them. */
export function localServices(opts: GlobalOptions): Services {
  return openServices({ dataDir: opts.dataDir, passphraseFile: opts.passphraseFile });
}

export function openContext(cmd: Command): CommandContext {
  const opts = globalOptions(cmd);
  const services = localServices(opts);
  return {
    ops: new LocalOperations(services, actorFor(opts)),
    out: createOutput(Boolean(opts.json)),
    close: () => services.close(),
  };
}
