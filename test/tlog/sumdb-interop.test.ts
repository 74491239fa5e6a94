/**
 * dpki's checkpoints, inclusion proofs and consistency proofs checked by Go's reference
 * implementation (golang.org/x/mod/sumdb/note and sumdb/tlog). Runs where Go and that package
 * are installed (`.ci/run` installs Debian's golang-go and golang-golang-x-mod-dev).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkpointText } from "../../tlog/checkpoint.js";
import { consistencyProof, inclusionProof, leafHash, memorySubtrees, treeHash } from "../../tlog/merkle.js";
import { noteSigner, signNote, verifierKeyText } from "../../tlog/note.js";
import { tlogProofText } from "../../tlog/proof.js";
import { tempDir } from "../helpers/temp-dir.js";

const GOCODE = "/usr/share/gocode";
const haveGo = spawnSync("go", ["version"]).status === 0 && existsSync(join(GOCODE, "src", "golang.org", "x", "mod", "sumdb", "tlog"));

describe.skipIf(!haveGo)("Go's sumdb verifier accepts dpki's checkpoints and proofs", () => {
  const dir = tempDir();
  const checker = join(dir, "sumdb-check");
  const signer = noteSigner("log.example/dpki", generateKeyPairSync("ed25519").privateKey);
  const vkey = verifierKeyText(signer);
  const leaves = Array.from({ length: 1000 }, (_, i) => Buffer.from(`entry ${i}`));
  const tree = memorySubtrees(leaves.map(leafHash));
  const checkpoint = async (size: number) =>
    signNote(checkpointText({ origin: "log.example/dpki", size, root: await treeHash(tree, size) }), [signer]);
  const run = (args: string[]) => spawnSync(checker, args, { encoding: "utf8" });

  beforeAll(() => {
    const src = join(dir, "gopath", "src", "sumdbcheck");
    mkdirSync(src, { recursive: true });
    copyFileSync(resolve(import.meta.dirname, "sumdb-check", "main.go"), join(src, "main.go"));
    execFileSync("go", ["build", "-o", checker, "sumdbcheck"], {
      cwd: src,
      env: { ...process.env, GO111MODULE: "off", GOPATH: `${GOCODE}:${join(dir, "gopath")}`, GOCACHE: join(dir, "gocache"), GOFLAGS: "" },
    });
  }, 120_000);

  it("verifies inclusion proofs against signed checkpoints, and refuses a forged one", async () => {
    for (const [index, size] of [
      [0, 1],
      [5, 6],
      [511, 512],
      [700, 1000],
      [999, 1000],
    ] as const) {
      const file = join(dir, `proof-${index}-${size}.tlog-proof`);
      writeFileSync(file, tlogProofText({ index, proof: await inclusionProof(tree, index, size), checkpoint: await checkpoint(size) }));
      writeFileSync(join(dir, "leaf"), leaves[index]!);
      const r = run(["inclusion", vkey, file, join(dir, "leaf")]);
      expect(r.stdout + r.stderr).toContain(`inclusion ok: entry ${index} in tree of ${size}`);
    }
    const file = join(dir, "forged.tlog-proof");
    const forged = (await checkpoint(1000)).replace(/^(log\.example\/dpki\n)1000\n/, "$1999\n");
    writeFileSync(file, tlogProofText({ index: 3, proof: await inclusionProof(tree, 3, 1000), checkpoint: forged }));
    writeFileSync(join(dir, "leaf"), leaves[3]!);
    expect(run(["inclusion", vkey, file, join(dir, "leaf")]).status).not.toBe(0);
  });

  it("verifies consistency proofs between two signed checkpoints, and refuses a rewritten history", async () => {
    for (const [m, n] of [
      [1, 2],
      [3, 7],
      [512, 1000],
      [999, 1000],
    ] as const) {
      writeFileSync(join(dir, "old"), await checkpoint(m));
      writeFileSync(join(dir, "new"), await checkpoint(n));
      writeFileSync(join(dir, "cproof"), (await consistencyProof(tree, m, n)).map((h) => h.toString("base64")).join("\n"));
      const r = run(["consistency", vkey, join(dir, "old"), join(dir, "new"), join(dir, "cproof")]);
      expect(r.stdout + r.stderr).toContain(`consistency ok: ${m} -> ${n}`);
    }
    const other = memorySubtrees(leaves.map((l, i) => leafHash(i === 2 ? Buffer.from("rewritten") : l)));
    const rewritten = await signNote(checkpointText({ origin: "log.example/dpki", size: 10, root: await treeHash(other, 10) }), [signer]);
    writeFileSync(join(dir, "old"), rewritten);
    writeFileSync(join(dir, "new"), await checkpoint(1000));
    writeFileSync(join(dir, "cproof"), (await consistencyProof(tree, 10, 1000)).map((h) => h.toString("base64")).join("\n"));
    expect(run(["consistency", vkey, join(dir, "old"), join(dir, "new"), join(dir, "cproof")]).status).not.toBe(0);
  });
});
