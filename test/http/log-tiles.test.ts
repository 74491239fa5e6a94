/**
 * The issuance log served as C2SP tlog-tiles under /v1/log: checkpoint, hash tiles and entry
 * bundles as the spec names and encodes them, their caching, who may read them, and the
 * consistency proofs of /v1/audit/consistency.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../tlog/checkpoint.js";
import { leafHash, memorySubtrees, nodeHash, treeHash, verifyConsistency } from "../../tlog/merkle.js";
import { openNote, parseVerifierKey } from "../../tlog/note.js";
import { decodeEntryBundle, decodeTile } from "../../tlog/tiles.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr, startTestServer, type TestServer } from "./harness.js";

let t: TestServer;
let size: number;

beforeAll(async () => {
  t = await startTestServer();
  // More than one full tile: 256 leaves in tile 0, the rest in a partial tile 1.
  const csrs = await Promise.all(Array.from({ length: 8 }, (_, i) => makeCsr(`tile-${i}`)));
  const items = Array.from({ length: 300 }, (_, i) => ({ csr: csrs[i % csrs.length]!, profile: "device" }));
  const r = await t.request("POST", "/v1/certificates/batch", { token: t.tokens.admin, body: { items } });
  expect(r.status, r.text).toBe(200);
  size = (await t.request("GET", "/v1/audit/checkpoint", { token: t.tokens.auditor })).json.size;
  expect(size).toBeGreaterThan(300);
});
afterAll(() => t?.close());

describe("GET /v1/log/…", () => {
  it("serves the latest signed checkpoint as a text note, cached a few seconds", async () => {
    const r = await t.request("GET", "/v1/log/checkpoint", { token: t.tokens.auditor });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("private, max-age=5");
    const vkey = parseVerifierKey((await t.request("GET", "/v1/audit/checkpoint", { token: t.tokens.auditor })).json.verifierKey);
    expect(parseCheckpoint(openNote(r.text, [vkey]).text).size).toBe(size);
  });

  it("serves the log key's certificates by the roots beside the checkpoint", async () => {
    const r = await t.request("GET", "/v1/log/log-key.pem", { token: t.tokens.auditor });
    expect(r.status, r.text).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
    const view = (await t.request("GET", "/v1/audit/checkpoint", { token: t.tokens.auditor })).json;
    expect(r.text).toBe(view.keyCertificates.map((k: { certificate: string }) => k.certificate).join(""));
    const cert = new X509Certificate(r.text);
    const raw = Buffer.from(view.verifierKey.split("+").slice(2).join("+"), "base64").subarray(1);
    expect(cert.publicKey.export({ type: "spki", format: "der" }).subarray(-32)).toEqual(raw);
  });

  it("serves full and partial tiles and bundles whose hashes give the checkpoint's root", async () => {
    const cp = parseCheckpoint(
      openNote((await t.request("GET", "/v1/log/checkpoint", { token: t.tokens.auditor })).text, [
        parseVerifierKey((await t.request("GET", "/v1/audit/checkpoint", { token: t.tokens.auditor })).json.verifierKey),
      ]).text,
    );
    const w = size - 256;
    const full = await t.request("GET", "/v1/log/tile/0/000", { token: t.tokens.auditor });
    expect(full.status).toBe(200);
    expect(full.headers["content-type"]).toBe("application/octet-stream");
    expect(full.headers["cache-control"]).toBe("private, max-age=31536000, immutable");
    const partial = await t.request("GET", `/v1/log/tile/0/001.p/${w}`, { token: t.tokens.auditor });
    expect(partial.status, partial.text).toBe(200);
    expect(partial.headers["cache-control"]).toBe("private, max-age=86400");
    const level1 = await t.request("GET", "/v1/log/tile/1/000.p/1", { token: t.tokens.auditor });
    expect(level1.status).toBe(200);
    const bundles = [
      await t.request("GET", "/v1/log/tile/entries/000", { token: t.tokens.auditor }),
      await t.request("GET", `/v1/log/tile/entries/001.p/${w}`, { token: t.tokens.auditor }),
    ];
    const entries = bundles.flatMap((b) => decodeEntryBundle(b.body));
    expect(entries).toHaveLength(size);
    const leaves = entries.map(leafHash);
    expect(Buffer.concat(leaves.slice(0, 256)).equals(full.body)).toBe(true);
    expect(Buffer.concat(leaves.slice(256)).equals(partial.body)).toBe(true);
    expect(level1.body.equals(await treeHash(memorySubtrees(leaves.slice(0, 256)), 256))).toBe(true);
    expect((await treeHash(memorySubtrees(leaves), size)).equals(cp.root)).toBe(true);
    expect(nodeHash(level1.body, await treeHash(memorySubtrees(decodeTile(partial.body, w)), w)).equals(cp.root)).toBe(true);
  });

  it("refuses what is not a canonical tile path (400) and tiles the tree has not reached (404)", async () => {
    for (const path of [
      "/v1/log/tile/0/5",
      "/v1/log/tile/0/x000/000",
      "/v1/log/tile/0/000.p/256",
      "/v1/log/tile/00/000",
      "/v1/log/tile/entries/000.p/0",
    ]) {
      const r = await t.request("GET", path, { token: t.tokens.auditor });
      expect(r.status, path).toBe(400);
      expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
    for (const path of [
      "/v1/log/tile/0/002",
      "/v1/log/tile/0/001",
      `/v1/log/tile/0/001.p/${size - 255}`,
      "/v1/log/tile/2/000.p/1",
      "/v1/log/tile/entries/x001/000",
    ]) {
      const r = await t.request("GET", path, { token: t.tokens.auditor });
      expect(r.status, path).toBe(404);
      expect(r.json.detail).toMatch(/the log's tree holds \d+ entries/);
    }
  });

  it("needs an admin or auditor token, an unscoped one", async () => {
    expect((await t.request("GET", "/v1/log/checkpoint")).status).toBe(401);
    expect((await t.request("GET", "/v1/log/log-key.pem")).status).toBe(401);
    expect((await t.request("GET", "/v1/log/log-key.pem", { token: t.tokens.operator })).status).toBe(403);
    expect((await t.request("GET", "/v1/log/tile/0/000", { token: t.tokens.operator })).status).toBe(403);
    expect((await t.request("GET", "/v1/log/tile/entries/000", { token: t.tokens.admin })).status).toBe(200);
    await t.services.dps.admin.createScope({ idScope: "0ne00TILES" }, "test");
    const scoped = (await t.services.tokens.create({ role: "auditor", name: "scoped-auditor", scope: "0ne00TILES" }, "test")).secret;
    const r = await t.request("GET", "/v1/log/tile/0/000", { token: scoped });
    expect(r.status).toBe(403);
    expect(r.json.detail).toMatch(/covers every scope/);
  });
});

describe("GET /v1/audit/consistency", () => {
  it("proves an earlier checkpoint's tree is a prefix of the current one", async () => {
    const r = await t.request("GET", `/v1/audit/consistency?from=100&to=${size}`, { token: t.tokens.auditor });
    expect(r.status, r.text).toBe(200);
    const proof = r.json.proof.map((h: string) => Buffer.from(h, "base64"));
    expect(r.json).toMatchObject({ from: 100, to: size });
    expect(verifyConsistency(100, size, proof, Buffer.from(r.json.fromRoot, "base64"), Buffer.from(r.json.toRoot, "base64"))).toBe(true);
    const same = await t.request("GET", `/v1/audit/consistency?from=${size}&to=${size}`, { token: t.tokens.auditor });
    expect(same.json).toMatchObject({ proof: [], fromRoot: same.json.toRoot });
  });

  it("refuses sizes out of order or beyond the log with a 400 naming the bounds", async () => {
    for (const q of [`from=5&to=4`, "from=1&to=1000000000", "from=0&to=3", "from=1", "to=3", "from=a&to=3"]) {
      const r = await t.request("GET", `/v1/audit/consistency?${q}`, { token: t.tokens.auditor });
      expect(r.status, q).toBe(400);
    }
    const r = await t.request("GET", `/v1/audit/consistency?from=5&to=4`, { token: t.tokens.auditor });
    expect(r.json.detail).toMatch(/sizes must be 1 ≤ old ≤ new ≤ \d+/);
  });
});

describe("with logPublic", () => {
  it("serves the log to anyone, cacheable by shared caches", async () => {
    const dir = tempDir("dpki-log-public-");
    mkdirSync(join(dir, "data"), { recursive: true });
    writeFileSync(join(dir, "data", "config.json"), JSON.stringify({ logPublic: true }));
    const open = await startTestServer({ dir });
    try {
      const cp = await open.request("GET", "/v1/log/checkpoint");
      expect(cp.status).toBe(200);
      expect(cp.headers["cache-control"]).toBe("public, max-age=5");
      const n = parseCheckpoint(cp.text.slice(0, cp.text.indexOf("\n\n") + 1)).size;
      const bundle = await open.request("GET", `/v1/log/tile/entries/000.p/${n}`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers["cache-control"]).toBe("public, max-age=86400");
      // The rest of the audit API keeps its tokens.
      expect((await open.request("GET", "/v1/audit/checkpoint")).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});
