/**
 * The verifiable log on a real data directory: checkpoints signed with the log key, inclusion
 * proofs for issued certificates, and the tampering a hash chain alone cannot see (a cut tail).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../tlog/checkpoint.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../../tlog/merkle.js";
import { openNote, parseVerifierKey } from "../../tlog/note.js";
import { parseTlogProof } from "../../tlog/proof.js";
import type { Services } from "../../src/app.js";
import { logLeaf } from "../../src/core/audit/log-service.js";
import { verifyChain } from "../../src/store/audit-chain.js";
import { makeCsr } from "../http/harness.js";
import { openServices } from "../../src/app.js";
import { servicesWithCa, TEST_PASSPHRASE } from "../helpers/services.js";

let services: Services;
const serials: string[] = [];

beforeAll(async () => {
  services = await servicesWithCa();
  for (let i = 0; i < 5; i++) {
    serials.push((await services.issuance.issue({ csr: await makeCsr(`log-${i}`), profile: "device", actor: "test" })).certificate.serial);
  }
});

describe("the verifiable log", () => {
  it("signs a checkpoint of every entry that opens with the published verifier key", async () => {
    const vkey = parseVerifierKey(await services.log.verifierKey());
    expect(vkey.name).toBe("localhost:8443/dpki-log");
    const cp = await services.log.checkpoint();
    const body = parseCheckpoint(openNote(cp.note, [vkey]).text);
    let entries = 0;
    for await (const batch of services.store.auditEntries()) entries += batch.length;
    expect(body).toMatchObject({ origin: "localhost:8443/dpki-log", size: entries });
    // Nothing new: the same checkpoint.
    expect((await services.log.checkpoint()).note).toBe(cp.note);
  });

  it("proves a certificate's issuance entry is in the signed tree", async () => {
    const vkey = parseVerifierKey(await services.log.verifierKey());
    const { proof, entry } = await services.log.proveCertificate(serials[2]!);
    expect(entry).toMatchObject({ action: "cert.issue", serial: serials[2] });
    const parsed = parseTlogProof(proof);
    const cp = parseCheckpoint(openNote(parsed.checkpoint, [vkey]).text);
    expect(parsed.index).toBe(entry.seq - 1);
    expect(verifyInclusion(parsed.index, cp.size, leafHash(logLeaf(entry)), parsed.proof, cp.root)).toBe(true);
    await expect(services.log.proveCertificate("00")).rejects.toThrow(/No issuance of certificate 00/);
  });

  it("proves each new checkpoint extends the previous one", async () => {
    const vkey = parseVerifierKey(await services.log.verifierKey());
    const before = parseCheckpoint(openNote((await services.log.checkpoint()).note, [vkey]).text);
    await services.issuance.issue({ csr: await makeCsr("log-later"), profile: "device", actor: "test" });
    const after = parseCheckpoint(openNote((await services.log.checkpoint()).note, [vkey]).text);
    expect(after.size).toBeGreaterThan(before.size);
    const proof = await services.log.consistency(before.size, after.size);
    expect(verifyConsistency(before.size, after.size, proof, before.root, after.root)).toBe(true);
    expect(await services.log.checkAgainstCheckpoint()).toMatchObject({ ok: true, size: after.size });
  });

  it("catches the tree up alongside another process doing the same, without failing either", async () => {
    // A second opening of the same data directory: `dpki audit …` beside `dpki serve`.
    const other = openServices({ dataDir: services.dataDir.root, passphrase: TEST_PASSPHRASE, keyIterations: 1000 });
    try {
      for (let i = 0; i < 3; i++) await services.issuance.issue({ csr: await makeCsr(`race-${i}`), profile: "device", actor: "test" });
      const [a, b] = await Promise.all([services.log.catchUp(), other.log.catchUp()]);
      expect(a).toBe(b);
      expect((await other.log.checkpoint()).size).toBe(a);
    } finally {
      await other.close();
    }
  });

  it("sees a cut tail and a rewritten entry against the signed checkpoint", async () => {
    const signed = (await services.log.checkpoint()).size;
    const db = new Database(join(services.dataDir.root, "dpki.db"));
    try {
      const last = db.prepare("SELECT * FROM audit_log WHERE seq = ?").get(signed) as Record<string, unknown>;
      db.prepare("DELETE FROM audit_log WHERE seq = ?").run(signed);
      // The chain alone still verifies: nothing after the cut links to it. The checkpoint shows the cut.
      expect(await verifyChain(services.store.auditEntries())).toMatchObject({ ok: true, entries: signed - 1 });
      expect(await services.audit.verify()).toMatchObject({ ok: false, problem: "truncated", seq: signed });
      expect(await services.log.checkAgainstCheckpoint()).toMatchObject({ ok: false, message: expect.stringMatching(/The log was cut/) });
      const cols = Object.keys(last);
      db.prepare(`INSERT INTO audit_log (${cols.join(",")}) VALUES (${cols.map(() => "?").join(",")})`).run(...cols.map((c) => last[c]));
      expect(await services.log.checkAgainstCheckpoint()).toMatchObject({ ok: true });

      db.prepare("UPDATE audit_log SET actor = 'someone else', hash = ? WHERE seq = 2").run("00".repeat(32));
      expect(await services.log.checkAgainstCheckpoint()).toMatchObject({ ok: false, message: expect.stringMatching(/rewritten/) });
    } finally {
      db.close();
    }
  });
});
