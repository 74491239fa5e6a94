/**
 * Group commit: writes that arrive while the event loop is busy signing are flushed
 * together in one transaction, so a durable (fsync'd) commit is paid once per batch rather
 * than once per certificate. A caller's promise resolves only after its batch committed,
 * so nothing is acknowledged before it is durable.
 */
export class BatchWriter<T> {
  private pending: Array<{ item: T; resolve: () => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly writeBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 512,
  ) {}

  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.writeBatch(batch.map((p) => p.item)).then(
      () => batch.forEach((p) => p.resolve()),
      // One bad item must not fail its neighbours: retry each alone so only it fails.
      () => {
        for (const p of batch) this.writeBatch([p.item]).then(p.resolve, p.reject);
      },
    );
  }
}
