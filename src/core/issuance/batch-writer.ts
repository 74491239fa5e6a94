/**
 * Group commit: writes that arrive while a batch is being committed wait and go together in
 * the next transaction, so a durable (fsync'd) commit is paid once per batch rather than once
 * per certificate, and batches grow with load. A caller's promise resolves only after its
 * batch committed: nothing is acknowledged before it is durable.
 */
export class BatchWriter<T> {
  private pending: Array<{ item: T; resolve: () => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;
  private inFlight = false;

  constructor(
    private readonly writeBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 1024,
  ) {}

  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled && !this.inFlight) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    this.inFlight = true;
    try {
      await this.writeBatch(batch.map((p) => p.item));
      for (const p of batch) p.resolve();
    } catch {
      // One bad item must not fail its neighbours: retry each alone so only it fails.
      for (const p of batch) await this.writeBatch([p.item]).then(p.resolve, p.reject);
    } finally {
      this.inFlight = false;
    }
    if (this.pending.length > 0) void this.flush();
  }
}
