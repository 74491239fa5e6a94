import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { REFUSAL_ACTIONS } from "../../src/store/records.js";
import { initDataDir } from "../helpers/data-dir.js";

const work = tempDir();
/** Made by `dpki init` itself, for the tests of init. */
const initHome = join(work, "init");
/** Where every other test works: laid out as init does, without its cost (helpers/data-dir.ts). */
const home = join(work, "ca");
const PASS = "correct horse battery staple";
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: PASS };
const run = (args: string[], extra: Record<string, string | undefined> = {}, input?: string | Buffer) =>
  dpki(args, { env: { ...env, ...extra }, input });
const json = (args: string[], extra: Record<string, string | undefined> = {}) => {
  const r = run([...args, "--json"], extra);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
};

/** Rows in the tables that must not change when a command is refused. */
function dbState(dir = home): { certificates: number; audit: number; crls: number } {
  const db = new Database(join(dir, "dpki.db"), { readonly: true });
  try {
    const count = (t: string, where = "") => (db.prepare(`SELECT count(*) AS n FROM ${t} ${where}`).get() as { n: number }).n;
    // A refusal is logged, and is the one entry a refused command adds: the changes must not move.
    const changes = `WHERE action NOT IN (${REFUSAL_ACTIONS.map((a) => `'${a}'`).join(", ")})`;
    return { certificates: count("certificates"), audit: count("audit_log", changes), crls: count("crls") };
  } finally {
    db.close();
  }
}

let root: string;
let inter: string;

/** The issuing CA and the root of `dir`, in files for openssl. */
function caFiles(dir: string, name: string): { inter: string; root: string } {
  const files = { inter: join(work, `${name}-inter.pem`), root: join(work, `${name}-root.pem`) };
  // The chain holds the issuing CA only; the root comes from `dpki ca root`, never from a chain.
  const chain = pemBlocks(run(["ca", "chain"], { DPKI_HOME: dir }).stdout);
  expect(chain).toHaveLength(1);
  writeFileSync(files.inter, chain[0]!);
  expect(run(["ca", "root", "--out", files.root], { DPKI_HOME: dir }).status).toBe(0);
  return files;
}

beforeAll(async () => {
  await initDataDir(home, { passphrase: PASS, org: "Acme Devices", publicUrl: "http://pki.acme.test" });
  ({ inter, root } = caFiles(home, "ca"));
});

describe("dpki init", () => {
  let made: { inter: string; root: string };
  beforeAll(() => {
    const init = run(["init", "--org", "Acme Devices", "--public-url", "http://pki.acme.test"], { DPKI_HOME: initHome });
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
    made = caFiles(initHome, "init");
  });

  it("makes a root and a pathLen-0 intermediate with encrypted 0600 keys openssl can open", () => {
    const cas = json(["ca", "list"], { DPKI_HOME: initHome });
    expect(cas.map((c: { kind: string }) => c.kind)).toEqual(["root", "intermediate"]);
    const text = openssl(["x509", "-in", made.inter, "-noout", "-text"]).stdout;
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(openssl(["x509", "-in", made.root, "-noout", "-text"]).stdout).toMatch(/CA:TRUE/);
    const keys = readdirSync(join(initHome, "keys"));
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      const file = join(initHome, "keys", k);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, "utf8")).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
      expect(openssl(["pkey", "-in", file, "-passin", `pass:${PASS}`, "-noout"]).status).toBe(0);
      expect(openssl(["pkey", "-in", file, "-passin", "pass:wrong", "-noout"]).status).not.toBe(0);
    }
    expect(statSync(join(initHome, "dpki.db")).mode & 0o777).toBe(0o600);
  });

  it("refuses to overwrite an existing CA", () => {
    const before = dbState(initHome);
    const r = run(["init"], { DPKI_HOME: initHome });
    expect(r.status).toBe(73);
    expect(r.stderr).toMatch(/already holds a CA/);
    expect(dbState(initHome)).toEqual(before);
  });

  it("refuses without a passphrase and leaves nothing behind", () => {
    const dir = join(work, "nopass");
    const r = dpki(["init", "--data-dir", dir], { env: { DPKI_PASSPHRASE: undefined, DPKI_HOME: undefined } });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/No CA passphrase: set DPKI_PASSPHRASE or pass --passphrase-file/);
    expect(existsSync(join(dir, "dpki.db"))).toBe(false);
  });

  it("--dev writes a 0600 development passphrase and says so", () => {
    const dir = join(work, "dev");
    const r = dpki(["init", "--dev", "--data-dir", dir, "--algorithm", "P-384"], { env: { DPKI_PASSPHRASE: undefined } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/Development mode/);
    expect(statSync(join(dir, "dev-passphrase")).mode & 0o777).toBe(0o600);
    expect(r.stdout).toMatch(/P-384/);
  });
});

