import { join } from "node:path";
import { statSync } from "node:fs";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { SqliteWriter } from "../../src/store/sqlite/sqlite-writer.js";
import { WriterThreadStore } from "../../src/store/sqlite/writer-thread-store.js";
import { describeStoreContract } from "./store-contract.js";
import { verifyChain } from "../../src/store/audit-chain.js";
import { tempDir } from "../helpers/temp-dir.js";

const dir = tempDir();
let n = 0;

describeStoreContract("sqlite", async () => new SqliteStore(new SqliteDb(join(dir, `store-${n++}.db`))));

// Servers commit certificates on a writer thread with its own connection: the same contract holds.
describeStoreContract("sqlite with a writer thread", async () => {
  const file = join(dir, `store-${n++}.db`);
  return new WriterThreadStore(new SqliteStore(new SqliteDb(file)), new SqliteWriter(file));
});

it("creates the database file 0600 and applies migrations once", () => {
  const file = join(dir, "fresh.db");
  new SqliteDb(file).close();
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const again = new SqliteDb(file);
  const names = again.db.prepare("SELECT name FROM schema_migrations").all() as Array<{ name: string }>;
  expect(new Set(names.map((r) => r.name)).size).toBe(names.length);
  again.close();
});

it("refuses to open a database migrated by a newer dpki", () => {
  const file = join(dir, "newer.db");
  new SqliteDb(file).close();
  const raw = new Database(file);
  raw.prepare("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999-from-the-future', 'x')").run();
  raw.close();
  expect(() => new SqliteDb(file)).toThrow(/upgrade dpki/);
});

it("rejects turning a revoked certificate good again even through raw SQL", async () => {
  const file = join(dir, "trigger.db");
  const sqlite = new SqliteDb(file);
  const store = new SqliteStore(sqlite);
  const t = new Date();
  await store.insertCas(
    [
      {
        id: "c",
        kind: "root",
        parentId: null,
        keyRef: "k",
        keyAlgorithm: "P-256",
        certDer: new Uint8Array([1]),
        subject: "CN=x",
        subjectKeyId: "aa",
        notBefore: t,
        notAfter: t,
        status: "active",
        createdAt: t,
      },
    ],
    [],
  );
  await store.insertCertificates([
    {
      cert: {
        serial: "01",
        sha256: "ab",
        issuerCaId: "c",
        subject: "CN=d",
        commonName: "d",
        subjectAltNames: [],
        notBefore: t,
        notAfter: t,
        profile: "device",
        requester: "t",
        status: "good",
        revokedAt: null,
        revocationReason: null,
        der: new Uint8Array([1]),
        createdAt: t,
      },
      audit: { at: t, actor: "t", action: "cert.issue" },
    },
  ]);
  await store.revokeCertificate("01", "keyCompromise", t, { at: t, actor: "t", action: "cert.revoke" });
  expect(() => sqlite.db.prepare("UPDATE certificates SET status = 'good' WHERE serial = '01'").run()).toThrow(/cannot become good again/);
  await store.close();
});

it("links each log entry to the committed head: after another connection's append, a rolled-back write and a failed nested write", async () => {
  const file = join(dir, "head.db");
  const one = new SqliteDb(file);
  const two = new SqliteDb(file);
  const store = new SqliteStore(one);
  const entry = (action: string) => ({ at: new Date(), actor: "t", action });
  one.write(() => {
    one.appendAudit(entry("a"));
    one.appendAudit(entry("b"));
  });
  two.write(() => two.appendAudit(entry("c")));
  expect(() =>
    one.write(() => {
      one.appendAudit(entry("rolled back"));
      throw new Error("abort");
    }),
  ).toThrow("abort");
  one.write(() => {
    one.appendAudit(entry("d"));
    expect(() =>
      one.write(() => {
        one.appendAudit(entry("rolled back to its savepoint"));
        throw new Error("inner");
      }),
    ).toThrow("inner");
    one.appendAudit(entry("e"));
  });
  two.write(() => two.appendAudit(entry("f")));
  one.write(() => one.appendAudit(entry("g")));
  const entries = (await store.listAudit({}, { limit: 100 })).items.map((e) => [e.seq, e.action]);
  expect(entries).toEqual([
    [1, "a"],
    [2, "b"],
    [3, "c"],
    [4, "d"],
    [5, "e"],
    [6, "f"],
    [7, "g"],
  ]);
  expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true, entries: 7 });
  two.close();
  await store.close();
});
