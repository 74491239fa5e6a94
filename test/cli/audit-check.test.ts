/**
 * `dpki audit check` and GET /v1/audit/findings as an auditor meets them: every finding made
 * for real (CSRs from one key, a profile tightened after issuance, a weak enrollment-group CA,
 * a device registered through `dpki serve --dps-port` whose certificate is then revoked, tokens
 * never used), then found by the CLI locally and through the API, each pointing at its log entries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { deviceCall, deviceCsr, dpsToken } from "../dps/helpers.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const SCOPE = "0ne00CHECK";
const work = tempDir();
const tight = join(work, "tight-profiles.yaml");
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "audit check test" };
/** The profiles as the auditor now reads them: device certificates shortened to a year and EC only, gateway gone. */
const tightEnv = { ...env, DPKI_PROFILES: tight };

/** Runs `dpki … --json` (several at once when given several), expecting success, and parses each answer. */
async function json(...calls: Array<string[] | { args: string[]; env: Record<string, string | undefined> }>): Promise<any[]> {
  const results = await Promise.all(
    calls.map((c) => (Array.isArray(c) ? dpkiAsync([...c, "--json"], { env }) : dpkiAsync([...c.args, "--json"], { env: c.env }))),
  );
  return results.map((r) => {
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  });
}

let server: ChildProcess;
let api: string;
let auditor: string;
let scopedAuditor: string;
let operator: string;
let rootAdminId: string;
const serials: Record<string, string> = {};

beforeAll(async () => {
  expect(dpki(["init"], { env }).status).toBe(0);
  const profiles = readFileSync(resolve(import.meta.dirname, "..", "..", "policies", "profiles.yaml"), "utf8");
  const device = profiles.slice(profiles.indexOf("  device:"), profiles.indexOf("  gateway:"));
  const serverProfile = profiles.slice(profiles.indexOf("  server:"));
  writeFileSync(
    tight,
    "profiles:\n" + device.replace("[P-256, P-384, RSA]", "[P-256, P-384]").replace("max: 825d", "max: 365d") + serverProfile,
  );

  // A factory batch in which two CSRs were made from the same private key, and one honest CSR.
  const batch = join(work, "batch");
  mkdirSync(batch);
  opensslCsr(batch, "shared-1", { subject: "/CN=shared-1" });
  expect(
    openssl(["req", "-new", "-key", join(batch, "shared-1.key"), "-subj", "/CN=shared-2", "-out", join(batch, "shared-2.csr")]).status,
  ).toBe(0);
  opensslCsr(batch, "fine-1", { subject: "/CN=fine-1" });
  // Allowed when issued, outside the rules once the profiles are tightened.
  const rsa = opensslCsr(work, "long-rsa", { key: "rsa-2048", subject: "/CN=long-rsa" });
  const gateway = opensslCsr(work, "gw", { subject: "/CN=gw-1" });
  // An enrollment group trusting an RSA-1024 CA that expires in 30 days.
  const weakCa = join(work, "weak-ca.pem");
  const made = openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:1024",
    "-nodes",
    "-keyout",
    join(work, "weak-ca.key"),
    "-subj",
    "/CN=Weak Factory CA",
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
    "-out",
    weakCa,
  ]);
  expect(made.status, made.stderr).toBe(0);

  const [signed, longRsa, gw, , rootAdmin, , audit, scoped, op] = await json(
    ["cert", "sign-batch", batch, "--profile", "device", "--out", join(work, "certs")],
    ["cert", "issue", "--csr", rsa, "--profile", "device", "--validity", "800d"],
    ["cert", "issue", "--csr", gateway, "--profile", "gateway"],
    ["scope", "add", SCOPE],
    ["token", "create", "--role", "admin", "--name", "root-admin"],
    ["token", "create", "--role", "admin", "--name", "temp-admin", "--expires", "30d"],
    ["token", "create", "--role", "auditor", "--name", "auditor"],
    ["token", "create", "--role", "auditor", "--name", "scoped-auditor", "--scope", SCOPE],
    ["token", "create", "--role", "operator", "--name", "operator"],
  );
  for (const r of signed.results as Array<{ file: string; serial: string }>) serials[/([a-z0-9-]+)\.csr$/.exec(r.file)![1]!] = r.serial;
  serials.longRsa = longRsa.serial;
  serials.gateway = gw.serial;
  rootAdminId = rootAdmin.token.id;
  [auditor, scopedAuditor, operator] = [audit.secret, scoped.secret, op.secret];
  await json(["hub", "add", "hub-1", "--host-name", "hub-1.hubs.example.net", "--scope", SCOPE]);
  const [, enrollment] = await json(
    ["group", "add", "weak-factory", "--attestation", "x509", "--cert", weakCa, "--scope", SCOPE],
    ["enrollment", "add", "meter-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE],
  );

  // A device registered with a CSR through the served DPS endpoint, then its certificate revoked.
  const [apiPort, dpsPort] = [await freePort(), await freePort()];
  server = spawn(process.execPath, [BIN, "serve", "--port", String(apiPort), "--dps-port", String(dpsPort), "--no-http"], {
    env: { ...process.env, ...tightEnv },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((ready, fail) => {
    let err = "";
    server.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("stop:")) ready();
    });
    server.once("exit", () => fail(new Error(`server exited: ${err}`)));
  });
  api = `https://127.0.0.1:${apiPort}`;
  const { csr } = await deviceCsr("meter-1");
  const registered = await deviceCall(
    { host: "127.0.0.1", port: dpsPort, ca: readFileSync(join(env.DPKI_HOME, "root.pem"), "utf8") },
    {
      path: `/${SCOPE}/registrations/meter-1/register?api-version=2021-06-01`,
      body: JSON.stringify({ registrationId: "meter-1", csr }),
      headers: { authorization: dpsToken(SCOPE, "meter-1", enrollment.keys.primaryKey) },
    },
  );
  expect(registered.status, registered.text).toBe(200);
  const chain = registered.json.registrationState.issuedCertificateChain as string[];
  serials.device = new X509Certificate(Buffer.from(chain[0]!, "base64")).serialNumber.toLowerCase();
  await json(["cert", "revoke", serials.device, "--reason", "keyCompromise"]);
}, 90_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

