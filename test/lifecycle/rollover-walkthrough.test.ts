import { afterAll, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { freePort } from "../helpers/free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/**
 * The README's "Rolling over to a new root" section, command for command, against a running
 * `dpki serve`: a device that trusts only the old root and one that trusts only the new root
 * both accept the server and new certificates until the old root is retired; after that only
 * the new root is needed, and root.pem says so.
 */
const work = tempDir();
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "rollover walkthrough" };
let server: ChildProcess | undefined;
afterAll(async () => {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server!.once("exit", r));
  server.kill("SIGTERM");
  await exited;
});

const run = (...args: string[]) => {
  const r = dpki(args, { env, cwd: work });
  return r;
};
const ok = (...args: string[]) => {
  const r = run(...args);
  expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
const file = (name: string) => join(work, name);

/** Whether Node's TLS client, trusting only `ca`, accepts the server, and the subjects the server sent. */
function tlsCheck(port: number, ca: string): Promise<{ authorized: boolean; error: string | null }> {
  return new Promise((done, fail) => {
    const socket = connect({ host: "localhost", port, ca, servername: "localhost", rejectUnauthorized: false }, () => {
      const result = { authorized: socket.authorized, error: socket.authorizationError ? String(socket.authorizationError) : null };
      socket.end();
      done(result);
    });
    socket.once("error", fail);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Timed out waiting until ${what}`);
}

function verify(caFile: string, chainFile: string): string {
  const v = openssl(["verify", "-CAfile", caFile, "-untrusted", chainFile, chainFile]);
  return v.stdout + v.stderr;
}

it("walks from `dpki ca rotate --new-root` to `dpki ca retire` with devices on either root", { timeout: 180_000 }, async () => {
  await initDataDir(home, { passphrase: env.DPKI_PASSPHRASE });
  const port = await freePort();
  server = spawn(process.execPath, [BIN, "serve", "--port", String(port)], {
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

  // Before: every device holds root.pem, one root.
  ok("ca", "root", "--out", "old-root.pem");
  const oldRoot = readFileSync(file("old-root.pem"), "utf8");
  expect(pemBlocks(oldRoot)).toHaveLength(1);
  expect(readFileSync(join(home, "root.pem"), "utf8")).toBe(oldRoot);
  const before = JSON.parse(ok("ca", "status", "--json")) as Array<{ id: string; kind: string; state: string }>;
  const oldRootId = before.find((c) => c.kind === "root")!.id;
  const oldIntId = before.find((c) => c.kind === "intermediate")!.id;

  // 1. Roll over to a new root, cross-signed by the old one.
  const rotated = JSON.parse(ok("ca", "rotate", "--new-root", "--yes", "--json"));
  expect(rotated.previous.id).toBe(oldIntId);

  // 2. Distribute the new root.pem: both roots, the new one first.
  ok("ca", "root", "--out", "root.pem");
  const both = readFileSync(file("root.pem"), "utf8");
  expect(pemBlocks(both).map((p) => new X509Certificate(p).subject.split("\n").pop())).toEqual(["CN=dpki Root CA 2", "CN=dpki Root CA"]);
  expect(readFileSync(join(home, "root.pem"), "utf8")).toBe(both);
  const newRoot = pemBlocks(both)[0]!;
  writeFileSync(file("new-root.pem"), newRoot);

  // New certificates: leaf + issuing CA + cross certificate, never a self-signed root.
  opensslCsr(work, "meter-1", { subject: "/CN=meter-1" });
  ok("cert", "issue", "--csr", "meter-1.csr", "--profile", "device", "--chain", "--out", "meter-1.pem");
  const issued = pemBlocks(readFileSync(file("meter-1.pem"), "utf8")).map((p) => new X509Certificate(p));
  expect(issued).toHaveLength(3);
  expect(issued.some((c) => c.subject === c.issuer)).toBe(false);
  expect(verify(file("old-root.pem"), file("meter-1.pem"))).toContain(": OK");
  expect(verify(file("new-root.pem"), file("meter-1.pem"))).toContain(": OK");

  // The running server follows the rollover: a device on either root accepts it, and so does the CLI's default trust.
  await until("the server presents the new issuer", async () => (await tlsCheck(port, newRoot)).authorized);
  expect(await tlsCheck(port, oldRoot)).toEqual({ authorized: true, error: null });
  const token = JSON.parse(ok("token", "create", "--role", "auditor", "--name", "walkthrough", "--json")).secret as string;
  const remote = run("--server", `https://localhost:${port}`, "--token", token, "ca", "status");
  expect(remote.status, remote.stderr).toBe(0);
  const sClient = openssl(
    ["s_client", "-connect", `localhost:${port}`, "-CAfile", file("old-root.pem"), "-verify_return_error", "-brief"],
    "",
  );
  expect(sClient.stdout + sClient.stderr).toMatch(/Verification: OK/);

  // 3. The old root cannot be retired while its intermediate still answers for certificates.
  const early = run("ca", "retire", oldRootId);
  expect(early.status).toBe(75);
  expect(early.stderr).toContain(`${oldIntId}`);

  // 4. Once every device has its certificate from the new issuer, revoke the old intermediate and retire the old root.
  ok("ca", "revoke", oldIntId, "--reason", "superseded", "--yes");
  ok("ca", "retire", oldRootId);
  ok("ca", "root", "--out", "root.pem");
  const after = readFileSync(file("root.pem"), "utf8");
  expect(after).toBe(newRoot);
  expect(readFileSync(join(home, "root.pem"), "utf8")).toBe(newRoot);
  const states = JSON.parse(ok("ca", "status", "--json")) as Array<{ id: string; state: string }>;
  expect(states.find((c) => c.id === oldRootId)!.state).toBe("retired");
  expect(states.find((c) => c.id === oldIntId)!.state).toBe("revoked");
  // One vocabulary: `ca list` says what `ca status` says.
  const list = ok("ca", "list");
  expect(list).toMatch(new RegExp(`${oldRootId}\\s+root\\s+retired`));
  expect(list).toMatch(new RegExp(`${oldIntId}\\s+intermediate\\s+revoked`));

  // Served chains drop the cross certificate: only the new root is needed now.
  ok("cert", "issue", "--csr", "meter-1.csr", "--profile", "device", "--chain", "--out", "meter-1b.pem");
  expect(pemBlocks(readFileSync(file("meter-1b.pem"), "utf8"))).toHaveLength(2);
  expect(verify(file("new-root.pem"), file("meter-1b.pem"))).toContain(": OK");
  await until("the server drops the cross certificate", async () => !(await tlsCheck(port, oldRoot)).authorized);
  expect(await tlsCheck(port, newRoot)).toEqual({ authorized: true, error: null });
});