describe("dpki cert", () => {
  let good: string;
  let goodSerial: string;
  let revoked: string;
  let revokedSerial: string;

  beforeAll(() => {
    for (const [name, key] of [
      ["good", "ec-p256"],
      ["revoked", "rsa-2048"],
    ] as const) {
      const csr = opensslCsr(work, name, { key, subject: `/CN=${name}-device` });
      const out = join(work, `${name}.pem`);
      const r = run(["cert", "issue", "--csr", csr, "--profile", "device", "--out", out, "--json"]);
      expect(r.status).toBe(0);
      const serial = JSON.parse(r.stdout).serial as string;
      if (name === "good") [good, goodSerial] = [out, serial];
      else [revoked, revokedSerial] = [out, serial];
    }
  });

  it("issues certificates that openssl verifies against root and intermediate", () => {
    for (const leaf of [good, revoked]) {
      const r = openssl(["verify", "-CAfile", root, "-untrusted", inter, leaf]);
      expect(r.stdout).toMatch(/: OK/);
    }
  });

  it("reads the CSR from standard input, PEM or DER, and appends the chain on request", () => {
    const csr = opensslCsr(work, "stdin", { subject: "/CN=stdin-device" });
    const pem = run(["cert", "issue", "--csr", "-", "--profile", "device", "--chain"], {}, readFileSync(csr));
    expect(pem.status).toBe(0);
    expect(pemBlocks(pem.stdout)).toHaveLength(2);
    const der = openssl(["req", "-in", csr, "-outform", "DER"]);
    const derFile = join(work, "stdin.der");
    writeFileSync(derFile, Buffer.from(der.stdout, "latin1"));
    const binary = openssl(["req", "-in", csr, "-outform", "DER", "-out", derFile]);
    expect(binary.status).toBe(0);
    const fromDer = run(["cert", "issue", "--csr", derFile, "--profile", "device"]);
    expect(fromDer.status).toBe(0);
    expect(fromDer.stdout).toMatch(/BEGIN CERTIFICATE/);
  });

  it("lists, filters and shows certificates as tables or JSON", () => {
    const all = json(["cert", "list"]);
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    expect(json(["cert", "list", "--subject", "good-dev"]).items.map((c: { serial: string }) => c.serial)).toEqual([goodSerial]);
    expect(json(["cert", "list", "--expiring-within", "400d", "--subject", "good"]).items).toHaveLength(1);
    expect(json(["cert", "list", "--expiring-within", "30d"]).items).toHaveLength(0);
    const table = run(["cert", "list"]).stdout;
    expect(table.split("\n")[0]).toMatch(/^SERIAL\s+STATUS\s+PROFILE\s+NOT AFTER\s+SUBJECT$/);
    const shown = json(["cert", "show", goodSerial]);
    expect(shown).toMatchObject({ serial: goodSerial, subject: "CN=good-device", status: "good", profile: "device" });
    expect(json(["cert", "show", shown.sha256]).serial).toBe(goodSerial);
    expect(run(["cert", "show", goodSerial, "--pem"]).stdout).toBe(readFileSync(good, "utf8"));
    expect(run(["cert", "show", goodSerial]).stdout).toMatch(/^serial:\s+\S+\nsha256:/);
  });

  it("revokes once, says so on a second try, and publishes a CRL openssl accepts", () => {
    const r = json(["cert", "revoke", revokedSerial, "--reason", "keyCompromise"]);
    expect(r).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });
    const before = dbState();
    const again = run(["cert", "revoke", revokedSerial, "--reason", "superseded"]);
    expect(again.status).toBe(65);
    expect(again.stderr).toMatch(/already revoked/);
    expect(dbState()).toEqual(before);
    expect(json(["cert", "list", "--status", "revoked"]).items.map((c: { serial: string }) => c.serial)).toContain(revokedSerial);

    const crlFile = join(work, "ca.crl");
    expect(run(["crl", "--der", "--out", crlFile]).status).toBe(0);
    const parsed = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", inter, "-noout", "-text"]);
    expect(parsed.stderr).toMatch(/verify OK/);
    expect(parsed.stdout).toMatch(new RegExp(`Serial Number: ${revokedSerial.toUpperCase()}[\\s\\S]*Key Compromise`));
    const pemCrl = join(work, "ca.crl.pem");
    writeFileSync(pemCrl, openssl(["crl", "-inform", "DER", "-in", crlFile]).stdout);
    const bad = openssl(["verify", "-crl_check", "-CRLfile", pemCrl, "-CAfile", root, "-untrusted", inter, revoked]);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/certificate revoked/);
    const ok = openssl(["verify", "-crl_check", "-CRLfile", pemCrl, "-CAfile", root, "-untrusted", inter, good]);
    expect(ok.stdout).toMatch(/: OK/);
  });

  it("numbers CRLs upwards and reuses the current one until something changes", () => {
    const first = json(["crl"]);
    expect(json(["crl"]).number).toBe(first.number);
    const csr = opensslCsr(work, "later", { subject: "/CN=later" });
    const serial = json(["cert", "issue", "--csr", csr, "--profile", "device"]).serial;
    json(["cert", "revoke", serial, "--reason", "superseded"]);
    const next = json(["crl"]);
    expect(BigInt(next.number)).toBeGreaterThan(BigInt(first.number));
    expect(next.entries).toBe(first.entries + 1);
  });

  const badInputs: Array<[string, () => string[], number, RegExp]> = [
    [
      "random bytes as a CSR",
      () => ["cert", "issue", "--csr", fileWith("random.csr", Buffer.from("not a csr at all")), "--profile", "device"],
      65,
      /Cannot parse CSR/,
    ],
    [
      "a malformed PEM",
      () => [
        "cert",
        "issue",
        "--csr",
        fileWith("bad.pem", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        "--profile",
        "device",
      ],
      65,
      /Cannot parse CSR/,
    ],
    ["a missing CSR file", () => ["cert", "issue", "--csr", join(work, "nope.csr"), "--profile", "device"], 66, /Cannot read/],
    [
      "a weak key",
      () => ["cert", "issue", "--csr", opensslCsr(work, "weak", { key: "rsa-1024", subject: "/CN=weak" }), "--profile", "device"],
      65,
      /1024 bits is too weak/,
    ],
    [
      "a profile violation",
      () => [
        "cert",
        "issue",
        "--csr",
        opensslCsr(work, "ca", { subject: "/CN=x", addext: ["basicConstraints=critical,CA:TRUE"] }),
        "--profile",
        "device",
      ],
      65,
      /CA:true/,
    ],
    [
      "an unknown profile",
      () => ["cert", "issue", "--csr", opensslCsr(work, "p", { subject: "/CN=x" }), "--profile", "nope"],
      66,
      /Unknown profile "nope"/,
    ],
    ["an unknown serial", () => ["cert", "revoke", "0123456789abcdef", "--reason", "keyCompromise"], 66, /No certificate with serial/],
    ["an unknown reason", () => ["cert", "revoke", "0123", "--reason", "bored"], 64, /Allowed choices/],
    ["a bad duration", () => ["cert", "list", "--expiring-within", "soon"], 64, /Cannot parse duration "soon"/],
    ["a missing required option", () => ["cert", "issue", "--profile", "device"], 64, /required option '--csr <file>'/],
  ];
  for (const [what, args, code, message] of badInputs) {
    it(`answers ${what} with exit ${code} and a clear message, changing nothing`, () => {
      const argv = args();
      const before = dbState();
      const r = run(argv);
      expect(r.status).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
      expect(dbState()).toEqual(before);
    });
  }

  it("fails with the passphrase wrong or missing, without echoing it, changing nothing", () => {
    const before = dbState();
    const csr = opensslCsr(work, "pp", { subject: "/CN=pp" });
    const wrong = run(["cert", "issue", "--csr", csr, "--profile", "device"], { DPKI_PASSPHRASE: "hunter2-wrong" });
    expect(wrong.status).toBe(78);
    expect(wrong.stderr).toMatch(/wrong passphrase/);
    expect(wrong.stderr).not.toMatch(/hunter2/);
    const missing = run(["cert", "issue", "--csr", csr, "--profile", "device"], { DPKI_PASSPHRASE: undefined });
    expect(missing.status).toBe(78);
    expect(missing.stderr).toMatch(/No CA passphrase/);
    expect(dbState()).toEqual(before);
    // Read-only commands never need the key.
    expect(run(["cert", "list"], { DPKI_PASSPHRASE: undefined }).status).toBe(0);
  });

  it("uses --passphrase-file", () => {
    const file = fileWith("pass.txt", PASS + "\n");
    const csr = opensslCsr(work, "pf", { subject: "/CN=pf" });
    expect(
      run(["cert", "issue", "--csr", csr, "--profile", "device", "--passphrase-file", file], { DPKI_PASSPHRASE: undefined }).status,
    ).toBe(0);
  });
});

