import { expect, it } from "vitest";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

it("two processes issuing at once never share a serial and keep the log chain valid", async () => {
  const work = tempDir();
  const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "two writers" };
  await initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE });
  const batches = ["a", "b", "c"].map((line) => {
    const dir = join(work, `in-${line}`);
    mkdirSync(dir);
    for (let i = 0; i < 25; i++) opensslCsr(dir, `${line}-${i}`, { subject: `/CN=${line}-${i}` });
    return dir;
  });

  const results = await Promise.all(
    batches.map((dir, i) =>
      dpkiAsync(["cert", "sign-batch", dir, "--profile", "device", "--out", `${dir}-out`, "--actor", `line-${i}`, "--json"], { env }),
    ),
  );
  for (const r of results) {
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ signed: 25, failed: 0 });
  }

  const db = new Database(join(work, "ca", "dpki.db"), { readonly: true });
  const serials = db.prepare("SELECT serial FROM certificates").all() as Array<{ serial: string }>;
  const issued = db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'cert.issue'").get() as { n: number };
  db.close();
  expect(serials).toHaveLength(75);
  expect(new Set(serials.map((s) => s.serial)).size).toBe(75);
  expect(issued.n).toBe(75);

  const verify = dpki(["audit", "verify", "--json"], { env });
  expect(verify.status).toBe(0);
  expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, entries: 77 });
});
