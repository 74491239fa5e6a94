import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Longest files first, so no worker is left with a long file while the others are done. Vitest
 * does that when it has the durations of an earlier run (node_modules/.vite); without them (a fresh
 * checkout, a new file) it orders by file size, and the slowest files here are small ones that
 * run the CLI or a server in child processes. Those are estimated from what they import.
 */
export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const estimate = new Map(files.map((file) => [file, this.estimate(file)]));
    return [...files].sort((a, b) => {
      const [ea, eb] = [estimate.get(a)!, estimate.get(b)!];
      if (ea.failed !== eb.failed) return ea.failed ? -1 : 1;
      return eb.ms - ea.ms;
    });
  }

  private estimate(file: TestSpecification): { ms: number; failed: boolean } {
    const key = `${file.project.name}:${relative(this.ctx.config.root, file.moduleId)}`;
    const cached = this.ctx.cache.getFileTestResults(key);
    if (cached) return { ms: cached.duration, failed: Boolean(cached.failed) };
    const source = readFileSync(file.moduleId, "utf8");
    const spawns = /helpers\/cli\.js|"bin", "dpki\.js"/.test(source);
    // Rough: 10 s for a file that launches processes, else by size (about 1 s per 10 kB).
    return { ms: spawns ? 10_000 + source.length / 10 : source.length / 10, failed: false };
  }
}
