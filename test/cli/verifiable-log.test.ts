/**
 * The verifiable log as an operator and an auditor use it: `dpki audit checkpoint`, `audit prove`,
 * `audit verify` through the CLI binary; the proof checked by Go's sumdb verifier when Go is here.
 */
import Database from "better-sqlite3";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { logLeaf } from "../../src/core/audit/log-service.js";
import { dpki } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

const work = tempDir();
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "log test" };
const json = (...args: string[]) => {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};
let serial: string;

beforeAll(async () => {
  await initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE });
  const csr = opensslCsr(work, "dev", { subject: "/CN=log-device-1" });
  serial = json("cert", "issue", "--csr", csr, "--profile", "device").serial;
  json("cert", "issue", "--csr", opensslCsr(work, "dev2", { subject: "/CN=log-device-2" }), "--profile", "device");
});

it("signs a checkpoint and writes a proof that Go's sumdb verifier accepts", () => {
  const cp = json("audit", "checkpoint");
  expect(cp.note).toMatch(
    new RegExp(`^${cp.origin.replace(/[.]/g, "\\.")}\\n${cp.size}\\n${cp.root.replace(/[+/]/g, "\\$&")}\\n\\n\u2014 `),
  );
  const proofFile = join(work, "dev.tlog-proof");
  const r = dpki(["audit", "prove", serial, "--out", proofFile], { env });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/proven against checkpoint of \d+/);
  // The entry itself rides along as the extra data: the proof checks with nothing else.
  expect(readFileSync(proofFile, "utf8")).toMatch(/^c2sp\.org\/tlog-proof@v1\nextra [A-Za-z0-9+/=]+\nindex \d+\n/);

  const GOCODE = "/usr/share/gocode";
  if (spawnSync("go", ["version"]).status !== 0 || !existsSync(join(GOCODE, "src", "golang.org", "x", "mod", "sumdb"))) return;
  const src = join(work, "gopath", "src", "sumdbcheck");
  mkdirSync(src, { recursive: true });
  copyFileSync(resolve(import.meta.dirname, "..", "tlog", "sumdb-check", "main.go"), join(src, "main.go"));
  const checker = join(work, "sumdb-check");
  execFileSync("go", ["build", "-o", checker, "sumdbcheck"], {
    cwd: src,
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${GOCODE}:${join(work, "gopath")}`, GOCACHE: join(work, "gocache"), GOFLAGS: "" },
  });
  // The leaf is the entry's canonical encoding, rebuilt from what `audit log --json` exports.
  const entry = json("audit", "log", "--serial", serial, "--action", "cert.issue").items[0];
  writeFileSync(join(work, "leaf"), logLeaf({ ...entry, at: new Date(entry.at) }));
  const go = spawnSync(checker, ["inclusion", cp.verifierKey, proofFile, join(work, "leaf")], { encoding: "utf8" });
  expect(go.stdout + go.stderr).toContain(`inclusion ok: entry ${entry.seq - 1} in tree of`);
}, 120_000);

it("`audit verify` sees the log's tail cut below the signed checkpoint, which the chain alone cannot", () => {
  const cp = json("audit", "checkpoint");
  expect(json("audit", "verify")).toMatchObject({ ok: true, checkpoint: { size: cp.size } });
  const db = new Database(join(env.DPKI_HOME, "dpki.db"));
  db.prepare("DELETE FROM audit_log WHERE seq = ?").run(cp.size);
  db.close();
  const r = dpki(["audit", "verify"], { env });
  expect(r.status).toBe(65);
  expect(r.stdout).toMatch(/Log BROKEN at entry \d+ \(truncated\): The log was cut/);
});
