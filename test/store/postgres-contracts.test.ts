import { beforeAll, expect, it } from "vitest";
import pg from "pg";
import { PgDb } from "../../src/store/postgres/pg-db.js";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import { PgDpsStore } from "../../src/store/postgres/pg-dps-store.js";
import { PgLifecycleStore } from "../../src/store/postgres/pg-lifecycle-store.js";
import { PgTokenStore } from "../../src/store/postgres/pg-token-store.js";
import { PgLogTreeStore } from "../../src/store/postgres/pg-log-tree-store.js";
import { PgAuditCheckStore } from "../../src/store/postgres/pg-audit-check-store.js";
import { describeAuditCheckStoreContract } from "./audit-check-store-contract.js";
import { PG_MIGRATIONS } from "../../src/store/postgres/pg-migrations.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { PassphraseSecretBox, type SecretBox } from "../../src/store/secret-box.js";
import { verifyChain } from "../../src/store/audit-chain.js";
import { createDatabase, describePg, PG_DISABLED } from "../helpers/postgres.js";
import type { OpenStoreSet } from "./store-set.js";
import { describeStoreContract } from "./store-contract.js";
import { describeDpsStoreContract } from "./dps-store-contract.js";
import { describeLifecycleStoreContract } from "./lifecycle-store-contract.js";
import { describeTokenStoreContract } from "./token-store-contract.js";
import { describeLogTreeStoreContract } from "./log-tree-store-contract.js";
import { audit, caRecord, certRecord, issue } from "./store-set.js";

// One sealing key for the whole file: scrypt runs once, not once per fresh database.
const secrets: SecretBox = new PassphraseSecretBox(
  () => "contract passphrase",
  () => Buffer.alloc(16, 7),
);

let template: string | undefined;

beforeAll(async () => {
  if (PG_DISABLED) return;
  template = await createDatabase();
  const db = new PgDb(template);
  await db.ready();
  await db.close();
});

/** A fresh, migrated database: a copy of one migrated once. */
const fresh = () => createDatabase(template);

/** The stores exactly as app.ts builds them over one database (one pool). */
const pgStores: OpenStoreSet = async () => {
  const db = new PgDb(await fresh());
  return {
    store: new PgStore(db),
    dps: new PgDpsStore(db, secrets),
    lifecycle: new PgLifecycleStore(db, secrets),
    tokens: new PgTokenStore(db),
    logTree: new PgLogTreeStore(db),
    auditChecks: new PgAuditCheckStore(db),
    close: () => db.close(),
  };
};

/** Each interface on its own pool, as several dpki nodes share one database. */
const pgNodes: OpenStoreSet = async () => {
  const url = await fresh();
  const dbs = [0, 1, 2, 3, 4, 5].map(() => new PgDb(url, { poolSize: 4 }));
  return {
    store: new PgStore(dbs[0]!),
    dps: new PgDpsStore(dbs[1]!, secrets),
    lifecycle: new PgLifecycleStore(dbs[2]!, secrets),
    tokens: new PgTokenStore(dbs[3]!),
    logTree: new PgLogTreeStore(dbs[4]!),
    auditChecks: new PgAuditCheckStore(dbs[5]!),
    close: async () => void (await Promise.all(dbs.map((db) => db.close()))),
  };
};

