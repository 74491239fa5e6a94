import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { inclusionProof, leafHash, treeHash, verifyInclusion } from "../../tlog/merkle.js";
import { audit, expectAudited, expectRefused, t0, withStores, type OpenStoreSet } from "./store-set.js";

/** What every LogTreeStore must do: hold complete subtrees without gaps, checkpoints that only grow, one log key. */
export function describeLogTreeStoreContract(name: string, open: OpenStoreSet): void {
  describe(`LogTreeStore contract: ${name}`, () => {
    const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}-${randomBytes(4).toString("hex")}`)));

    it("stores leaves and the subtrees they complete, appended in any batch sizes", () =>
      withStores(open, async ({ logTree }) => {
        expect(await logTree.treeSize()).toBe(0);
        const all = leaves(37);
        let at = 0;
        for (const n of [1, 2, 5, 8, 21]) {
          await logTree.appendLeaves(at, all.slice(at, at + n));
          at += n;
        }
        expect(await logTree.treeSize()).toBe(37);
        const stored = (level: number, index: number) => logTree.subtreeHash(level, index);
        for (let i = 0; i < 37; i++) {
          const proof = await inclusionProof(stored, i, 37);
          expect(verifyInclusion(i, 37, all[i]!, proof, await treeHash(stored, 37))).toBe(true);
        }
        expect(await logTree.subtreeHash(5, 0)).toHaveLength(32);
        await expect(logTree.subtreeHash(5, 1)).rejects.toMatchObject({ code: "not_found" });
        // A tile's worth at once: the same hashes, in order, and not_found past the tree's edge.
        expect(await logTree.subtreeHashes(0, 30, 7)).toEqual(all.slice(30));
        expect(await logTree.subtreeHashes(2, 0, 9)).toEqual(await Promise.all(Array.from({ length: 9 }, (_, i) => stored(2, i))));
        await expect(logTree.subtreeHashes(0, 30, 8)).rejects.toMatchObject({ code: "not_found" });
      }));

    it("refuses leaves that do not start at the current size, storing none", () =>
      withStores(open, async ({ logTree }) => {
        await logTree.appendLeaves(0, leaves(3));
        await expect(logTree.appendLeaves(2, leaves(2))).rejects.toMatchObject({ code: "conflict" });
        await expect(logTree.appendLeaves(5, leaves(1))).rejects.toMatchObject({ code: "conflict" });
        expect(await logTree.treeSize()).toBe(3);
        // Two writers racing for the same position: exactly one wins.
        const results = await Promise.allSettled([logTree.appendLeaves(3, leaves(2)), logTree.appendLeaves(3, leaves(2))]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(await logTree.treeSize()).toBe(5);
      }));

    it("keeps checkpoints by size, the latest the largest, one per size", () =>
      withStores(open, async ({ logTree }) => {
        expect(await logTree.latestCheckpoint()).toBeNull();
        const cp = (size: number) => ({ size, root: randomBytes(32), note: `note ${size}\n`, createdAt: t0 });
        await logTree.insertCheckpoint(cp(3));
        await logTree.insertCheckpoint(cp(9));
        await expect(logTree.insertCheckpoint(cp(9))).rejects.toMatchObject({ code: "conflict" });
        expect(await logTree.latestCheckpoint()).toMatchObject({ size: 9, note: "note 9\n", createdAt: t0 });
      }));

    it("records one log key", () =>
      withStores(open, async ({ store, logTree }) => {
        expect(await logTree.logKey()).toBeNull();
        const key = { keyRef: "log-key-1", spki: new Uint8Array(randomBytes(44)), createdAt: t0 };
        await expectAudited(store, ["log.key.create"], () => logTree.insertLogKey(key, audit("log.key.create")));
        await expectRefused(store, "conflict", () => logTree.insertLogKey({ ...key, keyRef: "other" }, audit("log.key.create")));
        expect(await logTree.logKey()).toEqual(key);
      }));
  });
}
