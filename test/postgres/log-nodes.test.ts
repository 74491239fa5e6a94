/**
 * The verifiable log when several nodes extend its Merkle tree and sign checkpoints at once,
 * each on its own timer and for its own proof requests: none of them fails for having been
 * beaten to it, and every checkpoint extends the one before.
 */
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { openServices, type Services } from "../../src/app.js";
import { DEFAULT_CONFIG, writeConfig } from "../../src/config.js";
import { verifyConsistency } from "../../tlog/merkle.js";
import { tempDir } from "../helpers/temp-dir.js";
import { createDatabase, describePg, PG_DISABLED } from "../helpers/postgres.js";
import { makeCsr } from "../http/harness.js";

const nodes: Services[] = [];

beforeAll(async () => {
  if (PG_DISABLED) return;
  const url = await createDatabase();
  const dir = join(tempDir(), "data");
  const open = (create: boolean) => openServices({ dataDir: dir, passphrase: "log nodes", keyIterations: 1000, create, database: url });
  const first = open(true);
  await first.ca.init({ algorithm: "P-256", organization: "Test", actor: "test" });
  writeConfig(dir, { ...DEFAULT_CONFIG, database: "postgres" });
  // The log key is made once, before the other nodes start (README: Several nodes).
  await first.log.checkpoint();
  nodes.push(first, open(false), open(false));
  return async () => {
    for (const n of nodes) await n.close();
  };
});

describePg("the verifiable log on several nodes", () => {
  it("lets nodes extend the tree and sign checkpoints at once without failing, each checkpoint extending the last", async () => {
    const csrs = await Promise.all(Array.from({ length: 6 }, (_, i) => makeCsr(`log-node-${i}`)));
    const work = nodes.flatMap((node, n) =>
      Array.from({ length: 12 }, async (_, i) => {
        await node.issuance.issue({ csr: csrs[(n + i) % csrs.length]!, profile: "device", actor: `node-${n}` });
        return i % 2 ? node.log.checkpoint() : node.log.catchUp();
      }),
    );
    const results = await Promise.allSettled(work);
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const last = await nodes[0]!.log.checkpoint();
    let entries = 0;
    for await (const batch of nodes[1]!.store.auditEntries()) entries += batch.length;
    expect(last.size).toBe(entries);
    // Every checkpoint any node answered with is a prefix of the final tree.
    const signed = results.flatMap((r) => (r.status === "fulfilled" && typeof r.value === "object" ? [r.value] : []));
    expect(signed.length).toBeGreaterThan(0);
    for (const cp of signed) {
      const proof = await nodes[2]!.log.consistency(cp.size, last.size);
      expect(verifyConsistency(cp.size, last.size, proof, cp.root, last.root)).toBe(true);
    }
    expect(await nodes[1]!.log.checkAgainstCheckpoint()).toMatchObject({ ok: true });
  });
});
