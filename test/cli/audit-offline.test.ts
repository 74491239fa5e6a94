/**
 * The offline auditor: a real log made by the CLI, exported with `dpki audit export`, then
 * tampered with in every way a copy can be — an entry edited, removed, two swapped, the copy
 * cut, the checkpoint forged or taken from a rewritten history — and each caught by
 * `dpki audit verify DIR --key`, which runs without a data directory or passphrase. Also
 * `audit verify-proof` and `audit consistency`. The copies are damaged here, then every check
 * runs at once, each in its own `dpki` process.
 */
import Database from "better-sqlite3";
import { createHash, generateKeyPairSync } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { pemDecode } from "../../ca/pem.js";
import { leafHash } from "../../tlog/merkle.js";
import { noteSigner, signNote } from "../../tlog/note.js";
import { decodeEntryBundle, encodeEntryBundle } from "../../tlog/tiles.js";
import { chainHash } from "../../src/store/audit-chain.js";
import { dpki, dpkiAsync, type CliResult } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr } from "../http/harness.js";

const work = tempDir("dpki-audit-offline-");
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "offline audit" };
/** What an auditor has: no data directory, no passphrase. */
const auditor = { DPKI_HOME: join(work, "no-such-data-dir"), DPKI_PASSPHRASE: undefined, DPKI_SERVER: undefined };
const base = join(work, "export");
const rewritten = join(work, "rewritten");
let vkey: string;
let size: number;
let partial: string;
const results = new Map<string, CliResult>();

const ok = (r: CliResult) => {
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return r;
};
const result = (name: string) => results.get(name)!;
const verdict = (name: string) => JSON.parse(result(name).stdout);

/** A fresh copy of the export to damage. */
function copy(name: string): string {
  const dir = join(work, name);
  cpSync(base, dir, { recursive: true });
  return dir;
}

function editBundle(dir: string, path: string, change: (entries: Buffer[]) => Buffer[]): Buffer[] {
  const file = join(dir, path);
  const entries = change(decodeEntryBundle(readFileSync(file)));
  writeFileSync(file, encodeEntryBundle(entries));
  return entries;
}

/** The serial the log records for an issued certificate file, found by its SHA-256 among the exported entries. */
function serialOf(certFile: string): string {
  const der = pemDecode(readFileSync(certFile, "utf8"), { labels: ["CERTIFICATE"], what: "certificate" }).der;
  const sha256 = createHash("sha256").update(der).digest("hex");
  for (const entry of decodeEntryBundle(readFileSync(join(base, "tile/entries/000")))) {
    const fields = JSON.parse(entry.toString("utf8"));
    if (fields[4] === "cert.issue" && fields[9].sha256 === sha256) return fields[6];
  }
  throw new Error(`no issuance of ${certFile}`);
}

/** The operator, who holds the log key, rewrites the last entry, drops the tree and its checkpoints, and will sign again. */
function rewriteLastEntry(): void {
  const db = new Database(join(home, "dpki.db"));
  const row = db.prepare("SELECT * FROM audit_log WHERE seq = ?").get(size) as Record<string, string | null>;
  const input = {
    at: new Date(row.at!),
    actor: "cli:someone-else",
    action: row.action!,
    subject: row.subject,
    serial: row.serial,
    profile: row.profile,
    policyHash: row.policy_hash,
    details: JSON.parse(row.details!) as Record<string, unknown>,
  };
  db.prepare("UPDATE audit_log SET actor = ?, hash = ? WHERE seq = ?").run(input.actor, chainHash(size, row.prev_hash!, input), size);
  db.exec("DELETE FROM log_tree; DELETE FROM log_checkpoints;");
  db.close();
}

