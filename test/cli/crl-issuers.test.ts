import { beforeAll, expect, it } from "vitest";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

const work = tempDir();
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "crl issuers" };
const run = (...args: string[]) => dpki(args, { env, cwd: work });
const ok = (...args: string[]) => {
  const r = run(...args);
  expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

beforeAll(() => initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE }));

it("dpki crl --ca names a retired issuer (with its revocations) and --all writes one CRL per CA in service", { timeout: 120_000 }, () => {
  opensslCsr(work, "old-dev", { subject: "/CN=old-dev" });
  const issued = JSON.parse(ok("cert", "issue", "--csr", "old-dev.csr", "--profile", "device", "--out", "old-dev.pem", "--json"));
  const oldInt = JSON.parse(ok("ca", "rotate", "--json")).previous.id as string;
  ok("cert", "revoke", issued.serial, "--reason", "keyCompromise");

  // The active issuer's CRL does not list it; the retired issuer's does, and openssl checks the certificate against it.
  ok("crl", "--ca", oldInt, "--out", "old.crl.pem");
  const text = openssl(["crl", "-in", join(work, "old.crl.pem"), "-noout", "-text"]).stdout;
  expect(text.toLowerCase()).toContain(String(issued.serial).toLowerCase());
  ok("ca", "root", "--out", "root.pem");
  ok("ca", "chain", "--out", "chain.pem");
  const v = openssl([
    "verify",
    "-crl_check",
    "-CRLfile",
    join(work, "old.crl.pem"),
    "-CAfile",
    join(work, "root.pem"),
    "-untrusted",
    join(work, "chain.pem"),
    join(work, "old-dev.pem"),
  ]);
  expect(v.stdout + v.stderr).toContain("certificate revoked");

  mkdirSync(join(work, "crls"));
  const all = JSON.parse(ok("crl", "--all", "--out", "crls", "--json")) as Array<{ issuer: string }>;
  const status = JSON.parse(ok("ca", "status", "--json")) as Array<{ id: string; kind: string; state: string }>;
  const active = status.find((c) => c.kind === "intermediate" && c.state === "active")!.id;
  const root = status.find((c) => c.kind === "root")!.id;
  expect(all.map((c) => c.issuer).sort()).toEqual([active, oldInt, root].sort());
  expect(readdirSync(join(work, "crls")).sort()).toEqual([`${active}.crl.pem`, `${oldInt}.crl.pem`, `${root}.crl.pem`].sort());

  // Bad names: clear errors, exit 66 (not found) / 64 (usage).
  const unknown = run("crl", "--ca", "int-nope");
  expect(unknown.status).toBe(66);
  expect(unknown.stderr).toContain("No CA with id int-nope");
  expect(run("crl", "--ca", oldInt, "--all").status).toBe(64);
});