describePg("PostgreSQL store contracts", () => {
  describeStoreContract("postgres", async () => new PgStore(new PgDb(await fresh())));
  describeDpsStoreContract("postgres", pgStores);
  describeLifecycleStoreContract("postgres", pgStores);
  describeTokenStoreContract("postgres", pgStores);
  describeLogTreeStoreContract("postgres", pgStores);
  describeAuditCheckStoreContract("postgres", pgStores);

  describeDpsStoreContract("postgres, one pool per store", pgNodes);
  describeLifecycleStoreContract("postgres, one pool per store", pgNodes);
  describeTokenStoreContract("postgres, one pool per store", pgNodes);
  describeLogTreeStoreContract("postgres, one pool per store", pgNodes);
  describeAuditCheckStoreContract("postgres, one pool per store", pgNodes);

  it("has a twin of every SQLite migration, by name and in the same order", () => {
    expect(PG_MIGRATIONS.map((m) => m.name)).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it("applies migrations once, also when several nodes start at once, and refuses a database migrated by a newer dpki", async () => {
    const url = await createDatabase();
    const nodes = [0, 1, 2].map(() => new PgDb(url));
    const applied = await Promise.all(nodes.map((n) => n.ready()));
    expect(applied.flat().sort()).toEqual(PG_MIGRATIONS.map((m) => m.name).sort());
    // Every node reads the one salt the first one made.
    expect(new Set(nodes.map((n) => n.secretSalt().toString("hex"))).size).toBe(1);
    await nodes[0]!.query("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999-from-the-future', now())");
    await Promise.all(nodes.map((n) => n.close()));
    const newer = new PgDb(url);
    await expect(newer.ready()).rejects.toThrow(/upgrade dpki/);
    await newer.close();
  });

  it("rejects turning a revoked certificate good again even through raw SQL", async () => {
    const db = new PgDb(await fresh());
    const store = new PgStore(db);
    await store.insertCas([caRecord("int-1")], [audit("ca.create")]);
    const [c] = await issue(store, certRecord());
    await store.revokeCertificate(c!.serial, "keyCompromise", new Date(), audit("cert.revoke"));
    await expect(db.query("UPDATE certificates SET status = 'good' WHERE serial = $1", [c!.serial])).rejects.toThrow(
      /cannot become good again/,
    );
    await db.close();
  });

  it("keeps one verifiable chain while nodes append at once, each entry's time never before its predecessor's", async () => {
    const url = await fresh();
    const nodes = [0, 1, 2].map(() => new PgStore(new PgDb(url, { poolSize: 8 })));
    await nodes[0]!.insertCas([caRecord("int-1")], [audit("ca.create")]);
    const base = Date.now();
    await Promise.all(
      nodes.flatMap((node, n) =>
        Array.from({ length: 40 }, (_, i) =>
          i % 2
            ? node.appendAudit({ at: new Date(base - i * 1000), actor: `node-${n}`, action: "x", details: { i } })
            : node.insertCertificates(
                [certRecord(), certRecord()].map((cert) => ({ cert, audit: audit("cert.issue", { serial: cert.serial }) })),
              ),
        ),
      ),
    );
    expect(await verifyChain(nodes[1]!.auditEntries())).toMatchObject({ ok: true, entries: 1 + 3 * (20 + 40) });
    const times: number[] = [];
    for await (const batch of nodes[2]!.auditEntries()) times.push(...batch.map((e) => e.at.getTime()));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("chains issuance entries inside the database exactly as the log's own encoding does, whatever their text", async () => {
    const db = new PgDb(await fresh());
    const store = new PgStore(db);
    await store.insertCas([caRecord("int-1")], [audit("ca.create")]);
    const awkward: Array<Record<string, unknown>> = [
      { text: 'quotes " and \\ backslashes, tab\t, newline\n, bell\u0007, NUL\u0000 escaped' },
      { unicode: "Grüße, 日本語, emoji 🔐, line separator \u2028, lone surrogate \ud800" },
      { numbers: [0, -0, 0.1, 1e21, 2 ** 53, -1.5e-7], nested: { b: { d: 1, c: [null, true] }, a: "x", 10: "ten", 2: "two" } },
      { undefinedMember: undefined, list: [undefined, 1], empty: {}, emptyList: [] },
      { long: "x".repeat(20_000) },
    ];
    const times = [new Date("2099-12-31T23:59:59.999Z"), new Date("2026-01-01T00:00:00.001Z"), new Date("2030-06-15T12:00:00.000Z")];
    for (const [i, details] of awkward.entries()) {
      const cert = certRecord();
      const at = times[i % times.length]!;
      await store.insertCertificates([
        { cert, audit: { at, actor: `actor "${i}" ✓`, action: "cert.issue", serial: cert.serial, details } },
      ]);
    }
    expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true, entries: 1 + awkward.length });
    await db.close();
  });

  it("lets one of two nodes inserting the same serial at once win: the other gets conflict, the log one entry", async () => {
    const url = await fresh();
    const nodes = [0, 1].map(() => new PgStore(new PgDb(url)));
    await nodes[0]!.insertCas([caRecord("int-1")], [audit("ca.create")]);
    for (let round = 0; round < 10; round++) {
      const serial = `4${round}`.padEnd(32, "a");
      const results = await Promise.allSettled(
        nodes.map((node) => node.insertCertificates([{ cert: certRecord({ serial }), audit: audit("cert.issue", { serial }) }])),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(["conflict"]);
      expect((await nodes[1]!.listAudit({ serial }, { limit: 10 })).items).toHaveLength(1);
    }
    expect(await verifyChain(nodes[0]!.auditEntries())).toMatchObject({ ok: true, entries: 11 });
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("lets only increasing CRL numbers commit when nodes publish at once", async () => {
    const url = await fresh();
    const nodes = [0, 1, 2, 3].map(() => new PgStore(new PgDb(url)));
    await nodes[0]!.insertCas([caRecord("int-1")], [audit("ca.create")]);
    const crl = (n: number) => ({
      issuerCaId: "int-1",
      number: BigInt(n),
      thisUpdate: new Date(),
      nextUpdate: new Date(),
      entries: 0,
      der: Buffer.alloc(4),
    });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        nodes[i % 4]!.insertCrl(crl(1 + (i % 20)), audit("crl.publish", { details: { number: String(1 + (i % 20)) } })),
      ),
    );
    expect(results.some((r) => r.status === "fulfilled")).toBe(true);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // In commit order (the log's seq), the published numbers only go up.
    const numbers = (
      await admin.query<{ n: string }>("SELECT details::jsonb ->> 'number' AS n FROM audit_log WHERE action = 'crl.publish' ORDER BY seq")
    ).rows.map((r) => Number(r.n));
    await admin.end();
    expect(numbers.length).toBeGreaterThan(0);
    expect(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!)).toBe(true);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("answers an unreachable database with unavailable, naming host and port but no password", async () => {
    const db = new PgDb("postgres://dpki:s3cret-pass@127.0.0.1:1/none");
    const err = await db.query("SELECT 1").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect((err as Error).message).toContain("127.0.0.1:1/none");
    expect((err as Error).message).not.toContain("s3cret");
    await db.close();
  });
});
