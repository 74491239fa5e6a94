import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixedClock } from "../../src/clock.js";
import { TokenService } from "../../src/core/tokens/token-service.js";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteTokenStore } from "../../src/store/sqlite/sqlite-token-store.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { verifyChain } from "../../src/store/audit-chain.js";

describe("TokenService", () => {
  let dir: string;
  let db: SqliteDb;
  let service: TokenService;
  const clock = fixedClock(new Date("2026-03-01T10:00:00Z"));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dpki-token-"));
    db = new SqliteDb(join(dir, "dpki.db"));
    service = new TokenService(new SqliteTokenStore(db), clock, () => ["device", "server"]);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates a token whose secret is shown once and stored only as a hash", async () => {
    const { token, secret } = await service.create({ role: "operator", name: "ops" }, "cli:alice");
    expect(secret).toMatch(/^dpki_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(token).toMatchObject({ role: "operator", name: "ops", status: "active", createdBy: "cli:alice" });
    expect(JSON.stringify(token)).not.toContain(secret.split("_").slice(2).join("_"));
    const raw = JSON.stringify(db.db.prepare("SELECT * FROM api_tokens").all());
    expect(raw).not.toContain(secret.slice(22));
    const principal = await service.authenticate(secret);
    expect(principal).toMatchObject({ role: "operator", actor: "token:ops" });
  });

  it("refuses bad, expired and revoked tokens", async () => {
    const { secret, token } = await service.create({ role: "auditor", expiresInMs: 60_000 }, "cli:alice");
    await expect(service.authenticate("nope")).rejects.toMatchObject({ code: "unauthorized" });
    await expect(service.authenticate(secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"))).rejects.toMatchObject({
      code: "unauthorized",
    });
    clock.advance(61_000);
    await expect(service.authenticate(secret)).rejects.toMatchObject({ code: "unauthorized", message: "Invalid token: expired" });
    clock.advance(-61_000);
    await service.revoke(token.id, "cli:alice");
    await expect(service.authenticate(secret)).rejects.toMatchObject({ code: "unauthorized", message: "Invalid token: revoked" });
    await expect(service.revoke(token.id, "cli:alice")).rejects.toMatchObject({ code: "conflict" });
  });

  it("records LAST USED again once a minute has passed since the last record", async () => {
    const { secret, token } = await service.create({ role: "operator", name: "seen" }, "cli:alice");
    const lastUsed = async () => {
      await new Promise((r) => setImmediate(r));
      return (await service.list()).find((t) => t.id === token.id)!.lastUsedAt;
    };
    await service.authenticate(secret);
    const first = await lastUsed();
    expect(first).toBe(clock.now().toISOString());
    clock.advance(90_000);
    await service.authenticate(secret);
    expect(await lastUsed()).toBe(clock.now().toISOString());
    clock.advance(-90_000);
  });

  it("checks role-specific fields", async () => {
    await expect(service.create({ role: "factory" }, "a")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(service.create({ role: "factory", profiles: ["nope"] }, "a")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(service.create({ role: "operator", profiles: ["device"] }, "a")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(service.create({ role: "hub" }, "a")).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(service.create({ role: "admin", name: "../x" }, "a")).rejects.toMatchObject({ code: "invalid_argument" });
    const hub = await service.create({ role: "hub", hub: "hub-eu-1", scope: "0ne00000001" }, "a");
    expect(hub.token).toMatchObject({ hub: "hub-eu-1", scope: "0ne00000001" });
    await service.create({ role: "admin", name: "dup" }, "a");
    await expect(service.create({ role: "admin", name: "dup" }, "a")).rejects.toMatchObject({ code: "already_exists" });
  });

  it("enforces a factory token's daily quota per UTC day, giving back failed issuances", async () => {
    const { secret } = await service.create({ role: "factory", profiles: ["device"], quotaPerDay: 3 }, "a");
    const p = await service.authenticate(secret);
    await service.consumeQuota(p, 2);
    const release = await service.consumeQuota(p, 1);
    await expect(service.consumeQuota(p, 1)).rejects.toMatchObject({ code: "quota_exceeded" });
    await release();
    await service.consumeQuota(p, 1);
    clock.advance(86_400_000);
    await service.consumeQuota(p, 3);
    clock.advance(-86_400_000);
  });

  it("says the real used count and limit when a quota refuses", async () => {
    const { secret } = await service.create({ role: "factory", profiles: ["device"], quotaPerDay: 5 }, "a");
    const p = await service.authenticate(secret);
    // A request bigger than what is left, on a fresh day: nothing is used yet.
    await expect(service.consumeQuota(p, 8)).rejects.toMatchObject({
      code: "quota_exceeded",
      message: "Daily quota of this token too small for 8 certificates: 0 of 5 issued today (UTC), 5 left",
      detail: { quotaPerDay: 5, used: 0, requested: 8 },
    });
    await service.consumeQuota(p, 5);
    await expect(service.consumeQuota(p, 1)).rejects.toMatchObject({
      message: "Daily quota of this token used up: 5 of 5 certificates issued today (UTC)",
    });
  });

  it("logs creation and revocation in the audit chain, without the secret", async () => {
    const { secret, token } = await service.create({ role: "admin", name: "root-admin" }, "cli:alice");
    await service.revoke("root-admin", "cli:bob");
    const store = new SqliteStore(db);
    const entries = (await store.listAudit({}, { limit: 10 })).items;
    expect(entries.map((e) => [e.action, e.actor, e.subject])).toEqual([
      ["token.create", "cli:alice", "token:root-admin"],
      ["token.revoke", "cli:bob", "token:root-admin"],
    ]);
    expect(JSON.stringify(entries)).not.toContain(secret.slice(22));
    expect(entries[0]!.details.tokenId).toBe(token.id);
    expect((await verifyChain(store.auditEntries())).ok).toBe(true);
  });
});
