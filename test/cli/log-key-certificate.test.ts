/**
 * The log key certified by the root: `dpki init` and a checkpoint leave a certificate of the
 * Ed25519 checkpoint key signed by the root, which openssl verifies against root.pem; an auditor
 * holding only root.pem checks an exported copy with `audit verify DIR --root`, and a root that
 * did not certify the key is refused. A rollover's new root certifies the key before the next
 * checkpoint, each certification a log entry.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { get, startNode } from "../helpers/nodes.js";
import { initDataDir } from "../helpers/data-dir.js";
import { openssl, pemBlocks } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";

const work = tempDir("dpki-log-key-cert-");
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "log key" };
const otherEnv = { DPKI_HOME: join(work, "other"), DPKI_PASSPHRASE: "other" };
/** What an auditor has: no data directory, no passphrase. */
const auditor = { DPKI_HOME: join(work, "no-such-data-dir"), DPKI_PASSPHRASE: undefined, DPKI_SERVER: undefined };
const file = (name: string) => join(work, name);
const run = (args: string[], e: Record<string, string | undefined> = env) => dpki(args, { env: e, cwd: work });
const ok = (args: string[], e: Record<string, string | undefined> = env) => {
  const r = run(args, e);
  expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

interface Checkpoint {
  verifierKey: string;
  keyCertificates: Array<{ rootId: string; certificate: string }>;
}

it(
  "certifies the checkpoint key by the root, so an auditor with root.pem alone checks a copy of the log",
  { timeout: 120_000 },
  async () => {
    await Promise.all([
      initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE, org: "Log Key" }),
      initDataDir(otherEnv.DPKI_HOME, { passphrase: otherEnv.DPKI_PASSPHRASE, org: "Log Key" }),
    ]);
    const first = JSON.parse(ok(["audit", "checkpoint", "--json"])) as Checkpoint;
    const root = (JSON.parse(ok(["ca", "list", "--json"])) as Array<{ id: string; kind: string }>).find((c) => c.kind === "root")!;
    expect(first.keyCertificates.map((k) => k.rootId)).toEqual([root.id]);

    ok(["ca", "root", "--out", "root.pem"]);
    writeFileSync(file("log-key.pem"), first.keyCertificates[0]!.certificate);
    expect(openssl(["verify", "-CAfile", file("root.pem"), file("log-key.pem")]).stdout).toContain(": OK");
    const text = openssl(["x509", "-in", file("log-key.pem"), "-noout", "-text"]).stdout;
    expect(text).toContain("ED25519");
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    // The certified key is the verifier key's: its last 32 bytes are the key the note names.
    const spki = openssl(["x509", "-in", file("log-key.pem"), "-noout", "-pubkey"]).stdout;
    const raw = Buffer.from(pemBlocks(spki)[0]!.replace(/-----[^-]+-----|\s+/g, ""), "base64").subarray(-32);
    expect(Buffer.from(first.verifierKey.split("+").slice(2).join("+"), "base64").subarray(1)).toEqual(raw);

    ok(["audit", "export", "--out", "copy"]);
    expect(readFileSync(file("copy/log-key.pem"), "utf8")).toBe(first.keyCertificates[0]!.certificate);
    const intact = run(["audit", "verify", file("copy"), "--root", file("root.pem"), "--json"], auditor);
    expect(intact.status, intact.stderr).toBe(0);
    expect(JSON.parse(intact.stdout).ok).toBe(true);

    // Another installation's root did not certify this log's key.
    ok(["ca", "root", "--out", file("other-root.pem")], otherEnv);
    const foreign = run(["audit", "verify", file("copy"), "--root", file("other-root.pem")], auditor);
    expect(foreign.status).toBe(64);
    expect(foreign.stderr).toMatch(/No log key certificate is issued by that root and valid: [0-9a-f]+: not signed by/);
    const neither = run(["audit", "verify", file("copy")], auditor);
    expect(neither.status).toBe(64);
    expect(neither.stderr).toContain("--root ROOT.pem");

    // A rollover's new root certifies the key too, before the next checkpoint; each certification is logged.
    ok(["ca", "rotate", "--new-root", "--yes"]);
    const second = JSON.parse(ok(["audit", "checkpoint", "--json"])) as Checkpoint;
    expect(second.verifierKey).toBe(first.verifierKey);
    expect(second.keyCertificates).toHaveLength(2);
    ok(["ca", "root", "--out", "roots.pem"]);
    for (const [i, cert] of second.keyCertificates.entries()) {
      writeFileSync(file(`log-key-${i}.pem`), cert.certificate);
      expect(openssl(["verify", "-CAfile", file("roots.pem"), file(`log-key-${i}.pem`)]).stdout).toContain(": OK");
    }
    const entries = JSON.parse(ok(["audit", "log", "--action", "log.key.certify", "--json"])) as {
      items: Array<{ details: { rootId: string } }>;
    };
    expect(entries.items.map((e) => e.details.rootId).sort()).toEqual(second.keyCertificates.map((k) => k.rootId).sort());
  },
);
