/**
 * The log's C2SP tlog-tiles, read by Go's reference client (golang.org/x/mod/sumdb/tlog:
 * TileHashReader, ProveRecord, CheckRecord, ReadTileData) from a running `dpki serve` and from
 * an export, and by `dpki audit verify URL` and `dpki --server … audit export`. Also a 70,000-entry
 * tiling (three levels, the spec's example size) written from tlog/ alone. Runs where Go and that
 * package are installed.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointText } from "../../tlog/checkpoint.js";
import { leafHash, memorySubtrees, treeHash } from "../../tlog/merkle.js";
import { noteSigner, signNote, verifierKeyText } from "../../tlog/note.js";
import { encodeEntryBundle, tileFromSubtrees, tilePath, tilesForSize } from "../../tlog/tiles.js";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr } from "../http/harness.js";

const GOCODE = "/usr/share/gocode";
const haveGo = spawnSync("go", ["version"]).status === 0 && existsSync(join(GOCODE, "src", "golang.org", "x", "mod", "sumdb", "tlog"));
const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

describe.skipIf(!haveGo)("Go's tlog client reads dpki's tiles", () => {
  const work = tempDir("dpki-sumdb-tiles-");
  const home = join(work, "ca");
  const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "tiles test" };
  const checker = join(work, "sumdb-check");
  let server: ChildProcess | undefined;
  let url: string;
  let token: string;
  let vkey: string;
  let size: number;
  const go = (args: string[], extra: Record<string, string> = {}) =>
    spawnSync(checker, args, { encoding: "utf8", env: { ...process.env, ...extra } });

  beforeAll(async () => {
    const src = join(work, "gopath", "src", "sumdbcheck");
    mkdirSync(src, { recursive: true });
    copyFileSync(resolve(import.meta.dirname, "sumdb-check", "main.go"), join(src, "main.go"));
    const build = new Promise<void>((done, fail) =>
      spawn("go", ["build", "-o", checker, "sumdbcheck"], {
        cwd: src,
        env: {
          ...process.env,
          GO111MODULE: "off",
          GOPATH: `${GOCODE}:${join(work, "gopath")}`,
          GOCACHE: join(work, "gocache"),
          GOFLAGS: "",
        },
        stdio: "inherit",
      }).once("exit", (code) => (code === 0 ? done() : fail(new Error(`go build exited ${code}`)))),
    );
    expect(dpki(["init", "--org", "Tiles"], { env }).status).toBe(0);
    // A full level-0 tile, a partial one, and a partial level-1 tile.
    const csrs = join(work, "csrs");
    mkdirSync(csrs);
    const pems = await Promise.all(Array.from({ length: 8 }, (_, i) => makeCsr(`tiles-${i}`)));
    for (let i = 0; i < 300; i++) writeFileSync(join(csrs, `dev-${i}.csr`), pems[i % pems.length]!);
    const [batch, auditorToken] = await Promise.all([
      dpkiAsync(["cert", "sign-batch", csrs, "--profile", "device", "--out", join(work, "certs")], { env }),
      dpkiAsync(["token", "create", "--role", "auditor", "--name", "go-auditor", "--json"], { env }),
    ]);
    expect(batch.status, batch.stderr).toBe(0);
    token = JSON.parse(auditorToken.stdout).secret;
    const cp = JSON.parse(dpki(["audit", "checkpoint", "--json"], { env }).stdout);
    vkey = cp.verifierKey;
    size = cp.size;
    const port = await freePort();
    url = `https://localhost:${port}`;
    server = spawn(process.execPath, [BIN, "serve", "--port", String(port), "--no-http"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((ready, failed) => {
      let err = "";
      server!.stdout!.resume();
      server!.stderr!.on("data", (d) => {
        err += d;
        if (err.includes("dpki is listening")) ready();
      });
      server!.once("exit", () => failed(new Error(`server exited: ${err}`)));
    });
    await build;
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((done) => server!.once("exit", done));
      server.kill("SIGTERM");
      await exited;
    }
  });

  it("authenticates every tile against the signed checkpoint and proves entries from them, over HTTPS", () => {
    expect(size).toBeGreaterThan(300);
    const r = go(["tiles", vkey, `${url}/v1/log`, join(home, "root.pem"), "0", "1", "255", "256", String(size - 1)], { DPKI_TOKEN: token });
    expect(r.stdout + r.stderr).toContain(`tiles ok: tree of ${size}, 5 entries proven`);
    // Without a token the log is not served (logPublic is false by default).
    expect(go(["tiles", vkey, `${url}/v1/log`, join(home, "root.pem"), "0"]).stderr).toMatch(/401/);
  });

  it("is what `dpki audit verify URL` and an export through --server check, with an auditor token and no data directory", async () => {
    const auditor = { DPKI_HOME: join(work, "auditor"), DPKI_PASSPHRASE: undefined, DPKI_TOKEN: token };
    const caFile = join(home, "root.pem");
    const copy = join(work, "copy");
    const [online, exported] = await Promise.all([
      dpkiAsync(["audit", "verify", url, "--key", vkey, "--ca-file", caFile], { env: auditor }),
      dpkiAsync(["--server", url, "--ca-file", caFile, "audit", "export", "--out", copy], { env: auditor }),
    ]);
    // The server logged its own TLS certificate at start: the export's fresh checkpoint may count it, the served one not yet.
    expect(online.stdout, online.stderr).toMatch(/^Log copy intact: \d+ entries/);
    expect(Number(/(\d+) entries/.exec(online.stdout)![1])).toBeGreaterThanOrEqual(size);
    expect(exported.status, exported.stderr).toBe(0);
    const offline = dpki(["audit", "verify", copy, "--key", vkey], { env: auditor });
    expect(offline.stdout, offline.stderr).toMatch(/^Log copy intact/);
    // The export is a tlog-tiles log too: Go reads it from the directory.
    expect(go(["tiles", vkey, copy, "-", "7", "300"]).stdout).toMatch(/^tiles ok: tree of \d+, 2 entries proven/);
  });

  it("reads a three-level tiling of 70,000 entries written by tlog/", async () => {
    const signer = noteSigner("log.example/tiles", generateKeyPairSync("ed25519").privateKey);
    const n = 70_000;
    const entries = Array.from({ length: n }, (_, i) => Buffer.from(`entry ${i}`));
    const tree = memorySubtrees(entries.map(leafHash));
    const dir = join(work, "tiling");
    const write = (path: string, data: Buffer | string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    };
    for (const t of tilesForSize(n)) {
      const bytes =
        t.level === "entries"
          ? encodeEntryBundle(entries.slice(t.index * 256, t.index * 256 + t.width))
          : await tileFromSubtrees(tree, { ...t, level: t.level });
      write(tilePath(t), bytes);
    }
    write("checkpoint", await signNote(checkpointText({ origin: "log.example/tiles", size: n, root: await treeHash(tree, n) }), [signer]));
    const r = go(["tiles", verifierKeyText(signer), dir, "-", "0", "65535", "65536", "69999"]);
    expect(r.stdout + r.stderr).toContain("tiles ok: tree of 70000, 4 entries proven");
  });
});