interface Entry {
  seq: number;
  action: string;
  serial: string | null;
  details: Record<string, unknown>;
}

interface Report {
  checks: Array<{ check: string; found: number }>;
  findings: Array<{ check: string; severity: string; message: string; objects: Array<{ type: string; id: string }>; entries: number[] }>;
}

const findingsOf = (report: Report, check: string) => report.findings.filter((f) => f.check === check);
/** The report with the default windows, as the CLI made it locally (compared with the API's below). */
let localReport: Report;

it("finds each kind of problem, each finding naming its objects and log entries; exits 1 while there are findings", async () => {
  const [wide, log, defaults] = await Promise.all([
    dpkiAsync(["audit", "check", "--within", "3700d", "--json"], { env: tightEnv }),
    json(["audit", "log", "--oldest-first", "--limit", "1000"]).then(([page]) => page.items as Entry[]),
    dpkiAsync(["audit", "check", "--json"], { env: tightEnv }),
  ]);
  expect(wide.status, wide.stderr).toBe(1);
  const report = JSON.parse(wide.stdout) as Report;
  const issued = (serial: string) => log.find((e) => e.action === "cert.issue" && e.serial === serial)!.seq;
  expect(Object.fromEntries(report.checks.map((c) => [c.check, c.found]))).toEqual({
    "shared-key": 1,
    "weak-key": 1,
    "outside-profile": 2,
    "revoked-but-assigned": 1,
    "ca-expiring": 2,
    "admin-token-no-expiry": 1,
    "unused-token": 5,
  });

  const [shared] = findingsOf(report, "shared-key");
  expect(shared!.severity).toBe("high");
  // The batch signs in parallel: the two are listed in the order they were issued.
  const twins = [serials["shared-1"]!, serials["shared-2"]!].sort((a, b) => issued(a) - issued(b));
  expect(shared!.objects).toEqual(twins.map((id) => ({ type: "certificate", id })));
  expect(shared!.entries).toEqual(twins.map(issued));

  const outside = findingsOf(report, "outside-profile");
  const longRsa = outside.find((f) => f.objects[0]!.id === serials.longRsa)!;
  expect(longRsa.message).toMatch(/valid for 800 days, the profile now allows at most 365 days/);
  expect(longRsa.message).toMatch(/RSA-2048 keys are not allowed \(allowed: P-256, P-384\)/);
  expect(longRsa.entries).toEqual([issued(serials.longRsa!)]);
  expect(outside.find((f) => f.objects[0]!.id === serials.gateway)!.message).toMatch(/profile gateway is no longer defined/);
  expect(outside.some((f) => f.objects[0]!.id === serials["fine-1"])).toBe(false);

  const [weak] = findingsOf(report, "weak-key");
  expect(weak!.objects).toEqual([{ type: "group", id: `${SCOPE}/weak-factory` }]);
  expect(weak!.message).toMatch(/RSA key of 1024 bits/);
  expect(weak!.entries).toEqual([log.find((e) => e.action === "dps.group.create")!.seq]);

  const [assigned] = findingsOf(report, "revoked-but-assigned");
  expect(assigned!.objects).toEqual([
    { type: "registration", id: `${SCOPE}/meter-1` },
    { type: "certificate", id: serials.device },
  ]);
  expect(assigned!.message).toMatch(/still assigned to hub-1\.hubs\.example\.net .*revoked on .*\(keyCompromise\)/);
  // Issued, registered with, revoked: every entry about the certificate.
  const deviceEntries = log.filter((e) => e.serial === serials.device);
  expect(deviceEntries.map((e) => e.action).sort()).toEqual(["cert.issue", "cert.revoke", "dps.register"]);
  expect(assigned!.entries).toEqual(deviceEntries.map((e) => e.seq));

  // 3700 days reach the 10-year intermediate, not the 20-year root; the group's CA ends in 30 days.
  const intermediate = log.find((e) => e.action === "ca.create" && e.details.kind === "intermediate")!;
  const expiring = findingsOf(report, "ca-expiring");
  expect(expiring.map((f) => f.objects[0])).toEqual([
    { type: "ca", id: intermediate.details.caId },
    { type: "group", id: `${SCOPE}/weak-factory` },
  ]);
  expect(expiring[0]!.entries).toEqual([intermediate.seq]);

  const [noExpiry] = findingsOf(report, "admin-token-no-expiry");
  expect(noExpiry!.objects).toEqual([{ type: "token", id: rootAdminId }]);
  expect(noExpiry!.entries).toEqual([log.find((e) => e.action === "token.create" && e.details.tokenId === rootAdminId)!.seq]);
  expect(findingsOf(report, "unused-token").map((f) => f.objects[0]!.id)).toContain(rootAdminId);

  // With the default 90 days the dpki CAs are out of sight; the group's CA is not.
  localReport = JSON.parse(defaults.stdout) as Report;
  expect(findingsOf(localReport, "ca-expiring").map((f) => f.objects[0]!.type)).toEqual(["group"]);
});

