import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The installed package's root, found the same way from src/ (tests) and dist/ (built CLI). */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "package.json")) && existsSync(join(d, "policies"))) return d;
    if (dirname(d) === d) throw new Error("Cannot find the dpki package root");
  }
}
