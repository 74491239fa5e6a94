import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { OperatorRecord, TokenRecord } from "../../src/store/token-store.js";
import { audit, expectAudited, expectRefused, t0, withStores, type OpenStoreSet } from "./store-set.js";

/** The behaviour every TokenStore implementation must show (run with each backend's StoreSet). */
export function describeTokenStoreContract(name: string, open: OpenStoreSet): void {
  const token = (overrides: Partial<TokenRecord> = {}): TokenRecord => ({
    id: randomBytes(8).toString("hex"),
    name: null,
    role: "factory",
    secretHash: randomBytes(32).toString("hex"),
    profiles: ["device", "gateway"],
    quotaPerDay: 5,
    scope: "0ne00000001",
    hub: null,
    operator: null,
    createdAt: t0,
    createdBy: "tester",
    expiresAt: new Date("2027-01-01T00:00:00Z"),
    revokedAt: null,
    revokedBy: null,
    lastUsedAt: null,
    ...overrides,
  });

  describe(`TokenStore contract: ${name}`, () => {
    it("stores a token with its audit entry and reads it back; an unknown id is null", () =>
      withStores(open, async ({ store, tokens }) => {
        const a = token({ name: "line-1" });
        const b = token({
          role: "hub",
          profiles: [],
          quotaPerDay: null,
          scope: null,
          hub: "hub-a",
          expiresAt: null,
          createdAt: new Date(t0.getTime() + 1000),
        });
        await expectAudited(store, ["token.create"], () => tokens.insertToken(a, audit("token.create")));
        await expectAudited(store, ["token.create"], () => tokens.insertToken(b, audit("token.create")));
        expect(await tokens.getToken(a.id)).toEqual(a);
        expect(await tokens.getToken(b.id)).toEqual(b);
        expect(await tokens.getToken("0000000000000000")).toBeNull();
        expect((await tokens.listTokens()).map((t) => t.id)).toEqual([a.id, b.id]);
      }));

    it("refuses a taken id or name with already_exists, inserting nothing and logging nothing", () =>
      withStores(open, async ({ store, tokens }) => {
        const a = token({ name: "line-1" });
        await tokens.insertToken(a, audit("token.create"));
        await expectRefused(store, "already_exists", () => tokens.insertToken(token({ id: a.id }), audit("token.create")));
        const sameName = token({ name: "line-1" });
        await expectRefused(store, "already_exists", () => tokens.insertToken(sameName, audit("token.create")));
        expect(await tokens.getToken(sameName.id)).toBeNull();
        expect(await tokens.listTokens()).toHaveLength(1);
        // Unnamed tokens never clash with each other.
        await tokens.insertToken(token(), audit("token.create"));
        await tokens.insertToken(token(), audit("token.create"));
        expect(await tokens.listTokens()).toHaveLength(3);
      }));

    it("revokes once: not_found for an unknown id, conflict the second time, both changing nothing", () =>
      withStores(open, async ({ store, tokens }) => {
        const a = token();
        await tokens.insertToken(a, audit("token.create"));
        const at = new Date("2026-03-01T00:00:00Z");
        const revoked = await expectAudited(store, ["token.revoke"], () => tokens.revokeToken(a.id, at, "admin", audit("token.revoke")));
        expect(revoked).toEqual({ ...a, revokedAt: at, revokedBy: "admin" });
        expect(await tokens.getToken(a.id)).toEqual(revoked);
        await expectRefused(store, "conflict", () => tokens.revokeToken(a.id, new Date(), "other", audit("token.revoke")));
        expect(await tokens.getToken(a.id)).toEqual(revoked);
        await expectRefused(store, "not_found", () => tokens.revokeToken("ffffffffffffffff", at, "admin", audit("token.revoke")));
      }));

    it("lets exactly one of concurrent revocations win", () =>
      withStores(open, async ({ store, tokens }) => {
        const a = token();
        await tokens.insertToken(a, audit("token.create"));
        const results = await expectAudited(store, ["token.revoke"], () =>
          Promise.allSettled(
            Array.from({ length: 5 }, (_, i) => tokens.revokeToken(a.id, new Date(t0.getTime() + i), `admin-${i}`, audit("token.revoke"))),
          ),
        );
        const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        expect(won).toHaveLength(1);
        expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
          Array(4).fill("conflict"),
        );
        expect(await tokens.getToken(a.id)).toEqual(won[0]);
      }));

    it("notes the last use without a log entry, and ignores an unknown id", () =>
      withStores(open, async ({ store, tokens }) => {
        const a = token();
        await tokens.insertToken(a, audit("token.create"));
        const at = new Date("2026-02-02T10:00:00Z");
        await expectAudited(store, [], () => tokens.touchToken(a.id, at));
        expect((await tokens.getToken(a.id))!.lastUsedAt).toEqual(at);
        await expectAudited(store, [], () => tokens.touchToken("ffffffffffffffff", at));
        expect(await tokens.getToken("ffffffffffffffff")).toBeNull();
      }));

    it("consumes quota up to the limit, per token and per day, and gives it back", () =>
      withStores(open, async ({ tokens }) => {
        const a = token();
        const b = token();
        await tokens.insertToken(a, audit("token.create"));
        await tokens.insertToken(b, audit("token.create"));
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 3, 5)).toEqual({ ok: true, used: 3 });
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 3, 5)).toEqual({ ok: false, used: 3 });
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 2, 5)).toEqual({ ok: true, used: 5 });
        expect(await tokens.consumeQuota(a.id, "2026-01-02", 5, 5)).toEqual({ ok: true, used: 5 });
        expect(await tokens.consumeQuota(b.id, "2026-01-01", 1, 5)).toEqual({ ok: true, used: 1 });
        await tokens.releaseQuota(a.id, "2026-01-01", 2);
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 3, 5)).toEqual({ ok: false, used: 3 });
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 2, 5)).toEqual({ ok: true, used: 5 });
        // A batch larger than the whole limit is refused outright.
        expect(await tokens.consumeQuota(b.id, "2026-01-03", 6, 5)).toEqual({ ok: false, used: 0 });
      }));

    it("never exceeds the limit under concurrent consumption, and releases concurrently without loss", () =>
      withStores(open, async ({ tokens }) => {
        const a = token({ quotaPerDay: 7 });
        await tokens.insertToken(a, audit("token.create"));
        const results = await Promise.all(Array.from({ length: 40 }, () => tokens.consumeQuota(a.id, "2026-01-01", 1, 7)));
        expect(results.filter((r) => r.ok)).toHaveLength(7);
        expect(Math.max(...results.map((r) => r.used))).toBe(7);
        await Promise.all(Array.from({ length: 3 }, () => tokens.releaseQuota(a.id, "2026-01-01", 1)));
        expect(await tokens.consumeQuota(a.id, "2026-01-01", 3, 7)).toEqual({ ok: true, used: 7 });
        const mixed = await Promise.all(Array.from({ length: 20 }, (_, i) => tokens.consumeQuota(a.id, "2026-01-05", 1 + (i % 3), 10)));
        const granted = mixed.reduce((sum, r, i) => sum + (r.ok ? 1 + (i % 3) : 0), 0);
        expect(granted).toBeGreaterThan(0);
        expect(granted).toBeLessThanOrEqual(10);
        expect(await tokens.consumeQuota(a.id, "2026-01-05", 0, 10)).toEqual({ ok: true, used: granted });
      }));

    const operator = (name: string, at = t0): OperatorRecord => ({
      name,
      createdAt: at,
      createdBy: "tester",
      disabledAt: null,
      disabledBy: null,
      totpSecret: null,
      totpEnrolledAt: null,
      totpLastStep: null,
    });

    it("enrolls in TOTP with its entry and claims each step once, in order, under concurrency", () =>
      withStores(open, async ({ store, tokens }) => {
        await tokens.insertOperator(operator("alice"), audit("operator.create"));
        expect(await tokens.claimTotpStep("alice", 5)).toBe(false); // not enrolled
        const at = new Date(t0.getTime() + 1000);
        const enrolled = await expectAudited(store, ["operator.totp.enroll"], () =>
          tokens.setOperatorTotp("alice", "sealed:v1:abc", at, audit("operator.totp.enroll")),
        );
        expect(enrolled).toMatchObject({ totpSecret: "sealed:v1:abc", totpEnrolledAt: at, totpLastStep: null });
        const wins = await Promise.all([1, 2, 3, 4].map(() => tokens.claimTotpStep("alice", 100)));
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(await tokens.claimTotpStep("alice", 99)).toBe(false);
        expect(await tokens.claimTotpStep("alice", 101)).toBe(true);
        expect((await tokens.getOperator("alice"))?.totpLastStep).toBe(101);
        // Enrolling again forgets the steps used.
        await tokens.setOperatorTotp("alice", "sealed:v1:def", at, audit("operator.totp.enroll"));
        expect(await tokens.claimTotpStep("alice", 50)).toBe(true);
        await expectRefused(store, "not_found", () => tokens.setOperatorTotp("bob", "sealed:v1:x", at, audit("operator.totp.enroll")));
        await tokens.disableOperator("alice", at, "tester", () => audit("operator.disable"));
        await expectRefused(store, "conflict", () => tokens.setOperatorTotp("alice", "sealed:v1:x", at, audit("operator.totp.enroll")));
      }));

    it("stores operators with their entries; a taken name is already_exists, logging nothing", () =>
      withStores(open, async ({ store, tokens }) => {
        await expectAudited(store, ["operator.create"], () => tokens.insertOperator(operator("alice"), audit("operator.create")));
        await tokens.insertOperator(operator("bob", new Date(t0.getTime() + 1000)), audit("operator.create"));
        await expectRefused(store, "already_exists", () => tokens.insertOperator(operator("alice"), audit("operator.create")));
        expect(await tokens.getOperator("alice")).toEqual(operator("alice"));
        expect(await tokens.getOperator("carol")).toBeNull();
        expect((await tokens.listOperators()).map((o) => o.name)).toEqual(["alice", "bob"]);
      }));

    it("mints tokens only for an operator who exists and is not disabled, logging nothing otherwise", () =>
      withStores(open, async ({ store, tokens }) => {
        await tokens.insertOperator(operator("alice"), audit("operator.create"));
        const a = token({ operator: "alice" });
        await tokens.insertToken(a, audit("token.create"));
        expect((await tokens.getToken(a.id))?.operator).toBe("alice");
        await expectRefused(store, "not_found", () => tokens.insertToken(token({ operator: "nobody" }), audit("token.create")));
        await tokens.disableOperator("alice", new Date(t0.getTime() + 5000), "tester", () => audit("operator.disable"));
        await expectRefused(store, "conflict", () => tokens.insertToken(token({ operator: "alice" }), audit("token.create")));
      }));

    it("disabling an operator revokes all their live tokens with one entry, and only theirs", () =>
      withStores(open, async ({ store, tokens }) => {
        await tokens.insertOperator(operator("alice"), audit("operator.create"));
        await tokens.insertOperator(operator("bob"), audit("operator.create"));
        const a1 = token({ operator: "alice" });
        const a2 = token({ operator: "alice", createdAt: new Date(t0.getTime() + 1000) });
        const a3 = token({ operator: "alice", createdAt: new Date(t0.getTime() + 2000) });
        const b = token({ operator: "bob" });
        const loose = token();
        for (const t of [a1, a2, a3, b, loose]) await tokens.insertToken(t, audit("token.create"));
        await tokens.revokeToken(a3.id, new Date(t0.getTime() + 3000), "tester", audit("token.revoke"));
        const at = new Date(t0.getTime() + 5000);
        let seen: string[] = [];
        const done = await expectAudited(store, ["operator.disable"], () =>
          tokens.disableOperator("alice", at, "admin-1", (ids) => ((seen = ids), audit("operator.disable"))),
        );
        expect(done.revokedTokenIds).toEqual([a1.id, a2.id]);
        expect(seen).toEqual([a1.id, a2.id]);
        expect(done.operator).toEqual({ ...operator("alice"), disabledAt: at, disabledBy: "admin-1" });
        for (const t of [a1, a2]) expect(await tokens.getToken(t.id)).toMatchObject({ revokedAt: at, revokedBy: "admin-1" });
        expect((await tokens.getToken(a3.id))?.revokedAt).toEqual(new Date(t0.getTime() + 3000));
        expect((await tokens.getToken(b.id))?.revokedAt).toBeNull();
        expect((await tokens.getToken(loose.id))?.revokedAt).toBeNull();
        await expectRefused(store, "conflict", () => tokens.disableOperator("alice", at, "admin-1", () => audit("operator.disable")));
        await expectRefused(store, "not_found", () => tokens.disableOperator("carol", at, "admin-1", () => audit("operator.disable")));
      }));
  });
}