beforeAll(async () => {
  ok(dpki(["init", "--org", "Offline"], { env }));
  // The log key is made (with its own entry) by the first checkpoint: before the export, so the export's size is the whole log.
  ok(dpki(["audit", "checkpoint"], { env }));
  // More than one entry bundle: 256 entries in bundle 000, the rest in a partial one.
  const csrs = join(work, "csrs");
  mkdirSync(csrs);
  const pems = await Promise.all(Array.from({ length: 12 }, (_, i) => makeCsr(`offline-${i}`)));
  for (let i = 0; i < 270; i++) writeFileSync(join(csrs, `dev-${String(i).padStart(3, "0")}.csr`), pems[i % pems.length]!);
  const certs = join(work, "certs");
  ok(dpki(["cert", "sign-batch", csrs, "--profile", "device", "--out", certs], { env }));
  const exported = JSON.parse(ok(dpki(["audit", "export", "--out", base, "--json"], { env })).stdout);
  vkey = exported.verifierKey;
  size = exported.size;
  expect(size).toBeGreaterThan(256);
  partial = `tile/entries/001.p/${size - 256}`;
  const [certFile, otherCert] = readdirSync(certs)
    .sort()
    .map((f) => join(certs, f));
  const proof = join(work, "cert.tlog-proof");
  ok(dpki(["audit", "prove", serialOf(certFile!), "--out", proof], { env }));

  const checks: Record<string, { args: string[]; env?: Record<string, string | undefined> }> = {};
  const verify = (name: string, dir: string, ...extra: string[]) =>
    (checks[name] = { args: ["audit", "verify", dir, "--key", vkey, ...extra, "--json"] });

  checks.intact = { args: ["audit", "verify", base, "--key", join(base, "verifier-key")] };

  const edited = copy("edited");
  editBundle(edited, "tile/entries/000", (entries) => {
    entries[41] = Buffer.from(entries[41]!.toString("utf8").replace(/"cli:[^"]*"/, '"cli:mallory"'));
    return entries;
  });
  checks.edited = { args: ["audit", "verify", edited, "--key", vkey] };

  const removed = copy("removed");
  editBundle(removed, "tile/entries/000", (entries) => entries.filter((_, i) => i !== 99));
  verify("removed", removed);

  const swapped = copy("swapped");
  editBundle(swapped, "tile/entries/000", (entries) => {
    [entries[7], entries[8]] = [entries[8]!, entries[7]!];
    return entries;
  });
  verify("swapped", swapped);

  const far = copy("swapped-far");
  const first = decodeEntryBundle(readFileSync(join(far, "tile/entries/000")));
  const moved = decodeEntryBundle(readFileSync(join(far, partial)))[2]!;
  editBundle(far, "tile/entries/000", (entries) => [...entries.slice(0, 200), moved, ...entries.slice(201)]);
  editBundle(far, partial, (entries) => [...entries.slice(0, 2), first[200]!, ...entries.slice(3)]);
  verify("swapped-far", far);

  const cut = copy("cut");
  editBundle(cut, partial, (entries) => entries.slice(0, -3));
  verify("cut", cut);
  const cutBundle = copy("cut-bundle");
  rmSync(join(cutBundle, partial));
  verify("cut-bundle", cutBundle);

  const note = readFileSync(join(base, "checkpoint"), "utf8");
  const mallory = noteSigner(vkey.split("+")[0]!, generateKeyPairSync("ed25519").privateKey);
  const forged = copy("forged");
  writeFileSync(join(forged, "checkpoint"), await signNote(note.slice(0, note.indexOf("\n\n") + 1), [mallory]));
  checks.forged = { args: ["audit", "verify", forged, "--key", vkey] };
  // The log key's own signature over a checkpoint that claims fewer entries.
  const shrunk = copy("shrunk");
  writeFileSync(join(shrunk, "checkpoint"), note.replace(`\n${size}\n`, `\n${size - 5}\n`));
  verify("shrunk", shrunk);

  const badTile = copy("bad-tile");
  const tile = readFileSync(join(badTile, "tile/0/000"));
  tile[100] ^= 1;
  writeFileSync(join(badTile, "tile/0/000"), tile);
  verify("bad-tile", badTile);

  // The attacker recomputes tile 0 from the edited entries; the level-1 tile and the signed root still hold the truth.
  const retiled = copy("edited-and-retiled");
  const entries = editBundle(retiled, "tile/entries/000", (all) => {
    all[60] = Buffer.from(all[60]!.toString("utf8").replace('"cert.issue"', '"cert.issux"'));
    return all;
  });
  writeFileSync(join(retiled, "tile/0/000"), Buffer.concat(entries.map(leafHash)));
  verify("retiled", retiled);

  checks.missing = { args: ["audit", "verify", join(work, "nothing-here"), "--key", vkey] };
  checks["no-key"] = { args: ["audit", "verify", base] };
  checks["bad-key"] = { args: ["audit", "verify", base, "--key", "not a key"] };
  checks["server-with-copy"] = { args: ["--server", "https://localhost:1", "audit", "verify", base, "--key", vkey] };
  // --key belongs to a copy; the database check refuses it rather than ignore it.
  checks["key-without-copy"] = { args: ["audit", "verify", "--key", vkey], env };

  checks.proof = { args: ["audit", "verify-proof", proof, "--key", vkey, "--cert", certFile!] };
  checks["proof-other-cert"] = { args: ["audit", "verify-proof", proof, "--key", vkey, "--cert", otherCert!] };
  const lines = readFileSync(proof, "utf8").split("\n");
  lines[lines.findIndex((l) => l.startsWith("index ")) + 1] = Buffer.alloc(32, 7).toString("base64");
  writeFileSync(join(work, "doctored.tlog-proof"), lines.join("\n"));
  checks["proof-doctored"] = { args: ["audit", "verify-proof", join(work, "doctored.tlog-proof"), "--key", vkey] };
  checks["proof-missing"] = { args: ["audit", "verify-proof", join(work, "none.tlog-proof"), "--key", vkey] };

  // A history rewritten by the log's own key: the copy gets its checkpoint; the auditor still has the old one.
  rewriteLastEntry();
  ok(dpki(["audit", "export", "--out", rewritten], { env }));
  ok(dpki(["cert", "issue", "--csr", join(csrs, "dev-000.csr"), "--profile", "device"], { env }));
  const foreign = copy("foreign-checkpoint");
  cpSync(join(rewritten, "checkpoint"), join(foreign, "checkpoint"));
  verify("foreign", foreign);
  verify("rewritten", rewritten);
  verify("rewritten-previous", rewritten, "--previous", join(base, "checkpoint"));
  checks["consistency-rewritten"] = {
    args: ["audit", "consistency", join(base, "checkpoint"), join(rewritten, "checkpoint"), "--key", vkey],
    env,
  };
  checks["consistency-extends"] = { args: ["audit", "consistency", join(rewritten, "checkpoint"), String(size + 1), "--key", vkey], env };
  checks["consistency-sizes"] = { args: ["audit", "consistency", "100", join(rewritten, "checkpoint"), "--json"], env };
  checks["consistency-backwards"] = { args: ["audit", "consistency", join(rewritten, "checkpoint"), "100", "--key", vkey], env };

  // A few at a time: each is a whole process.
  const names = Object.keys(checks);
  for (let at = 0; at < names.length; at += 4) {
    await Promise.all(
      names
        .slice(at, at + 4)
        .map(async (name) => results.set(name, await dpkiAsync(checks[name]!.args, { env: checks[name]!.env ?? auditor }))),
    );
  }
}, 240_000);

describe("dpki audit verify DIR --key", () => {
  it("finds an intact export intact, without a data directory or passphrase", () => {
    expect(ok(result("intact")).stdout).toMatch(new RegExp(`^Log copy intact: ${size} entries, root [A-Za-z0-9+/]+=*\\n`));
  });

  it("names an edited entry", () => {
    expect(result("edited").status).toBe(65);
    expect(result("edited").stdout).toMatch(/^Log BROKEN at entry 42 \(index 41, altered\): Entry 42 was altered/);
  });

  it("names a removed entry", () => {
    expect(result("removed").status).toBe(65);
    expect(verdict("removed")).toMatchObject({ ok: false, problem: "removed", seq: 100, index: 99 });
    expect(verdict("removed").message).toMatch(
      /Entry 100 was removed: entry 101 follows entry 99 \(tile\/entries\/000 holds 255 entries, not 256\)/,
    );
  });

  it("names two swapped entries, also across bundles", () => {
    expect(result("swapped").status).toBe(65);
    expect(verdict("swapped")).toMatchObject({
      problem: "reordered",
      seq: 8,
      message: "Entries 8 and 9 were swapped: each stands in the other's place",
    });
    expect(verdict("swapped-far")).toMatchObject({
      problem: "reordered",
      seq: 201,
      message: "Entries 201 and 259 were swapped: each stands in the other's place",
    });
  });

  it("sees the copy cut short, whether entries or a whole bundle are gone", () => {
    expect(result("cut").status).toBe(65);
    expect(verdict("cut")).toMatchObject({ problem: "truncated", seq: size - 2 });
    expect(verdict("cut-bundle")).toMatchObject({ problem: "truncated", seq: 257 });
    expect(verdict("cut-bundle").message).toMatch(new RegExp(`the checkpoint signed ${size} entries, the copy holds the first 256`));
  });

  it("calls a checkpoint signed by another key, or altered, forged", () => {
    expect(result("forged").status).toBe(65);
    expect(result("forged").stdout).toMatch(/^Checkpoint FORGED: .*No signature of a trusted key/);
    expect(result("shrunk").status).toBe(65);
    expect(verdict("shrunk")).toMatchObject({ ok: false, problem: "forged", message: expect.stringMatching(/Invalid signature/) });
  });

  it("notices a hash tile that is not the entries' own", () => {
    expect(result("bad-tile").status).toBe(65);
    expect(verdict("bad-tile")).toMatchObject({
      problem: "bad_tile",
      message: expect.stringMatching(/tile\/0\/000 does not hold their hashes/),
    });
  });

  it("still narrows an edit down when the tiles were rewritten to match it", () => {
    expect(result("retiled").status).toBe(65);
    expect(verdict("retiled")).toMatchObject({ ok: false, seq: 62, problem: "broken_link" });
    expect(verdict("retiled").message).toMatch(/Entry 62 does not link to entry 61: one of them was altered; .* among entries 1 to 256/);
  });

  it("exits 66 for a copy that is not there, 64 without a usable --key or with --server", () => {
    expect(result("missing").status).toBe(66);
    expect(result("missing").stderr).toMatch(/No log copy at .*nothing-here: no such directory/);
    expect(result("no-key").status).toBe(64);
    expect(result("no-key").stderr).toMatch(/needs its verifier key: --key VKEY/);
    expect(result("bad-key").status).toBe(64);
    expect(result("server-with-copy").status).toBe(64);
    expect(result("server-with-copy").stderr).toMatch(/--server does not apply to `dpki audit verify`/);
    expect(result("key-without-copy").status).toBe(64);
    expect(result("key-without-copy").stderr).toMatch(/--key applies to a copy of the log/);
  });
});

describe("a checkpoint from a rewritten history", () => {
  it("is inconsistent with the copy's entries, and the copy it signs does not extend a checkpoint seen before", () => {
    expect(result("foreign").status).toBe(65);
    expect(verdict("foreign")).toMatchObject({ ok: false, problem: "inconsistent" });
    expect(verdict("foreign").message).toMatch(/^Checkpoint INCONSISTENT: .*entries, tiles and hash chain agree with each other/);
    // The rewritten copy is consistent in itself; the checkpoint the auditor kept shows the rewrite.
    expect(verdict("rewritten")).toMatchObject({ ok: true });
    expect(result("rewritten-previous").status).toBe(65);
    expect(verdict("rewritten-previous")).toMatchObject({ problem: "rewritten", message: expect.stringMatching(/history was rewritten/) });
  });

  it("fails `audit consistency` against the old checkpoint", () => {
    expect(result("consistency-rewritten").status).toBe(65);
    expect(result("consistency-rewritten").stdout).toMatch(/^INCONSISTENT: two different roots for the tree of \d+ entries/);
  });
});

describe("dpki audit verify-proof and consistency", () => {
  it("checks a proof offline, with the certificate it is for, and refuses a doctored one", () => {
    expect(ok(result("proof")).stdout).toMatch(
      /^Proof OK: entry \d+ \(cert\.issue of [0-9a-f]+\) is in the log .* it is this certificate's issuance/,
    );
    expect(result("proof-other-cert").status).toBe(65);
    expect(result("proof-other-cert").stdout).toMatch(/^Proof of another certificate/);
    expect(result("proof-doctored").status).toBe(65);
    expect(result("proof-doctored").stdout).toMatch(/^Proof INVALID: it does not bind the entry it carries/);
    expect(result("proof-missing").status).toBe(66);
  });

  it("says whether a later tree extends an earlier checkpoint", () => {
    expect(ok(result("consistency-extends")).stdout).toMatch(
      /^The tree of \d+ entries extends the tree of \d+: consistency proof of \d+ hashes verified/,
    );
    const sizes = JSON.parse(ok(result("consistency-sizes")).stdout);
    expect(sizes).toMatchObject({ consistent: true, from: { size: 100 }, signaturesChecked: false });
    expect(result("consistency-backwards").status).toBe(64);
  });
});
