import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openServices, type Services } from "../../src/app.js";
import { DEFAULT_CONFIG, writeConfig } from "../../src/config.js";
import { ensureServerCertificate } from "../../src/http/server-certificate.js";
import { jsonLogger } from "../../src/http/logger.js";
import { listenNames, startServer, type RunningServer } from "../../src/http/server.js";
import { dpkiAsync, type CliResult } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr } from "../http/harness.js";

/**
 * The same scenario through the CLI twice: once on a local data directory, once with
 * --server against `dpki serve` on an identically prepared one. After normalising what is
 * unique per run (serials, thumbprints, times, CA ids, actors, PEM bodies, paths), stdout,
 * stderr and exit codes must be identical.
 */
const PASS = "remote test passphrase";
const work = tempDir("dpki-remote-");
const localHome = join(work, "local");
const remoteHome = join(work, "remote");
let remote: Services;
let server: RunningServer;
let adminToken: string;

async function prepare(home: string): Promise<{ services: Services; token: string }> {
  // No checkpoints signed on the server's clock: one signed while the scenario runs (every 5
  // minutes by default, counted from the server's start) would change what `audit verify` prints.
  mkdirSync(home, { recursive: true });
  writeConfig(home, { ...DEFAULT_CONFIG, checkpointInterval: "off" });
  const services = openServices({ dataDir: home, passphrase: PASS, keyIterations: 1000, create: true });
  await services.ca.init({ algorithm: "P-256", organization: "Acme", actor: "setup" });
  await ensureServerCertificate(services, {
    names: listenNames("127.0.0.1", services.config.publicUrl),
    passphrase: PASS,
    iterations: 1000,
  });
  const { secret } = await services.tokens.create({ role: "admin", name: "ops" }, "setup");
  await services.tokens.authenticate(secret); // both sides show it as used
  return { services, token: secret };
}

beforeAll(async () => {
  const local = await prepare(localHome);
  await local.services.close();
  ({ services: remote, token: adminToken } = await prepare(remoteHome));
  server = await startServer(remote, { port: 0, tls: { self: { passphrase: PASS, iterations: 1000 } }, logger: jsonLogger(() => {}) });

  const csrs = join(work, "csrs");
  mkdirSync(join(csrs, "batch"), { recursive: true });
  writeFileSync(join(csrs, "dev1.csr"), await makeCsr("dev-0001"));
  writeFileSync(join(csrs, "dev2.csr"), await makeCsr("dev-0002", [{ type: "dns", value: "dev-0002.devices.acme.test" }]));
  // One good and one bad CSR: batches sign concurrently, so several good ones would commit in any order.
  writeFileSync(join(csrs, "batch", "line-1.csr"), await makeCsr("line-1"));
  writeFileSync(join(csrs, "batch", "line-2.csr"), "not a CSR\n");
});

afterAll(async () => {
  await server?.close();
  await remote?.close();
});

const SCENARIO: string[][] = [
  ["profile", "list"],
  ["ca", "list"],
  ["cert", "issue", "--csr", "{csrs}/dev1.csr", "--profile", "device", "--json"],
  ["cert", "issue", "--csr", "{csrs}/dev2.csr", "--profile", "device", "--validity", "30d"],
  ["cert", "sign-batch", "{csrs}/batch", "--profile", "device", "--out", "{out}/batch"],
  ["cert", "list"],
  ["cert", "show", "{dev1}"],
  ["cert", "revoke", "{dev1}", "--reason", "keyCompromise"],
  ["cert", "revoke", "{dev1}"],
  ["cert", "show", "ffff"],
  ["cert", "issue", "--csr", "{csrs}/dev2.csr", "--profile", "nope"],
  ["crl", "--out", "{out}/ca.crl"],
  ["audit", "log"],
  ["audit", "log", "--serial", "{dev1}", "--json"],
  ["audit", "verify"],
  ["token", "create", "--role", "factory", "--name", "line-1", "--profiles", "device", "--quota", "100"],
  ["token", "create", "--role", "hub", "--name", "no-hub"],
  ["token", "revoke", "line-1"],
  ["token", "list", "--json"],
];

