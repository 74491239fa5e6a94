import { execFileSync } from "node:child_process";
import { PG_DISABLED, startCluster } from "./helpers/postgres.js";

/** CLI tests spawn the built `dpki`; build once so they run the code under test, not a stale dist/. */
export default async function setup(): Promise<() => void> {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
  // One throwaway PostgreSQL cluster for the whole run; each test file makes its own databases in it.
  if (PG_DISABLED || process.env.DPKI_TEST_PG_URL) return () => {};
  const cluster = await startCluster({ fsync: "off", synchronous_commit: "off", full_page_writes: "off" });
  process.env.DPKI_TEST_PG_URL = cluster.url;
  return () => cluster.stop();
}
