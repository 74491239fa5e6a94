import { randomBytes } from "node:crypto";
import type { SqliteDb } from "./sqlite-db.js";

/** The database's secret-box salt, made on first use and kept forever (changing it would lose every sealed key). */
export function sqliteSecretSalt(sqlite: SqliteDb): () => Buffer {
  let salt: Buffer | undefined;
  return () =>
    (salt ??= sqlite.write(() => {
      sqlite.db.prepare("INSERT OR IGNORE INTO secret_box (id, salt) VALUES (1, ?)").run(randomBytes(16));
      return (sqlite.db.prepare("SELECT salt FROM secret_box WHERE id = 1").get() as { salt: Buffer }).salt;
    }));
}