describe("dpki cert sign-batch", () => {
  it("signs a directory of CSRs, reports each failure, writes the rest and exits 65", () => {
    const inDir = join(work, "factory-in");
    const outDir = join(work, "factory-out");
    mkdirSync(inDir);
    for (let i = 0; i < 6; i++) opensslCsr(inDir, `unit-${i}`, { subject: `/CN=unit-${i}` });
    writeFileSync(join(inDir, "broken.csr"), "garbage");
    opensslCsr(inDir, "weak", { key: "rsa-1024", subject: "/CN=weak-unit" });
    const r = run(["cert", "sign-batch", inDir, "--profile", "device", "--out", outDir, "--json"]);
    expect(r.status).toBe(65);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ signed: 6, failed: 2 });
    const failures = report.results.filter((x: { ok: boolean }) => !x.ok);
    expect(failures.map((f: { file: string }) => f.file.split("/").pop()).sort()).toEqual(["broken.csr", "weak.csr"]);
    expect(readdirSync(outDir).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `unit-${i}.crt.pem`));
    expect(openssl(["verify", "-CAfile", root, "-untrusted", inter, join(outDir, "unit-3.crt.pem")]).stdout).toMatch(/OK/);
  });

  it("exits 0 when every CSR is signed", () => {
    const inDir = join(work, "factory-ok");
    mkdirSync(inDir);
    const files = [0, 1, 2].map((i) => opensslCsr(inDir, `ok-${i}`, { subject: `/CN=ok-${i}` }));
    const r = run(["cert", "sign-batch", ...files, "--profile", "device", "--out", join(work, "factory-ok-out")]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Signed 3 of 3 CSRs/);
  });
});

