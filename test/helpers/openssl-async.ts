import { execFile } from "node:child_process";

/**
 * Runs openssl without blocking the event loop: needed whenever the server under test lives
 * in the test's own process (spawnSync would freeze it and the two would wait on each other).
 */
export function opensslAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("openssl", args, { timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
