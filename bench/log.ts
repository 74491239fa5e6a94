import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { checkpointText } from "../tlog/checkpoint.js";
import { consistencyProof, inclusionProof, leafHash, treeHash, verifyInclusion } from "../tlog/merkle.js";
import { noteSigner, signNote, verifierKeyText } from "../tlog/note.js";
import { encodeEntryBundle, tilePath, tilesForSize, TILE_HEIGHT, TILE_WIDTH } from "../tlog/tiles.js";
import { directorySource } from "../cli/log-sources.js";
import { verifyLogCopy } from "../src/core/audit/log-copy-verifier.js";
import { canonicalEntry, chainHash, GENESIS_HASH } from "../src/store/audit-chain.js";
import { SqliteDb } from "../src/store/sqlite/sqlite-db.js";
import { SqliteLogTreeStore } from "../src/store/sqlite/sqlite-log-tree-store.js";
import type { IssueRequest } from "../src/core/issuance/issuance-service.js";
import { benchServices } from "./in-process.js";
import { inFlight } from "./load.js";
import { percentile, type Row } from "./table.js";

const ORIGIN = "bench.example/dpki-log";
const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/**
 * The verifiable log at a million entries: a tree of real dpki entries (the canonical encoding,
 * chained) stored as the server stores it, in a temporary SQLite file, and exported in the
 * C2SP tlog-tiles layout. Inclusion proofs and checkpoints from the stored subtrees, the offline
 * verification of the export (in-process and through `dpki audit verify`), and issuance with the
 * tree kept up to date next to issuance without it.
 */
