import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import LongestFirstSequencer from "./test/helpers/sequencer.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // @peculiar/x509 needs the reflect polyfill loaded before it is imported.
    setupFiles: ["reflect-metadata"],
    globalSetup: ["test/global-setup.ts"],
    // Many tests run the CLI, openssl or a server in child processes, one after another: on a
    // loaded 2-core machine each launch can take seconds, so the budget is not a minute.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Vitest's default is one worker per core less one: a single worker on a 2-core machine, so
    // files ran one after another. Most of the suite's time is spent in CLI, openssl and server
    // child processes the worker waits on, so one worker per core keeps the cores busy.
    maxWorkers: Math.max(2, availableParallelism()),
    sequence: { sequencer: LongestFirstSequencer },
  },
});
