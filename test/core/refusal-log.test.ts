/**
 * The bounds on refusal entries (README "Audit"): per action, code and source, and per window
 * altogether; what is over a bound is counted, and each count is one entry when the window closes.
 * On a real SQLite store with a pinned clock.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixedClock, systemClock, type Clock } from "../../src/clock.js";
import { REFUSAL_LIMIT_ACTOR, RefusalLog, type Refusal } from "../../src/core/audit/refusal-log.js";
import { verifyChain } from "../../src/store/audit-chain.js";
import type { AuditEntry } from "../../src/store/records.js";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../helpers/temp-dir.js";

const t0 = new Date("2026-05-01T12:00:00.000Z");

function setUp(bounds = { perSource: 3, perWindow: 10, windowMs: 60_000 }, clock: Clock = fixedClock(t0)) {
  const store = new SqliteStore(new SqliteDb(join(tempDir(), "refusals.db")));
  const log = new RefusalLog({ store, clock }, bounds);
  const entries = async (): Promise<AuditEntry[]> => {
    const all: AuditEntry[] = [];
    for await (const batch of store.auditEntries()) all.push(...batch);
    return all;
  };
  return { store, clock: clock as ReturnType<typeof fixedClock>, log, entries };
}

const denied = (source: string, code = "unauthorized", actor = "http:anonymous"): Refusal => ({
  action: "auth.deny",
  actor,
  source,
  code,
  message: "Invalid token",
});

describe("refusal log", () => {
  it("logs the first refusals of a source and reason, counts the rest, and writes the count when the next window opens", async () => {
    const { clock, log, entries, store } = setUp();
    for (let i = 0; i < 8; i++) await log.record(denied("198.51.100.7"));
    // Another reason, or another source, has bounds of its own.
    await log.record(denied("198.51.100.7", "forbidden", "token:line-1"));
    await log.record(denied("203.0.113.9"));
    let all = await entries();
    expect(all.map((e) => [e.details.source, e.details.code])).toEqual([
      ["198.51.100.7", "unauthorized"],
      ["198.51.100.7", "unauthorized"],
      ["198.51.100.7", "unauthorized"],
      ["198.51.100.7", "forbidden"],
      ["203.0.113.9", "unauthorized"],
    ]);
    expect(all[0]).toMatchObject({ action: "auth.deny", actor: "http:anonymous", details: { message: "Invalid token" } });

    clock.advance(60_000);
    await log.record(denied("198.51.100.7"));
    all = await entries();
    expect(all.slice(5).map((e) => e.actor)).toEqual([REFUSAL_LIMIT_ACTOR, "http:anonymous"]);
    expect(all[5]).toMatchObject({
      action: "auth.deny",
      details: { source: "198.51.100.7", code: "unauthorized", suppressed: 5, from: t0.toISOString(), to: clock.now().toISOString() },
    });
    expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true, entries: 7 });
  });

  it("takes at most perWindow entries a window from any number of sources, and counts the rest by reason", async () => {
    const { clock, log, entries } = setUp({ perSource: 2, perWindow: 4, windowMs: 10_000 });
    for (let i = 0; i < 50; i++) await log.record(denied(`192.0.2.${i}`));
    expect(await entries()).toHaveLength(4);
    clock.advance(5_000);
    await log.close();
    const all = await entries();
    expect(all).toHaveLength(5);
    expect(all[4]).toMatchObject({ actor: REFUSAL_LIMIT_ACTOR, details: { code: "unauthorized", suppressed: 46 } });
    // The overflow count names no source: it stands for many.
    expect(all[4]!.details.source).toBeUndefined();
  });

  it("closes the window on its own once it is over, without a further refusal", async () => {
    const { log, entries } = setUp({ perSource: 1, perWindow: 10, windowMs: 200 }, systemClock);
    for (let i = 0; i < 4; i++) await log.record(denied("198.51.100.20"));
    expect(await entries()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 400));
    const all = await entries();
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ actor: REFUSAL_LIMIT_ACTOR, details: { suppressed: 3, source: "198.51.100.20" } });
  });

  it("never fails the refusal when its entry cannot be written: the error goes to onError", async () => {
    const { store, log } = setUp();
    const errors: unknown[] = [];
    log.onError = (err) => errors.push(err);
    await store.close();
    await expect(log.record(denied("198.51.100.30"))).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });

  it("clips what a caller supplied, so a huge actor or message cannot bloat the log", async () => {
    const { log, entries } = setUp();
    await log.record({ ...denied("198.51.100.40"), actor: "x".repeat(10_000), message: "y".repeat(10_000), profile: "p".repeat(500) });
    const [entry] = await entries();
    expect(entry!.actor.length).toBeLessThanOrEqual(201);
    expect(String(entry!.details.message).length).toBeLessThanOrEqual(301);
    expect(entry!.profile!.length).toBeLessThanOrEqual(65);
  });
});