export async function benchLog(csrs: string[], entries = 1_000_000): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-log-"));
  try {
    const rows: Row[] = [];
    const signer = noteSigner(ORIGIN, generateKeyPairSync("ed25519").privateKey);
    const copy = join(dir, "copy");
    const write = (path: string, data: Buffer | string) => {
      mkdirSync(dirname(join(copy, path)), { recursive: true });
      writeFileSync(join(copy, path), data);
    };

    // The entries, their bundles and the stored tree, one bundle at a time.
    const sqlite = new SqliteDb(join(dir, "tree.db"), { synchronous: "NORMAL" });
    const tree = new SqliteLogTreeStore(sqlite);
    let started = performance.now();
    let prev = GENESIS_HASH;
    const at = new Date("2026-03-01T00:00:00.000Z");
    let appendMs = 0;
    for (let first = 0; first < entries; first += TILE_WIDTH) {
      const bundle: Buffer[] = [];
      for (let i = first; i < Math.min(entries, first + TILE_WIDTH); i++) {
        const input = {
          at,
          actor: "token:line-1",
          action: "cert.issue",
          subject: `CN=dev-${i}`,
          serial: i.toString(16).padStart(32, "0"),
          profile: "device",
          policyHash: "3f0a9c1e5b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a",
          details: { sha256: (i * 2654435761).toString(16).padStart(64, "0"), issuer: "int-7b2e4d6f" },
        };
        bundle.push(Buffer.from(canonicalEntry(i + 1, prev, input), "utf8"));
        prev = chainHash(i + 1, prev, input);
      }
      write(tilePath({ level: "entries", index: first / TILE_WIDTH, width: bundle.length }), encodeEntryBundle(bundle));
      const t = performance.now();
      await tree.appendLeaves(first, bundle.map(leafHash));
      appendMs += performance.now() - t;
    }
    const n = entries.toLocaleString("en-US");
    rows.push({ case: `log tree: append ${n} leaves (SQLite, with every complete subtree)`, seconds: appendMs / 1000 });
    const buildSeconds = (performance.now() - started) / 1000;

    const stored = (level: number, index: number) => tree.subtreeHash(level, index);
    const root = await treeHash(stored, entries);

    // Inclusion proofs from the stored subtrees, as GET /v1/audit/proof computes them.
    const latencies: number[] = [];
    for (let k = 0; k < 2_000; k++) {
      const index = Math.floor(Math.random() * entries);
      const t = performance.now();
      const proof = await inclusionProof(stored, index, entries);
      latencies.push(performance.now() - t);
      if (k === 0 && !verifyInclusion(index, entries, (await tree.subtreeHash(0, index))!, proof, root)) throw new Error("bad proof");
    }
    rows.push({
      case: `inclusion proof at ${n} entries (stored subtrees)`,
      throughput: 1000 / percentile([...latencies], 50),
      p50Ms: percentile([...latencies], 50),
      p99Ms: percentile(latencies, 99),
      note: "target < 1 ms",
    });

    // A checkpoint as LogService signs one: the root, a consistency proof from the last one, the signature.
    const signing: number[] = [];
    const whole: number[] = [];
    for (let k = 0; k < 200; k++) {
      const t = performance.now();
      const r = await treeHash(stored, entries);
      await consistencyProof(stored, entries - 1000, entries);
      const s = performance.now();
      await signNote(checkpointText({ origin: ORIGIN, size: entries, root: r }), [signer]);
      const e = performance.now();
      signing.push(e - s);
      whole.push(e - t);
    }
    rows.push({
      case: "checkpoint: sign the note (Ed25519) and check the signature",
      p50Ms: percentile(signing, 50),
      p99Ms: percentile(signing, 99),
    });
    rows.push({
      case: `checkpoint at ${n} entries: root + consistency proof + sign`,
      p50Ms: percentile(whole, 50),
      p99Ms: percentile(whole, 99),
    });

    // The export: hash tiles cut from the stored subtrees, as GET /v1/log/tile serves them.
    started = performance.now();
    for (const t of tilesForSize(entries)) {
      if (t.level === "entries") continue;
      write(tilePath(t), Buffer.concat(await tree.subtreeHashes(TILE_HEIGHT * t.level, t.index * TILE_WIDTH, t.width)));
    }
    const vkey = verifierKeyText(signer);
    write("checkpoint", await signNote(checkpointText({ origin: ORIGIN, size: entries, root }), [signer]));
    rows.push({
      case: `export of ${n} entries (bundles while appending, then tiles)`,
      seconds: buildSeconds - appendMs / 1000 + (performance.now() - started) / 1000,
    });
    sqlite.close();

    started = performance.now();
    const verdict = await verifyLogCopy(directorySource(copy), signer);
    if (!verdict.ok) throw new Error(`the bench export does not verify: ${verdict.message}`);
    rows.push({
      case: `offline verification of ${n} entries, in-process`,
      seconds: (performance.now() - started) / 1000,
      peakRssMb: process.memoryUsage().rss / 2 ** 20,
      note: "target < 10 s",
    });
    started = performance.now();
    const cli = spawnSync(process.execPath, [BIN, "audit", "verify", copy, "--key", vkey], { encoding: "utf8" });
    if (cli.status !== 0) throw new Error(`dpki audit verify: ${cli.stdout}${cli.stderr}`);
    rows.push({
      case: `dpki audit verify DIR --key, ${n} entries (process start included)`,
      seconds: (performance.now() - started) / 1000,
    });

    rows.push(...(await issuanceWithTree(csrs)));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Issuance at 64 in flight, alternately without the tree (checkpoints off) and with it caught up
 * and a checkpoint signed every second: `dpki serve` with checkpointInterval "1s" (the default
 * is 5m, which does the same catching up in bursts). Best of three rounds each.
 */
async function issuanceWithTree(csrs: string[], seconds = 3): Promise<Row[]> {
  const { services, cleanup } = await benchServices();
  try {
    const request = (i: number): IssueRequest => ({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" });
    const best = { without: 0, with: 0 };
    const rows: Record<string, Row> = {};
    for (let round = 0; round < 3; round++) {
      for (const mode of ["without", "with"] as const) {
        let timer: NodeJS.Timeout | undefined;
        let checkpoints = 0;
        if (mode === "with") {
          await services.log.checkpoint();
          timer = setInterval(() => void services.log.checkpoint().then(() => checkpoints++), 1000);
        }
        const r = await inFlight(64, seconds, (i) => services.issuance.issue(request(i)));
        clearInterval(timer);
        if (r.throughput > best[mode]) {
          best[mode] = r.throughput;
          rows[mode] = {
            case: `issue in-process, 64 in flight, ${mode} the Merkle tree`,
            ...r,
            note: mode === "with" ? `tree caught up + checkpoint signed every second (${checkpoints} in the run)` : "checkpoints off",
          };
        }
      }
    }
    await services.log.checkpoint();
    const verdict = await services.audit.verify();
    if (!verdict.ok || !verdict.checkpoint) throw new Error(`log broken after the run: ${verdict.ok ? "no checkpoint" : verdict.message}`);
    const overhead = (1 - best.with / best.without) * 100;
    return [rows.without!, { ...rows.with!, note: `${rows.with!.note}; overhead ${overhead.toFixed(1)}% (goal ≤ 10%)` }];
  } finally {
    await cleanup();
  }
}
