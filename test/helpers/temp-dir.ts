import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const made: string[] = [];

// Registered when a test file first imports this module, so it belongs to the file itself: an
// afterAll registered from inside a running test (tempDir() called in an `it`) never runs.
// File-level after-hooks run last, after the hooks that close services living in these dirs.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory removed after the file's tests, wherever in the file it is made. */
export function tempDir(prefix = "dpki-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