describe("dpki cert sign-batch re-runs", () => {
  it("skips CSRs already signed, re-issues a stale file and with --force, never reads its own output", () => {
    const dir = join(work, "factory-rerun");
    mkdirSync(dir);
    for (let i = 0; i < 3; i++) opensslCsr(dir, `re-${i}`, { subject: `/CN=re-${i}` });
    opensslCsr(dir, "re-req", { subject: "/CN=re-req" });
    renameSync(join(dir, "re-req.csr"), join(dir, "re-req.req"));
    // Output into the input directory: the second run must not take the *.crt.pem files for CSRs.
    const first = run(["cert", "sign-batch", dir, "--profile", "device", "--out", dir, "--json"]);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ signed: 4, skipped: 0, failed: 0 });
    const kept = readFileSync(join(dir, "re-1.crt.pem"), "utf8");

    // A file holding another key's certificate (e.g. a CSR regenerated after the run) is stale.
    opensslCsr(dir, "re-2", { subject: "/CN=re-2" });
    const second = run(["cert", "sign-batch", dir, "--profile", "device", "--out", dir, "--json"]);
    expect(second.status, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report).toMatchObject({ signed: 1, skipped: 3, failed: 0 });
    expect(report.results.find((x: { file: string }) => x.file.endsWith("re-2.csr"))).toMatchObject({
      ok: true,
      serial: expect.any(String),
    });
    expect(readFileSync(join(dir, "re-1.crt.pem"), "utf8")).toBe(kept);
    expect(run(["cert", "sign-batch", dir, "--profile", "device", "--out", dir]).stdout).toMatch(
      /Signed 0 of 4 CSRs into .*; 4 skipped \(already signed; --force re-issues\)/,
    );

    const forced = run(["cert", "sign-batch", dir, "--profile", "device", "--out", dir, "--force", "--json"]);
    expect(JSON.parse(forced.stdout)).toMatchObject({ signed: 4, skipped: 0 });
    expect(readFileSync(join(dir, "re-1.crt.pem"), "utf8")).not.toBe(kept);
  });

  it("lists every file type it reads in --help", () => {
    const help = run(["cert", "sign-batch", "--help"]).stdout;
    for (const glob of ["*.csr", "*.pem", "*.der", "*.req"]) expect(help).toContain(glob);
    expect(help).toContain("--force");
  });
});

