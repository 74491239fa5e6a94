import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { SqliteWriter } from "../../src/store/sqlite/sqlite-writer.js";
import { WriterThreadStore } from "../../src/store/sqlite/writer-thread-store.js";
import { SqliteDpsStore } from "../../src/store/sqlite/sqlite-dps-store.js";
import { SqliteLifecycleStore } from "../../src/store/sqlite/sqlite-lifecycle-store.js";
import { SqliteTokenStore } from "../../src/store/sqlite/sqlite-token-store.js";
import { SqliteLogTreeStore } from "../../src/store/sqlite/sqlite-log-tree-store.js";
import { describeLogTreeStoreContract } from "./log-tree-store-contract.js";
import { SqliteAuditCheckStore } from "../../src/store/sqlite/sqlite-audit-check-store.js";
import { describeAuditCheckStoreContract } from "./audit-check-store-contract.js";
import { PassphraseSecretBox } from "../../src/store/secret-box.js";
import type { SecretBox } from "../../src/store/secret-box.js";
import { tempDir } from "../helpers/temp-dir.js";
import type { OpenStoreSet } from "./store-set.js";
import { describeDpsStoreContract } from "./dps-store-contract.js";
import { describeLifecycleStoreContract } from "./lifecycle-store-contract.js";
import { describeTokenStoreContract } from "./token-store-contract.js";

const dir = tempDir();
let n = 0;

/** A fresh database: a copy of one migrated once (migrating costs ~50 ms a file, a copy ~1 ms). */
function freshDatabase(): string {
  const template = join(dir, "migrated.db");
  if (!existsSync(template)) new SqliteDb(template).close();
  const file = join(dir, `contract-${n++}.db`);
  copyFileSync(template, file);
  return file;
}

// One sealing key for the whole file: scrypt runs once, not once per fresh database.
const secrets: SecretBox = new PassphraseSecretBox(
  () => "contract passphrase",
  () => Buffer.alloc(16, 7),
);

/** The stores exactly as app.ts builds them over one database; `workers` commits certificates on a writer thread. */
const sqliteStores =
  (workers: boolean): OpenStoreSet =>
  async () => {
    const file = freshDatabase();
    const sqlite = new SqliteDb(file);
    const plain = new SqliteStore(sqlite);
    const store = workers ? new WriterThreadStore(plain, new SqliteWriter(file)) : plain;
    return {
      store,
      dps: new SqliteDpsStore(sqlite, secrets),
      lifecycle: new SqliteLifecycleStore(sqlite, secrets),
      tokens: new SqliteTokenStore(sqlite),
      logTree: new SqliteLogTreeStore(sqlite),
      auditChecks: new SqliteAuditCheckStore(sqlite),
      close: () => store.close(),
    };
  };

/** Each interface on its own connection to one file, as when several dpki processes share a data directory. */
const sqliteConnections: OpenStoreSet = async () => {
  const file = freshDatabase();
  const dbs = [0, 1, 2, 3, 4, 5].map(() => new SqliteDb(file));
  return {
    store: new SqliteStore(dbs[0]!),
    dps: new SqliteDpsStore(dbs[1]!, secrets),
    lifecycle: new SqliteLifecycleStore(dbs[2]!, secrets),
    tokens: new SqliteTokenStore(dbs[3]!),
    logTree: new SqliteLogTreeStore(dbs[4]!),
    auditChecks: new SqliteAuditCheckStore(dbs[5]!),
    close: async () => dbs.forEach((db) => db.close()),
  };
};

describeDpsStoreContract("sqlite", sqliteStores(false));
describeLifecycleStoreContract("sqlite", sqliteStores(false));
describeTokenStoreContract("sqlite", sqliteStores(false));
describeLogTreeStoreContract("sqlite", sqliteStores(false));
describeAuditCheckStoreContract("sqlite", sqliteStores(false));

// Only the Store's certificate commits go through the writer thread (app.ts, `workers: true`), and
// only the lifecycle store works on certificates: it revokes and follows, from the main
// connection, what the writer committed. DPS and token writes never touch the writer.
describeLifecycleStoreContract("sqlite with a writer thread", sqliteStores(true));

describeDpsStoreContract("sqlite, one connection per store", sqliteConnections);
describeLifecycleStoreContract("sqlite, one connection per store", sqliteConnections);
describeTokenStoreContract("sqlite, one connection per store", sqliteConnections);
describeLogTreeStoreContract("sqlite, one connection per store", sqliteConnections);
describeAuditCheckStoreContract("sqlite, one connection per store", sqliteConnections);
