import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  memorySubtrees,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from "../../tlog/merkle.js";

const VECTORS = resolve(import.meta.dirname, "..", "..", "..", "shared", "reference", "merkle-vectors");

function vectorFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? vectorFiles(path) : name.endsWith(".json") ? [path] : [];
  });
}

const b64 = (s: string) => Buffer.from(s, "base64");
const hashes = (list: string[] | null) => (list ?? []).map(b64);

/** The eight leaves of RFC 6962's reference tree, which the vectors' roots and proofs come from. */
const REFERENCE_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map((h) =>
  Buffer.from(h, "hex"),
);

describe("RFC 6962 inclusion proofs: every vector", () => {
  const files = vectorFiles(join(VECTORS, "inclusion"));
  it(`has the vectors (${files.length})`, () => expect(files.length).toBeGreaterThan(50));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, "utf8"));
    it(`${file.slice(VECTORS.length + 1)}: ${v.desc} → ${v.wantErr ? "refused" : "accepted"}`, () => {
      expect(verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), hashes(v.proof), b64(v.root))).toBe(!v.wantErr);
    });
  }
});

describe("RFC 6962 consistency proofs: every vector", () => {
  const files = vectorFiles(join(VECTORS, "consistency"));
  it(`has the vectors (${files.length})`, () => expect(files.length).toBeGreaterThan(50));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, "utf8"));
    it(`${file.slice(VECTORS.length + 1)}: ${v.desc} → ${v.wantErr ? "refused" : "accepted"}`, () => {
      expect(verifyConsistency(v.size1, v.size2, hashes(v.proof), b64(v.root1), b64(v.root2))).toBe(!v.wantErr);
    });
  }
});

describe("proofs built from stored subtrees", () => {
  it("give exactly the vectors' proofs and roots for the reference tree", async () => {
    for (const file of vectorFiles(join(VECTORS, "inclusion"))) {
      const v = JSON.parse(readFileSync(file, "utf8"));
      if (v.wantErr || v.treeSize > REFERENCE_LEAVES.length || !file.includes("happy-path")) continue;
      const tree = memorySubtrees(REFERENCE_LEAVES.slice(0, v.treeSize).map(leafHash));
      expect((await treeHash(tree, v.treeSize)).toString("base64")).toBe(v.root);
      expect((await inclusionProof(tree, v.leafIdx, v.treeSize)).map((h) => h.toString("base64"))).toEqual(v.proof ?? []);
    }
    for (const file of vectorFiles(join(VECTORS, "consistency"))) {
      const v = JSON.parse(readFileSync(file, "utf8"));
      if (v.wantErr || !file.includes("happy-path")) continue;
      const tree = memorySubtrees(REFERENCE_LEAVES.slice(0, v.size2).map(leafHash));
      expect((await consistencyProof(tree, v.size1, v.size2)).map((h) => h.toString("base64"))).toEqual(v.proof ?? []);
    }
  });

  it("verify for every leaf and every pair of sizes up to 70 leaves", async () => {
    const leaves = Array.from({ length: 70 }, (_, i) => Buffer.from(`entry ${i}`));
    const tree = memorySubtrees(leaves.map(leafHash));
    const roots = [await treeHash(tree, 0)];
    for (let n = 1; n <= leaves.length; n++) roots.push(await treeHash(tree, n));
    for (let n = 1; n <= leaves.length; n++) {
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(tree, i, n);
        expect(verifyInclusion(i, n, leafHash(leaves[i]!), proof, roots[n]!)).toBe(true);
        expect(verifyInclusion(i, n, leafHash(Buffer.from("other")), proof, roots[n]!)).toBe(false);
      }
      for (let m = 0; m <= n; m++) {
        const proof = await consistencyProof(tree, m, n);
        expect(verifyConsistency(m, n, proof, roots[m]!, roots[n]!), `${m}→${n}`).toBe(m > 0);
        if (m > 0 && m < n) expect(verifyConsistency(m, n, proof, roots[m - 1]!, roots[n]!)).toBe(false);
      }
    }
  });
});
