import type { Clock } from "../../clock.js";
import type { AuditInput, RefusalAction } from "../../store/records.js";
import type { Store } from "../../store/store.js";
import { clip } from "../clip.js";

/** One refused attempt, as the edge or the service that refused it knows it. Never a presented secret. */
export interface Refusal {
  action: RefusalAction;
  /** Whoever is known: the token's actor, `dps:<scope>/<registration id>`, `http:anonymous`. */
  actor: string;
  /** The client's address as the server saw it, `local`, or null when there is none. */
  source: string | null;
  /** The error code the caller was answered with. */
  code: string;
  message: string;
  subject?: string | null;
  profile?: string | null;
  details?: Record<string, unknown>;
}

/**
 * How many refusals the log takes: per (action, code, source) at most `perSource` entries a
 * window, at most `perWindow` altogether; the rest are counted, and each count becomes one entry
 * when the window closes.
 */
export interface RefusalBounds {
  perSource: number;
  perWindow: number;
  windowMs: number;
}

export const DEFAULT_REFUSAL_BOUNDS: RefusalBounds = { perSource: 10, perWindow: 200, windowMs: 60_000 };

/** The actor of the entries that count suppressed refusals: dpki's own statement, not the callers'. */
export const REFUSAL_LIMIT_ACTOR = "system:refusal-limit";

interface Tally {
  action: RefusalAction;
  code: string;
  source: string | null;
  logged: number;
  suppressed: number;
  lastActor: string;
}

interface Window {
  start: Date;
  logged: number;
  /** Keyed by action, code and source. */
  bySource: Map<string, Tally>;
  /** Refusals beyond `perWindow`, keyed by action and code only: their sources are not kept, so many of them cost no memory. */
  overflow: Map<string, Tally>;
}

/**
 * Refused attempts in the issuance log, so an auditor sees attempts and not only successes.
 * Each entry is appended in a transaction of its own (there is no change to join). The log is
 * bounded so that a flood cannot fill it or slow the service: fixed windows opened by the first
 * refusal; within one, the first `perSource` refusals of an (action, code, source) are entries,
 * then they are only counted, and past `perWindow` entries every refusal is only counted (by
 * action and code). A window closes after `windowMs` — on a timer, at the next refusal, or at
 * shutdown — and each count becomes one entry (`details.suppressed`). At most
 * perWindow + perWindow / perSource + a few overflow counts are written a window, whatever arrives.
 * `record` never fails: an entry that cannot be appended is reported to `onError` and dropped,
 * so a refusal is never answered as an internal error.
 */
export class RefusalLog {
  private window: Window | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Told of each entry that could not be appended (the server logs it); the refusal itself stands. */
  onError: (err: unknown) => void = () => {};

  constructor(
    private readonly deps: { store: Pick<Store, "appendAudit">; clock: Clock },
    private readonly bounds: RefusalBounds = DEFAULT_REFUSAL_BOUNDS,
  ) {}

  /** Settles once the entry (if this refusal gets one) is committed; never rejects. */
  record(refusal: Refusal): Promise<void> {
    const now = this.deps.clock.now();
    const pending: Array<Promise<void>> = [];
    if (this.window && now.getTime() - this.window.start.getTime() >= this.bounds.windowMs) pending.push(this.closeWindow(now));
    const window = (this.window ??= this.openWindow(now));
    const bySource = `${refusal.action}\n${refusal.code}\n${refusal.source ?? ""}`;
    const tally = window.bySource.get(bySource);
    if (tally && tally.logged >= this.bounds.perSource) {
      tally.suppressed++;
      tally.lastActor = refusal.actor;
    } else if (window.logged >= this.bounds.perWindow) {
      const byCode = `${refusal.action}\n${refusal.code}`;
      const overflow = window.overflow.get(byCode);
      if (overflow) {
        overflow.suppressed++;
        overflow.lastActor = refusal.actor;
      } else {
        window.overflow.set(byCode, { ...tallyOf(refusal), source: null, suppressed: 1 });
      }
    } else {
      if (tally) tally.logged++;
      else window.bySource.set(bySource, { ...tallyOf(refusal), logged: 1 });
      window.logged++;
      pending.push(this.append(refusalEntry(refusal, now)));
    }
    return Promise.all(pending).then(() => undefined);
  }

  /** Closes the open window (writing its counts) and stops the timer: at shutdown, before the store closes. */
  close(): Promise<void> {
    return this.closeWindow(this.deps.clock.now());
  }

  private openWindow(start: Date): Window {
    this.schedule(this.bounds.windowMs);
    return { start, logged: 0, bySource: new Map(), overflow: new Map() };
  }

  /** The timer follows the clock: it closes the window only once the clock says it is over. */
  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const window = this.window;
      if (!window) return;
      const left = window.start.getTime() + this.bounds.windowMs - this.deps.clock.now().getTime();
      if (left > 0) this.schedule(left);
      else void this.closeWindow(this.deps.clock.now());
    }, ms);
    this.timer.unref();
  }

  private closeWindow(now: Date): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const window = this.window;
    this.window = null;
    if (!window) return Promise.resolve();
    const counts = [...window.bySource.values(), ...window.overflow.values()].filter((t) => t.suppressed > 0);
    return Promise.all(counts.map((t) => this.append(suppressedEntry(t, window.start, now)))).then(() => undefined);
  }

  private append(entry: AuditInput): Promise<void> {
    try {
      return this.deps.store.appendAudit(entry).then(
        () => undefined,
        (err: unknown) => this.onError(err),
      );
    } catch (err) {
      this.onError(err);
      return Promise.resolve();
    }
  }
}

function tallyOf(refusal: Refusal): Tally {
  return { action: refusal.action, code: refusal.code, source: refusal.source, logged: 0, suppressed: 0, lastActor: refusal.actor };
}

function refusalEntry(refusal: Refusal, at: Date): AuditInput {
  return {
    at,
    actor: clip(refusal.actor, 200),
    action: refusal.action,
    subject: refusal.subject == null ? null : clip(refusal.subject, 200),
    profile: refusal.profile == null ? null : clip(refusal.profile, 64),
    source: refusal.source,
    details: { ...refusal.details, code: refusal.code, message: clip(refusal.message, 300) },
  };
}

function suppressedEntry(tally: Tally, from: Date, to: Date): AuditInput {
  const where = tally.source === null ? "" : ` from ${tally.source}`;
  return {
    at: to,
    actor: REFUSAL_LIMIT_ACTOR,
    action: tally.action,
    source: tally.source,
    details: {
      code: tally.code,
      message: `${tally.suppressed} more ${tally.action} (${tally.code})${where} not logged one by one`,
      suppressed: tally.suppressed,
      from: from.toISOString(),
      to: to.toISOString(),
      lastActor: clip(tally.lastActor, 200),
    },
  };
}