it("prints a table for people, and --fail-on sets what makes it exit 1", async () => {
  const [table, none, badWindow] = await Promise.all(
    [[], ["--fail-on", "none"], ["--within", "soon"]].map((extra) => dpkiAsync(["audit", "check", ...extra], { env: tightEnv })),
  );
  expect(table!.status).toBe(1);
  expect(table!.stdout).toMatch(/^SEVERITY +CHECK +ENTRIES +FINDING\n/);
  expect(table!.stdout).toMatch(/\nhigh +shared-key +\d+,\d+ +2 good certificates share one public key/);
  expect(table!.stdout).toMatch(/\nshared-key +high +1 +Good certificates sharing a public key\n/);
  expect(table!.stdout).toMatch(/\n\d+ findings \(\d+ high, \d+ medium, \d+ low\), checked /);
  expect(none!.status).toBe(0);
  expect(badWindow!.status).toBe(64);
  expect(badWindow!.stderr).toMatch(/Cannot parse duration "soon"/);
});

it("answers the same through GET /v1/audit/findings (--server), to unscoped auditors and admins only", async () => {
  const remote = await dpkiAsync(["audit", "check", "--json"], { env: { ...env, DPKI_SERVER: api, DPKI_TOKEN: auditor } });
  expect(remote.status, remote.stderr).toBe(1);
  const report = JSON.parse(remote.stdout) as Report;
  expect(report.checks.map((c) => c.check)).toEqual(localReport.checks.map((c) => c.check));
  // The auditor's own token was just used: it is no longer an unused one, all else is the same.
  const notTokens = (r: Report) => r.findings.filter((f) => f.check !== "unused-token");
  expect(notTokens(report)).toEqual(notTokens(localReport));
  expect(findingsOf(localReport, "unused-token").some((f) => / token auditor /.test(f.message))).toBe(true);
  expect(findingsOf(report, "unused-token").some((f) => / token auditor /.test(f.message))).toBe(false);

  const target = { host: "127.0.0.1", port: Number(new URL(api).port), ca: readFileSync(join(env.DPKI_HOME, "root.pem"), "utf8") };
  const call = (path: string, token: string) => deviceCall(target, { method: "GET", path, headers: { authorization: `Bearer ${token}` } });
  const refused = await call("/v1/audit/findings", scopedAuditor);
  expect(refused.status).toBe(403);
  expect(refused.json.detail).toMatch(/covers every scope/);
  expect((await call("/v1/audit/findings", operator)).status).toBe(403);
  const badWindow = await call("/v1/audit/findings?within=soon", auditor);
  expect(badWindow.status).toBe(400);
  expect(badWindow.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const text = await call("/v1/audit?order=oldest&text=WEAK-FACTORY", auditor);
  expect(text.json.items.map((e: Entry) => e.action)).toEqual(["dps.group.create"]);
});

it("reports a token unused for the window once its last use is further back", async () => {
  await new Promise((r) => setTimeout(r, 1200));
  const [report] = await json({ args: ["audit", "check", "--unused-for", "1s", "--fail-on", "none"], env: tightEnv });
  const auditorToken = findingsOf(report, "unused-token").find((f) => / token auditor /.test(f.message));
  expect(auditorToken!.message).toMatch(/last used on \S+, less than a day ago/);
});

it("`audit log --text` finds entries by any text in them, in any case", async () => {
  const [hits] = await json(["audit", "log", "--oldest-first", "--text", "Weak-Factory"]);
  expect(hits.items.map((e: Entry) => e.action)).toEqual(["dps.group.create"]);
});