async function runScenario(mode: "local" | "remote"): Promise<CliResult[]> {
  const env =
    mode === "local"
      ? { DPKI_HOME: localHome, DPKI_PASSPHRASE: PASS, DPKI_SERVER: undefined, DPKI_TOKEN: undefined }
      : // No passphrase: everything goes through the server. The data dir only supplies root.pem to trust.
        { DPKI_HOME: remoteHome, DPKI_PASSPHRASE: undefined, DPKI_SERVER: server.url, DPKI_TOKEN: adminToken };
  const out = join(work, `out-${mode}`);
  mkdirSync(out, { recursive: true });
  const vars: Record<string, string> = { csrs: join(work, "csrs"), out };
  const results: CliResult[] = [];
  for (const step of SCENARIO) {
    const args = step.map((a) => a.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? `{${k}}`));
    const r = await dpkiAsync(args, { env });
    results.push(r);
    if (step.includes("--json") && step[1] === "issue") vars.dev1 = JSON.parse(r.stdout).serial;
  }
  return results;
}

function normalise(text: string): string {
  return (
    text
      .replaceAll(work, "<DIR>")
      .replace(/out-(local|remote)/g, "out-<MODE>")
      .replace(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g, "<PEM $1>")
      .replace(/dpki_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g, "<TOKEN>")
      .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{3})?Z/g, "<TIME>")
      .replace(/\b[0-9a-f]{64}\b/g, "<SHA256>")
      .replace(/\b[0-9a-f]{32}\b/g, "<SERIAL>")
      .replace(/\b[0-9a-f]{16}\b/g, "<ID>")
      .replace(/\b(root|int)-[0-9a-f]{8}\b/g, "<CA>")
      .replace(/\b(cli|token):[A-Za-z0-9._@-]+/g, "<ACTOR>")
      // Where an entry came from: this machine for the local CLI, the client address for the server.
      .replace(/\b(local|127\.0\.0\.1)\b/g, "<SOURCE>")
      .replace(/ {2,}/g, " ")
  );
}

function sortedLines(text: string): string {
  return text.split("\n").filter(Boolean).sort().join("\n") + "\n";
}

describe("the CLI prints the same locally and with --server", () => {
  // 38 CLI processes, 19 after one another on each side: a minute was too little on a loaded machine.
  it("runs one scenario both ways with identical output and exit codes", { timeout: 240_000 }, async () => {
    const [local, viaServer] = await Promise.all([runScenario("local"), runScenario("remote")]);
    // A batch's good and bad CSR are signed at once, so its issuance and its refusal take their
    // places in the log in either order: the log listing is compared as a set of lines.
    const stdout = (i: number, text: string) =>
      SCENARIO[i]!.join(" ") === "audit log" ? sortedLines(normalise(text).replace(/^\d+ /gm, "<SEQ> ")) : normalise(text);
    const view = (rs: CliResult[]) =>
      rs.map(
        (r, i) =>
          `$ dpki ${SCENARIO[i]!.join(" ")}\nexit ${r.status}\n--- stdout\n${stdout(i, r.stdout)}--- stderr\n${normalise(r.stderr)}`,
      );
    expect(view(viaServer)).toEqual(view(local));
    // The scenario is not vacuous: it succeeded where it should and failed where it should.
    expect(local.map((r) => r.status)).toEqual([0, 0, 0, 0, 65, 0, 0, 0, 65, 66, 66, 0, 0, 0, 0, 0, 64, 0, 0]);
  });

  it("reports an untrusted server or a missing token with the right exit codes", async () => {
    const base = { DPKI_HOME: join(work, "empty"), DPKI_SERVER: server.url, DPKI_PASSPHRASE: undefined };
    const untrusted = await dpkiAsync(["cert", "list"], { env: { ...base, DPKI_TOKEN: adminToken } });
    expect(untrusted.status).toBe(69);
    expect(untrusted.stderr).toMatch(/Cannot trust the server certificate .*--ca-file/);
    const trusted = await dpkiAsync(["--ca-file", join(remoteHome, "root.pem"), "cert", "list", "--json"], {
      env: { ...base, DPKI_TOKEN: adminToken },
    });
    expect(trusted.status).toBe(0);
    const anonymous = await dpkiAsync(["--ca-file", join(remoteHome, "root.pem"), "cert", "list"], {
      env: { ...base, DPKI_TOKEN: undefined },
    });
    expect(anonymous.status).toBe(77);
    expect(anonymous.stderr).toContain("set DPKI_TOKEN");
    const down = await dpkiAsync(["--server", "https://127.0.0.1:1", "cert", "list"], { env: base });
    expect(down.status).toBe(69);
  });
});
