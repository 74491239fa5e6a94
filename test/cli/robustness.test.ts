/** What no stored value or damaged file may do to the CLI: break verification, or hide behind "Internal error". */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";

const work = tempDir();
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "robust passphrase" };
const run = (args: string[], extra: Record<string, string | undefined> = {}) => dpki(args, { env: { ...env, ...extra } });

beforeAll(() => {
  const init = run(["init", "--org", "Robust"]);
  expect(init.status, init.stderr).toBe(0);
});

describe("the audit log", () => {
  it("verifies with an entry nested 5,000 levels deep written straight into the store", () => {
    const db = new Database(join(home, "dpki.db"));
    try {
      const last = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
      const seq = last.seq + 1;
      const at = new Date().toISOString();
      const details = `{"twin":${'{"a":'.repeat(5000)}{}${"}".repeat(5000)}}`;
      // The canonical form by hand: its keys are sorted already.
      const canonical = `["dpki-audit-v1",${seq},"${at}","intruder","dps.register",null,null,null,null,${details},"${last.hash}"]`;
      const hash = createHash("sha256").update(canonical).digest("hex");
      db.prepare(
        `INSERT INTO audit_log (seq, at, actor, action, subject, serial, profile, policy_hash, details, prev_hash, hash)
         VALUES (?, ?, 'intruder', 'dps.register', NULL, NULL, NULL, NULL, ?, ?, ?)`,
      ).run(seq, at, details, last.hash, hash);
    } finally {
      db.close();
    }
    const verify = run(["audit", "verify"]);
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^Log intact: \d+ entries/);
  });
});
