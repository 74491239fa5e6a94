import { expect, it } from "vitest";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { dpki } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/**
 * The server answers 201 only after the certificate and its log entry are committed. So
 * after a kill -9 in the middle of a load, every certificate a client was given must be in
 * the store, with its log entry, and the log must still verify.
 */
it("kill -9 during a load leaves no acknowledged certificate missing from the store or the log", async () => {
  const work = tempDir();
  const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "crash test" };
  await initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE });
  const token = JSON.parse(
    dpki(["token", "create", "--role", "factory", "--profiles", "device", "--name", "line", "--json"], { env }).stdout,
  ).secret as string;
  const csrs = Array.from({ length: 40 }, (_, i) => readFileSync(opensslCsr(work, `d${i}`, { subject: `/CN=crash-${i}` }), "utf8"));
  // Port 0, the port read from the banner: a port probed free first can be taken before the server binds it.
  const server = spawn(process.execPath, [BIN, "serve", "--insecure-http", "--port", "0"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const port = await new Promise<number>((ready, fail) => {
    let err = "";
    server.stderr!.on("data", (d) => {
      err += d;
      const banner = /dpki is listening on http:\/\/[^\s]+:(\d+)\n/.exec(err);
      if (banner) ready(Number(banner[1]));
    });
    server.once("exit", () => fail(new Error(`server exited: ${err}`)));
  });

  const acknowledged: string[] = [];
  let killed = false;
  const client = async (n: number) => {
    for (let i = 0; !killed; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v1/certificates`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ csr: csrs[(n * 7 + i) % csrs.length], profile: "device" }),
        });
        if (res.status === 201) acknowledged.push(((await res.json()) as { certificate: { serial: string } }).certificate.serial);
      } catch {
        return; // the connection died with the server
      }
    }
  };
  const clients = Array.from({ length: 16 }, (_, n) => client(n));
  // Killed in the middle of the load after 2.5 s and once it has acknowledged enough to matter,
  // however long that takes on this machine (2.5 s alone saw fewer than 50 on a loaded one).
  const loadedSince = Date.now();
  while ((Date.now() - loadedSince < 2500 || acknowledged.length <= 50) && server.exitCode === null) {
    await new Promise((r) => setTimeout(r, 20));
  }
  killed = true;
  server.kill("SIGKILL");
  await Promise.all(clients);
  expect(acknowledged.length).toBeGreaterThan(50);

  const db = new Database(join(work, "ca", "dpki.db"));
  const stored = new Set((db.prepare("SELECT serial FROM certificates").all() as Array<{ serial: string }>).map((r) => r.serial));
  const logged = new Set(
    (db.prepare("SELECT serial FROM audit_log WHERE action = 'cert.issue'").all() as Array<{ serial: string }>).map((r) => r.serial),
  );
  db.close();
  const missing = acknowledged.filter((s) => !stored.has(s) || !logged.has(s));
  expect(missing).toEqual([]);
  // And nothing is in the store without its log entry.
  expect([...stored].filter((s) => !logged.has(s))).toEqual([]);
  const verify = dpki(["audit", "verify", "--json"], { env });
  expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
});
