import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../package-root.js";
import { AppError, errorFromWire, type WireError } from "../../errors.js";
import type { AuditInput, CertificateRecord } from "../records.js";

export type WriterRequest =
  { type: "insert"; id: number; items: Array<{ cert: CertificateRecord; audit: AuditInput }> } | { type: "close" };
export type WriterResponse = { type: "done"; id: number } | { type: "failed"; id: number; error: WireError } | { type: "closed" };

/** Runs the compiled module (`npm ci` and the test setup build dist/), also when the caller runs from source. */
const THREAD_FILE = join(PACKAGE_ROOT, "dist", "src", "store", "sqlite", "sqlite-writer-thread.js");

/**
 * Certificate inserts on a thread of their own. better-sqlite3 is synchronous, so a commit
 * (with its fsync) on the main thread stalls every request being served; here the main
 * thread keeps answering while the writer commits, and the next batch gathers meanwhile.
 * It is the same SqliteStore code on a second connection: WAL lets the main connection
 * read what it committed, and BEGIN IMMEDIATE orders the two connections' writes.
 */
export class SqliteWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(file: string, options: { announcePolicyChanges?: boolean } = {}) {
    this.worker = new Worker(THREAD_FILE, { workerData: { file, announcePolicyChanges: options.announcePolicyChanges === true } });
    this.worker.unref();
    this.worker.on("message", (response: WriterResponse) => {
      if (response.type === "closed") return;
      const waiter = this.pending.get(response.id);
      this.pending.delete(response.id);
      if (response.type === "done") waiter?.resolve();
      else waiter?.reject(errorFromWire(response.error));
    });
    this.worker.on("error", () => this.failAll(new AppError("unavailable", "The database writer stopped")));
  }

  insertCertificates(items: Array<{ cert: CertificateRecord; audit: AuditInput }>): Promise<void> {
    if (this.closing) return Promise.reject(new AppError("unavailable", "The store is closing"));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: "insert", id, items } satisfies WriterRequest);
    });
  }

  /** Lets queued batches commit, then closes the writer's connection. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.worker.on("message", (response: WriterResponse) => {
        if (response.type === "closed") void this.worker.terminate().then(() => resolve());
      });
      this.worker.postMessage({ type: "close" } satisfies WriterRequest);
    });
    return this.closing;
  }

  private failAll(err: Error): void {
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.reject(err);
    }
  }
}
