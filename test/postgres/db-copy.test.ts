/**
 * Moving an installation from its SQLite file to PostgreSQL with `dpki db copy`, as an
 * operator does: every record comes along (sealed device keys, tokens, the log, its Merkle tree
 * and signed checkpoint), the log still verifies against that checkpoint, and the installation
 * goes on from where it was.
 */
import Database from "better-sqlite3";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { createDatabase, describePg, PG_DISABLED } from "../helpers/postgres.js";

const SCOPE = "0ne00COPY0";
let work: string;
let env: Record<string, string>;

const run = (args: string[], extra: Record<string, string> = {}) => dpki(args, { env: { ...env, ...extra } });
const json = (args: string[], extra: Record<string, string> = {}) => {
  const r = run([...args, "--json"], extra);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

/** A SQLite installation with something of everything in it. */
beforeAll(() => {
  if (PG_DISABLED) return;
  work = tempDir();
  env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "copy me" };
  expect(run(["init"]).status).toBe(0);
  for (let i = 0; i < 5; i++) {
    const csr = opensslCsr(work, `c${i}`, { subject: `/CN=copied-${i}` });
    json(["cert", "issue", "--csr", csr, "--profile", "device", "--out", join(work, `c${i}.pem`)]);
  }
  const serial = json(["cert", "list"]).items[0].serial as string;
  json(["cert", "revoke", serial, "--reason", "keyCompromise"]);
  json(["scope", "add", SCOPE]);
  json(["hub", "add", "hub-1", "--host-name", "hub-1.example.net", "--scope", SCOPE]);
  json(["enrollment", "add", "dev-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE]);
  json(["token", "create", "--role", "auditor", "--name", "auditor"]);
  json(["audit", "checkpoint"]);
  json(["cert", "list"]);
}, 120_000);

describePg("dpki db copy", () => {
  it("copies a SQLite installation into PostgreSQL, verified, and the installation goes on there", async () => {
    const url = await createDatabase();
    const before = {
      certs: json(["cert", "list"]).items,
      enrollment: json(["enrollment", "show", "dev-1", "--scope", SCOPE]),
      tokens: json(["token", "list"]),
      verify: json(["audit", "verify"]),
    };
    const sqliteFile = join(env.DPKI_HOME!, "dpki.db");
    const copy = run(["db", "copy", "--from", `sqlite:${sqliteFile}`, "--to", url, "--json"]);
    expect(copy.status, copy.stderr).toBe(0);
    const report = JSON.parse(copy.stdout);
    expect(report).toMatchObject({ configSwitched: true, log: { entries: before.verify.entries, head: before.verify.head } });
    expect(report.log.checkpoint).toBeGreaterThan(0);
    expect(report.tables.certificates).toBe(before.certs.length);
    expect(copy.stdout).not.toMatch(/copy me/);

    // The data directory now says PostgreSQL: without the URL a command says so (exit 78).
    const without = run(["cert", "list"]);
    expect(without.status).toBe(78);
    expect(without.stderr).toMatch(/DPKI_DATABASE_URL/);

    const pg = { DPKI_DATABASE_URL: url };
    expect(json(["cert", "list"], pg).items).toEqual(before.certs);
    // Sealed device keys open with the copied salt.
    expect(json(["enrollment", "show", "dev-1", "--scope", SCOPE], pg)).toEqual(before.enrollment);
    expect(json(["token", "list"], pg)).toEqual(before.tokens);
    expect(json(["audit", "verify"], pg)).toMatchObject({ ok: true, entries: before.verify.entries, head: before.verify.head });

    // And goes on: new certificates and entries after the copied ones, a checkpoint consistent with the copied one.
    const csr = opensslCsr(work, "after", { subject: "/CN=after-copy" });
    json(["cert", "issue", "--csr", csr, "--profile", "device", "--out", join(work, "after.pem")], pg);
    const listed = json(["cert", "list"], pg).items as Array<{ subject: string }>;
    expect(listed.map((c) => c.subject)).toContain("CN=after-copy");
    json(["audit", "checkpoint"], pg);
    expect(json(["audit", "verify"], pg)).toMatchObject({ ok: true, entries: before.verify.entries + 1 });

    // A second copy into the now used database is refused, changing nothing there.
    const again = run(["db", "copy", "--from", `sqlite:${sqliteFile}`, "--to", url]);
    expect(again.status).toBe(75);
    expect(again.stderr).toMatch(/not empty/);
  });

  it("refuses a source whose log does not verify, copying nothing", async () => {
    const damaged = join(work, "damaged.db");
    const raw = new Database(join(env.DPKI_HOME!, "dpki.db"), { readonly: true });
    await raw.backup(damaged);
    raw.close();
    const db = new Database(damaged);
    db.prepare("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2").run();
    db.close();
    const url = await createDatabase();
    const r = run(["db", "copy", "--from", `sqlite:${damaged}`, "--to", url]);
    expect(r.status, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/source's issuance log does not verify: Entry 2 was altered/);
    // Nothing landed: a good copy still goes in afterwards.
    const good = run(["db", "copy", "--from", `sqlite:${join(env.DPKI_HOME!, "dpki.db")}`, "--to", url, "--json"]);
    expect(good.status, good.stderr).toBe(0);
  });

  it("names bad arguments clearly", async () => {
    expect(run(["db", "copy", "--from", "postgres://x@y/z", "--to", "postgres://x@y/z"]).stderr).toMatch(/--from takes sqlite:PATH/);
    const missing = run(["db", "copy", "--from", `sqlite:${join(work, "none.db")}`, "--to", "postgres://x@127.0.0.1:1/z"]);
    expect(missing.status).toBe(66);
    expect(missing.stderr).toMatch(/No SQLite database/);
    const notPg = run(["db", "copy", "--from", `sqlite:${join(work, "none.db")}`, "--to", "mysql://x"]);
    expect(notPg.status).toBe(64);
    const down = run(["db", "copy", "--from", `sqlite:${join(env.DPKI_HOME!, "dpki.db")}`, "--to", "postgres://u:hunter2@127.0.0.1:1/z"]);
    expect(down.status).toBe(69);
    expect(down.stderr).toMatch(/Cannot reach the PostgreSQL database at 127.0.0.1:1\/z/);
    expect(down.stderr).not.toMatch(/hunter2/);
  });

  it("migrates with `dpki db migrate` on either engine, and reports when there is nothing to do", async () => {
    const url = await createDatabase();
    const home = join(work, "migrate");
    const pgEnv = { DPKI_HOME: home, DPKI_DATABASE_URL: url };
    expect(run(["init"], pgEnv).status).toBe(0);
    const first = json(["db", "migrate"], pgEnv);
    expect(first).toMatchObject({ engine: "postgres", applied: [] });
    expect(run(["db", "migrate"], pgEnv).stdout).toMatch(/up to date/);
    const sqliteHome = { DPKI_HOME: join(work, "migrate-sqlite") };
    expect(run(["init"], sqliteHome).status).toBe(0);
    expect(json(["db", "migrate"], sqliteHome)).toMatchObject({ engine: "sqlite", applied: [] });
    expect(readFileSync(join(home, "config.json"), "utf8")).toMatch(/"database": "postgres"/);
  });
});