describe("dpki audit", () => {
  it("logs every action with actor, profile and policy hash, filterable by serial", () => {
    const csr = opensslCsr(work, "audited", { subject: "/CN=audited" });
    const serial = json(["cert", "issue", "--csr", csr, "--profile", "device", "--actor", "line-7"]).serial;
    const entries = json(["audit", "log", "--serial", serial]).items;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: "line-7", action: "cert.issue", profile: "device", subject: "CN=audited" });
    expect(entries[0].policyHash).toMatch(/^[0-9a-f]{64}$/);
    const actions = new Set(json(["audit", "log", "--limit", "1000"]).items.map((e: { action: string }) => e.action));
    expect([...actions].sort()).toEqual(["ca.create", "cert.issue", "cert.refuse", "cert.revoke", "crl.publish"]);
    // The bad CSRs above were refused by this CLI on the data directory itself.
    const refused = json(["audit", "log", "--refusals", "--limit", "1000"]).items;
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(e).toMatchObject({ action: "cert.refuse", details: { source: "local", code: expect.any(String) } });
    expect(run(["audit", "verify"]).stdout).toMatch(/^Log intact: \d+ entries, head [0-9a-f]{64}/);
  });

  it("names the first altered, removed or reordered entry when the file is edited", () => {
    const copy = (name: string) => {
      const dir = join(work, name);
      mkdirSync(dir);
      writeFileSync(join(dir, "dpki.db"), readFileSync(join(home, "dpki.db")));
      return dir;
    };
    const edit = (dir: string, sql: string) => {
      const db = new Database(join(dir, "dpki.db"));
      db.exec(sql);
      db.close();
    };
    const verify = (dir: string) => dpki(["audit", "verify", "--json", "--data-dir", dir], { env: { DPKI_HOME: undefined } });

    const altered = copy("altered");
    edit(altered, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4");
    let r = verify(altered);
    expect(r.status).toBe(65);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, seq: 4, problem: "altered" });

    const removed = copy("removed");
    edit(removed, "DELETE FROM audit_log WHERE seq = 3");
    r = verify(removed);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, seq: 3, problem: "removed" });

    const reordered = copy("reordered");
    edit(
      reordered,
      "UPDATE audit_log SET seq = -1 WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = -1;",
    );
    r = verify(reordered);
    expect(r.status).toBe(65);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, seq: 5 });

    const human = dpki(["audit", "verify", "--data-dir", altered], { env: { DPKI_HOME: undefined } });
    expect(human.stdout).toMatch(/Log BROKEN at entry 4 \(altered\)/);
  });
});

describe("dpki usage", () => {
  it("teaches with --help and exits 0", () => {
    const r = run(["cert", "issue", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/proof of possession/);
    expect(run(["--help"]).stdout).toMatch(/Exit codes/);
  });

  it("rejects an unknown command with exit 64", () => {
    const r = run(["frobnicate"]);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/unknown command/);
  });

  it("lists the shipped profiles", () => {
    const names = json(["profile", "list"]).map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(["device", "gateway", "server"]));
  });
});

function fileWith(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}
