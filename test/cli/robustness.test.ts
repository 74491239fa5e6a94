/** What no stored value or damaged file may do to the CLI: break verification, or hide behind "Internal error". */
import { createHash } from "node:crypto";
import { cpSync, openSync, readFileSync, truncateSync, writeSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { startTestServer } from "../http/harness.js";

const work = tempDir();
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "robust passphrase" };
const run = (args: string[], extra: Record<string, string | undefined> = {}) => dpki(args, { env: { ...env, ...extra } });

beforeAll(() => initDataDir(home, { passphrase: env.DPKI_PASSPHRASE, org: "Robust" }));

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

/** Every entry's time is at or after its predecessor's. */
function expectTimesFollowSeq(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT seq, at FROM audit_log ORDER BY seq").all() as Array<{ seq: number; at: string }>;
    for (let i = 1; i < rows.length; i++) {
      expect(Date.parse(rows[i]!.at), `entry ${rows[i]!.seq} is stamped before entry ${rows[i - 1]!.seq}`).toBeGreaterThanOrEqual(
        Date.parse(rows[i - 1]!.at),
      );
    }
    return rows.length;
  } finally {
    db.close();
  }
}

describe("log times follow the log's order across writers", () => {
  it("an entry stamped before another connection's later-committed one takes its predecessor's time", () => {
    const file = join(work, "two-writers.db");
    const first = new SqliteDb(file);
    const second = new SqliteDb(file);
    try {
      const t0 = Date.parse("2026-06-01T10:00:00.000Z");
      first.write(() => first.appendAudit({ at: new Date(t0 + 5), actor: "a", action: "x" }));
      // Stamped a millisecond earlier by a writer that reached the lock second.
      const late = second.write(() => second.appendAudit({ at: new Date(t0 + 4), actor: "b", action: "x" }));
      expect(late.seq).toBe(2);
      expect(late.at.toISOString()).toBe("2026-06-01T10:00:00.005Z");
      second.write(() => second.appendAudit({ at: new Date(t0 + 9), actor: "b", action: "x" }));
      expect(expectTimesFollowSeq(file)).toBe(3);
    } finally {
      first.close();
      second.close();
    }
  });

  it("several CLI processes writing at once leave seq order equal to time order, and a chain that verifies", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => dpkiAsync(["token", "create", "--role", "auditor", "--name", `concurrent-${i}`], { env })),
    );
    for (const r of results) expect(r.status, r.stderr).toBe(0);
    expectTimesFollowSeq(join(home, "dpki.db"));
    const verify = run(["audit", "verify"]);
    expect(verify.status, verify.stderr).toBe(0);
  });
});

describe("a damaged database file", () => {
  /** A copy of the working data directory, its database damaged by `damage`. */
  function damagedCopy(name: string, damage: (file: string) => void): Record<string, string> {
    const dir = join(work, name);
    cpSync(home, dir, { recursive: true });
    damage(join(dir, "dpki.db"));
    return { DPKI_HOME: dir };
  }
  const commands = [["cert", "list"], ["audit", "verify"], ["ca", "list"], ["token", "list"], ["crl"]];

  it("is named, with the file, and exits 69 for every command", async () => {
    const size = readFileSync(join(home, "dpki.db")).length;
    const cases: Array<[string, (file: string) => void, RegExp]> = [
      [
        "truncated",
        (file) => truncateSync(file, Math.floor(size / 2)),
        /it is truncated \(\d+ bytes, its header says \d+\) \(SQLITE_CORRUPT\)/,
      ],
      ["garbage", (file) => writeFileSync(file, Buffer.alloc(size, 0x5a)), /not an SQLite database \(SQLITE_NOTADB\)/],
      [
        "scribbled",
        (file) => {
          // Every page but the header's overwritten: the file still claims to be SQLite.
          const fd = openSync(file, "r+");
          for (let page = 1; page * 4096 < size; page++) writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, page * 4096);
          closeSync(fd);
        },
        /damaged or not a dpki database \(SQLITE_CORRUPT\)/,
      ],
    ];
    for (const [name, damage, problem] of cases) {
      const extra = damagedCopy(name, damage);
      // Each command reads its own damaged copy and changes nothing: they run side by side.
      const [json, ...results] = await Promise.all(
        [["cert", "list", "--json"], ...commands].map((args) => dpkiAsync(args, { env: { ...env, ...extra } })),
      );
      for (const [i, args] of commands.entries()) {
        const r = results[i]!;
        expect(r.stderr, `${name}: dpki ${args.join(" ")}`).toContain(`Cannot read the database ${join(extra.DPKI_HOME!, "dpki.db")}`);
        expect(r.stderr).toMatch(problem);
        expect(r.status).toBe(69);
      }
      expect(JSON.parse(json!.stderr).error.code).toBe("store_damaged");
    }
  });

  it("makes /readyz fail while the server runs", async () => {
    const t = await startTestServer();
    try {
      expect((await t.request("GET", "/readyz")).status).toBe(200);
      // Its header overwritten under the running server.
      const fd = openSync(t.services.dataDir.database, "r+");
      writeSync(fd, Buffer.alloc(100, 0x5a), 0, 100, 0);
      closeSync(fd);
      const r = await t.request("GET", "/readyz");
      expect(r.status, r.text).toBe(503);
      expect(r.json.code).toBe("store_damaged");
      expect(r.json.detail).toContain(t.services.dataDir.database);
    } finally {
      await t.close();
    }
  });
});
