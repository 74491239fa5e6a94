import pg from "pg";
import { STORE_CHANGES, type StoreChange, type StoreChanges } from "../store-changes.js";
import { CHANGE_CHANNEL } from "./pg-db.js";

const RECONNECT_MS = 1000;

/**
 * Follows what other nodes change, on a connection of its own that LISTENs to the channel every
 * write transaction NOTIFYs on commit (PgDb.write). A notification is delivered only after the
 * change committed, so a cache dropped on it reads the change. While the connection is down
 * nothing is heard: on reconnecting every kind is reported, and caches keep their own short
 * time to live as a backstop.
 */
export class PgChangeListener implements StoreChanges {
  private readonly listeners: Array<(change: StoreChange) => void> = [];
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;

  constructor(private readonly url: string) {}

  onChange(listener: (change: StoreChange) => void): void {
    this.listeners.push(listener);
    if (!this.started) {
      this.started = true;
      void this.connect(false);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(again: boolean): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: "dpki-listen", connectionTimeoutMillis: 10_000 });
    const retry = () => {
      if (this.client === client) this.client = undefined;
      client.end().catch(() => {});
      if (!this.closed && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.connect(true);
        }, RECONNECT_MS);
        this.timer.unref();
      }
    };
    client.on("error", retry);
    client.on("end", () => {
      if (!this.closed) retry();
    });
    client.on("notification", (msg) => {
      if (msg.channel !== CHANGE_CHANNEL) return;
      for (const kind of (msg.payload ?? "").split(",")) {
        if ((STORE_CHANGES as readonly string[]).includes(kind)) this.emit(kind as StoreChange);
      }
    });
    try {
      await client.connect();
      if (this.closed) return void (await client.end().catch(() => {}));
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      this.client = client;
      // Whatever changed while nobody listened is unknown: every cache starts over.
      if (again) for (const kind of STORE_CHANGES) this.emit(kind);
    } catch {
      retry();
    }
  }

  private emit(kind: StoreChange): void {
    for (const listener of this.listeners) {
      try {
        listener(kind);
      } catch {
        // A cache that cannot drop its copy must not stop the others.
      }
    }
  }
}
