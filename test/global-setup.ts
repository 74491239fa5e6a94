import { execFileSync } from "node:child_process";

/** CLI tests spawn the built `dpki`; build once so they run the code under test, not a stale dist/. */
export default function setup(): void {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
}
