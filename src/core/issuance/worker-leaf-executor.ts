import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { BuiltLeaf } from "../../../ca/leaf-builder.js";
import { PACKAGE_ROOT } from "../../package-root.js";
import { AppError, errorFromWire } from "../../errors.js";
import type { Issuer } from "../authority/ca-service.js";
import { InlineLeafExecutor, type LeafExecutor, type LeafJob } from "./leaf-executor.js";
import { type WorkerJob, type WorkerMessage, type WorkerResult } from "./leaf-worker-protocol.js";

/** Workers run the compiled module (`npm ci` and the test setup build dist/), also when the caller runs from source. */
const WORKER_FILE = join(PACKAGE_ROOT, "dist", "src", "core", "issuance", "leaf-worker.js");

interface Slot {
  worker: Worker;
  outstanding: number;
  issuers: Set<string>;
  profiles: Set<string>;
}

/**
 * Builds leaves on worker threads, one per core, so CSR checks and signatures of concurrent
 * issuances run in parallel while the main thread serves requests and commits to the store.
 * Jobs that arrive in the same turn of the event loop travel to a worker as one message.
 * Keys that are not in process memory (hardware tokens) are built inline instead.
 */
export class WorkerLeafExecutor implements LeafExecutor {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, { resolve: (leaf: BuiltLeaf) => void; reject: (err: Error) => void }>();
  private readonly inline = new InlineLeafExecutor();
  private queue: WorkerJob[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;

  constructor(threads = availableParallelism()) {
    this.slots = Array.from({ length: Math.max(1, threads) }, () => {
      const worker = new Worker(WORKER_FILE);
      worker.unref();
      const slot: Slot = { worker, outstanding: 0, issuers: new Set(), profiles: new Set() };
      worker.on("message", (message: { type: "built"; results: WorkerResult[] }) => {
        slot.outstanding -= message.results.length;
        for (const result of message.results) {
          const waiter = this.pending.get(result.id);
          this.pending.delete(result.id);
          if (!waiter) continue;
          if (result.ok) waiter.resolve(result.leaf);
          else waiter.reject(errorFromWire(result.error));
        }
      });
      worker.on("error", (err) => this.failAll(err));
      return slot;
    });
  }

  build(job: LeafJob, issuer: Issuer): Promise<BuiltLeaf> {
    if (this.closed) return Promise.reject(new AppError("unavailable", "Issuance is shutting down"));
    const key = issuer.signer.inMemoryKey;
    if (!key) return this.inline.build(job, issuer);
    return new Promise<BuiltLeaf>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.queue.push({
        id,
        issuerId: issuer.ca.id,
        profile: job.profile.name,
        csr: job.csr,
        validityMs: job.validityMs,
        commonNameMustEqual: job.commonNameMustEqual,
        notBefore: job.notBefore.getTime(),
      });
      this.prepare(issuer, job);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.failAll(new AppError("unavailable", "Issuance is shutting down"));
  }

  /** Each worker learns an issuer key and a profile once, before its first job that needs them. */
  private prepare(issuer: Issuer, job: LeafJob): void {
    for (const slot of this.slots) {
      if (!slot.issuers.has(issuer.ca.id)) {
        slot.issuers.add(issuer.ca.id);
        const message: WorkerMessage = {
          type: "issuer",
          id: issuer.ca.id,
          key: issuer.signer.inMemoryKey,
          name: issuer.name,
          keyId: issuer.keyId,
          notAfter: issuer.ca.notAfter.getTime(),
          urls: issuer.urls,
        };
        slot.worker.postMessage(message);
      }
      if (!slot.profiles.has(job.profile.name)) {
        slot.profiles.add(job.profile.name);
        slot.worker.postMessage({ type: "profile", profile: job.profile } satisfies WorkerMessage);
      }
    }
  }

  /** Splits the queued jobs across workers by how much each still has to do. */
  private flush(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    const total = jobs.length + this.slots.reduce((n, s) => n + s.outstanding, 0);
    const share = Math.ceil(total / this.slots.length);
    let next = 0;
    for (const slot of [...this.slots].sort((a, b) => a.outstanding - b.outstanding)) {
      const take = Math.min(jobs.length - next, Math.max(0, share - slot.outstanding));
      if (take <= 0) continue;
      this.send(slot, jobs.slice(next, next + take));
      next += take;
    }
    if (next < jobs.length) this.send(this.slots[0]!, jobs.slice(next));
  }

  private send(slot: Slot, jobs: WorkerJob[]): void {
    slot.outstanding += jobs.length;
    slot.worker.postMessage({ type: "build", jobs } satisfies WorkerMessage);
  }

  private failAll(err: Error): void {
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.reject(err);
    }
  }
}
