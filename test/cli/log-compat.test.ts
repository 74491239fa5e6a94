/**
 * A log written before entries carried a source and the policy hash on every entry (the rows of
 * fixtures/log-before-source.json, exactly as that dpki stored them, and the Merkle root it
 * signed over them) still verifies and proves with today's `dpki`, encodes to the same tree root,
 * and is extended by new entries — a changed profiles file announced first.
 */
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { logLeaf } from "../../src/core/audit/log-service.js";
import type { AuditEntryView } from "../../src/core/audit/audit-service.js";
import { leafHash, memorySubtrees, treeHash } from "../../tlog/merkle.js";
import { dpki } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";

interface Fixture {
  checkpoint: { size: number; root: string };
  rows: Array<Record<string, string | number | null>>;
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, "fixtures", "log-before-source.json"), "utf8")) as Fixture;
const work = tempDir();
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "compat test" };
const json = (args: string[], extra: Record<string, string> = {}) => {
  const r = dpki([...args, "--json"], { env: { ...env, ...extra } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(() => {
  expect(dpki(["init"], { env }).status).toBe(0);
  const db = new Database(join(env.DPKI_HOME, "dpki.db"));
  try {
    db.prepare("DELETE FROM audit_log").run();
    const insert = db.prepare(
      `INSERT INTO audit_log (seq, at, actor, action, subject, serial, profile, policy_hash, details, prev_hash, hash)
       VALUES (@seq, @at, @actor, @action, @subject, @serial, @profile, @policy_hash, @details, @prev_hash, @hash)`,
    );
    for (const row of fixture.rows) insert.run(row);
  } finally {
    db.close();
  }
});

let firstCheckpoint: number;

it("verifies the old entries, which give the tree root that dpki signed over them", async () => {
  expect(json(["audit", "verify"])).toMatchObject({ ok: true, entries: fixture.rows.length });
  const checkpoint = json(["audit", "checkpoint"]);
  const entries = json(["audit", "log", "--oldest-first", "--limit", "1000"]).items;
  const old = entries.slice(0, fixture.rows.length);
  expect(old.every((e: { details: Record<string, unknown> }) => !("source" in e.details))).toBe(true);
  const leaves = entries.map((e: AuditEntryView) => leafHash(logLeaf({ ...e, at: new Date(e.at) })));
  const root = async (n: number) => (await treeHash(memorySubtrees(leaves.slice(0, n)), n)).toString("base64");
  expect(await root(fixture.checkpoint.size)).toBe(fixture.checkpoint.root);
  // Today's first checkpoint covers them and, on top, the creation of the log's key and its certification by the root.
  expect(entries.slice(fixture.rows.length).map((e: { action: string }) => e.action)).toEqual(["log.key.create", "log.key.certify"]);
  expect(checkpoint.size).toBe(entries.length);
  expect(checkpoint.root).toBe(await root(entries.length));
  firstCheckpoint = checkpoint.size;
});

it("appends new entries with their source and policy hash, announcing the changed profiles, and still verifies and proves", () => {
  const oldHash = fixture.rows.find((r) => r.action === "cert.issue")!.policy_hash as string;
  const profiles = join(work, "profiles.yaml");
  writeFileSync(profiles, readFileSync(resolve(import.meta.dirname, "..", "..", "policies", "profiles.yaml"), "utf8") + "\n# edited\n");
  const newHash = createHash("sha256").update(readFileSync(profiles)).digest("hex");
  expect(newHash).not.toBe(oldHash);

  const csr = opensslCsr(work, "new", { subject: "/CN=new-device-1" });
  const issued = json(["cert", "issue", "--csr", csr, "--profile", "device"], { DPKI_PROFILES: profiles });
  const entries = json(["audit", "log", "--oldest-first", "--limit", "1000"]).items;
  const tail = entries.slice(-2);
  expect(tail.map((e: { action: string }) => e.action)).toEqual(["policy.change", "cert.issue"]);
  expect(tail[0]).toMatchObject({ actor: "system:policy", policyHash: newHash });
  expect(tail[0].details.previousPolicyHash).toMatch(/^[0-9a-f]{64}$/);
  expect(tail[1]).toMatchObject({ serial: issued.serial, policyHash: newHash, details: { source: "local" } });
  // Every entry this dpki wrote names the policy in force.
  for (const e of entries.slice(fixture.rows.length)) expect(e.policyHash, e.action).toMatch(/^[0-9a-f]{64}$/);

  expect(json(["audit", "verify"])).toMatchObject({ ok: true, entries: entries.length, checkpoint: { size: firstCheckpoint } });
  // A new checkpoint must extend the old root: dpki refuses to sign one that does not.
  expect(json(["audit", "checkpoint"]).size).toBe(entries.length);
  const oldIssue = fixture.rows.find((r) => r.action === "cert.issue")!;
  expect(json(["audit", "prove", "--entry", String(oldIssue.seq)])).toMatchObject({ seq: oldIssue.seq, action: "cert.issue" });
});
