/**
 * Worker-thread entry of SqliteWriter: its own connection to the database file, inserting
 * certificate batches (with their log entries) so the main thread never waits on a commit.
 */
import { parentPort, workerData } from "node:worker_threads";
import { errorToWire } from "../../errors.js";
import { SqliteDb } from "./sqlite-db.js";
import { SqliteStore } from "./sqlite-store.js";
import type { WriterRequest, WriterResponse } from "./sqlite-writer.js";

const data = workerData as { file: string; announcePolicyChanges: boolean };
const db = new SqliteDb(data.file, { announcePolicyChanges: data.announcePolicyChanges });
const store = new SqliteStore(db);

parentPort!.on("message", async (request: WriterRequest) => {
  if (request.type === "close") {
    db.close();
    parentPort!.postMessage({ type: "closed" } satisfies WriterResponse);
    return;
  }
  try {
    await store.insertCertificates(request.items);
    parentPort!.postMessage({ type: "done", id: request.id } satisfies WriterResponse);
  } catch (err) {
    parentPort!.postMessage({ type: "failed", id: request.id, error: errorToWire(err) } satisfies WriterResponse);
  }
});
