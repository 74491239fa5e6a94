import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Where the work in progress came from, for the log entries it causes: the edges (the API, the
 * device endpoint) run each request inside `run` with the client's address, and the store's
 * appender reads `source()` when an entry does not say. Outside any request it is the
 * installation's own source (`local`): a CLI command on the data directory, or the server's own
 * background work. A context rather than a parameter, so no service signature carries it; the
 * batching writers stamp their entries before they join a batch, whose commit runs in whichever
 * request's context started it.
 */
export class AuditContext {
  private readonly storage = new AsyncLocalStorage<{ source: string | null }>();

  constructor(private readonly ownSource: string | null = "local") {}

  run<T>(source: string | null, fn: () => T): T {
    return this.storage.run({ source }, fn);
  }

  source(): string | null {
    const current = this.storage.getStore();
    return current ? current.source : this.ownSource;
  }

  /** Runs `fn` as the installation's own work, even when a request started it (a sweep a status check set off). */
  detached<T>(fn: () => T): T {
    return this.storage.exit(fn);
  }
}
