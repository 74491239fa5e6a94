/**
 * Refused attempts in the issuance log, as an operator runs dpki: `dpki serve --dps-port` in its
 * own process, set up and read with the CLI. A refused token, CSR or device registration is an
 * entry with its reason, actor, source address and the policy hash; the presented secret is
 * nowhere in the log or the database; a flood is bounded and counted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { tempDir } from "../helpers/temp-dir.js";
import { deviceCall, deviceCsr, dpsToken, type RawResponse } from "../dps/helpers.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");
const POLICY = createHash("sha256")
  .update(readFileSync(resolve(import.meta.dirname, "..", "..", "policies", "profiles.yaml")))
  .digest("hex");
const SCOPE = "0ne00DENY1";
const WINDOW_MS = 3000;
const PER_SOURCE = 5;
const FLOOD = 20;

interface Entry {
  seq: number;
  actor: string;
  action: string;
  subject: string | null;
  profile: string | null;
  policyHash: string | null;
  details: Record<string, unknown>;
}

let env: Record<string, string>;
let server: ChildProcess;
let api: { host: string; port: number; ca: string };
let devices: { host: string; port: number; ca: string };
let tokens: { admin: string; auditor: string; factory: string; revoked: string };
let deviceKey: string;

const cli = (...args: string[]) => {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};
/** Every entry after `afterSeq`, read as an auditor does (over the API: a CLI run per look is slow). */
async function entriesAfter(afterSeq: number, filter = ""): Promise<Entry[]> {
  const res = await call("GET", `/v1/audit?order=oldest&limit=1000${filter}`, bearer(tokens.auditor));
  expect(res.status, res.text).toBe(200);
  return (res.json.items as Entry[]).filter((e) => e.seq > afterSeq);
}
const head = async () => (await entriesAfter(0)).at(-1)!.seq;
const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<RawResponse> =>
  deviceCall(api, { method, path, body: body === undefined ? "" : JSON.stringify(body), headers });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  const work = tempDir();
  env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "served refusals" };
  expect(dpki(["init"], { env }).status).toBe(0);
  const configFile = join(env.DPKI_HOME!, "config.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      ...JSON.parse(readFileSync(configFile, "utf8")),
      refusalLogWindow: `${WINDOW_MS / 1000}s`,
      refusalLogPerSource: PER_SOURCE,
      refusalLogPerWindow: 100,
    }),
  );
  // One token from the CLI; the rest over the API once the server runs (a CLI run is slow on a busy machine).
  const admin = cli("token", "create", "--role", "admin", "--name", "ops").secret as string;
  const [apiPort, dpsPort] = [await freePort(), await freePort()];
  server = spawn(process.execPath, [BIN, "serve", "--port", String(apiPort), "--dps-port", String(dpsPort)], {
    env: { ...process.env, ...env },
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
  const ca = readFileSync(join(env.DPKI_HOME!, "root.pem"), "utf8");
  api = { host: "127.0.0.1", port: apiPort, ca };
  devices = { host: "127.0.0.1", port: dpsPort, ca };

  const post = async (path: string, body: unknown, status = 201) => {
    const res = await call("POST", path, bearer(admin), body);
    expect(res.status, res.text).toBe(status);
    return res.json;
  };
  await post("/v1/scopes", { idScope: SCOPE });
  await post(`/v1/scopes/${SCOPE}/hubs`, { name: "hub-1", hostName: "hub-1.hubs.example.net" });
  deviceKey = (
    await post(`/v1/scopes/${SCOPE}/enrollments`, {
      registrationId: "meter-1",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "hashed", hubs: ["hub-1"] },
    })
  ).keys.primaryKey;
  tokens = {
    admin,
    auditor: (await post("/v1/tokens", { role: "auditor", name: "audit" })).secret,
    factory: (await post("/v1/tokens", { role: "factory", name: "line-1", profiles: ["device"], quotaPerDay: 1 })).secret,
    revoked: (await post("/v1/tokens", { role: "operator", name: "gone" })).secret,
  };
  await post("/v1/tokens/gone/revoke", {}, 200);
}, 120_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

describe("refused attempts in the log", () => {
  it("logs each refused token with its reason, the caller known so far and the address, never what was presented", async () => {
    const from = await head();
    const unknown = `dpki_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
    const notOurs = `opaque-${randomBytes(24).toString("hex")}`;
    const answers = [
      await call("GET", "/v1/certificates", bearer(unknown)),
      await call("GET", "/v1/certificates", bearer(tokens.revoked)),
      await call("GET", "/v1/certificates", bearer(notOurs)),
      await call("GET", "/v1/certificates"),
      await call("POST", "/v1/tokens", bearer(tokens.auditor), { role: "admin" }),
    ];
    expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 401, 403]);

    const denied = await entriesAfter(from, "&refusals=true");
    expect(denied.map((e) => [e.action, e.actor, e.details.code])).toEqual([
      ["auth.deny", "http:anonymous", "unauthorized"],
      ["auth.deny", "http:anonymous", "unauthorized"],
      ["auth.deny", "http:anonymous", "unauthorized"],
      ["auth.deny", "http:anonymous", "unauthorized"],
      ["auth.deny", "token:audit", "forbidden"],
    ]);
    for (const e of denied) expect(e).toMatchObject({ policyHash: POLICY, details: { source: "127.0.0.1", message: expect.any(String) } });
    // Only a dpki token's public id is kept; of any other credential, nothing.
    expect(denied[0]!.details.tokenId).toBe(unknown.slice(5, 21));
    expect(denied[1]!.details).toMatchObject({ tokenId: tokens.revoked.slice(5, 21), message: "Invalid token: revoked" });
    expect(denied[2]!.details.tokenId).toBeUndefined();
    expect(denied[4]!.details).toMatchObject({ role: "auditor", method: "POST", path: "/v1/tokens" });

    const secrets = [unknown, notOurs, tokens.revoked, tokens.auditor].flatMap((t) => [t, t.slice(22)]).filter((s) => s.length > 20);
    // The CLI reads the data directory itself: the log as stored, not as the API shows it.
    const logText = JSON.stringify(cli("audit", "log", "--oldest-first", "--limit", "1000"));
    const files = readdirSync(env.DPKI_HOME!).filter((f) => f.startsWith("dpki.db"));
    expect(files.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(logText).not.toContain(secret);
      for (const f of files) expect(readFileSync(join(env.DPKI_HOME!, f)).includes(secret), `${secret.slice(0, 8)}… in ${f}`).toBe(false);
    }
  });

  it("logs refused CSRs under the token and profile, and a used-up quota; issuance over the API names the address", async () => {
    const from = await head();
    const { csr } = await deviceCsr("line-device-1");
    const bad = Buffer.from("not a certificate request at all").toString("base64");
    expect((await call("POST", "/v1/certificates", bearer(tokens.admin), { csr: bad, profile: "device" })).status).toBe(400);
    expect((await call("POST", "/v1/certificates", bearer(tokens.admin), { csr, profile: "no-such-profile" })).status).toBe(404);
    expect((await call("POST", "/v1/certificates", bearer(tokens.factory), { csr, profile: "device" })).status).toBe(201);
    expect((await call("POST", "/v1/certificates", bearer(tokens.factory), { csr, profile: "device" })).status).toBe(429);

    const all = await entriesAfter(from);
    expect(all.map((e) => [e.action, e.actor, e.details.code ?? null])).toEqual([
      ["cert.refuse", "token:ops", "bad_encoding"],
      ["cert.refuse", "token:ops", "not_found"],
      ["cert.issue", "token:line-1", null],
      ["cert.refuse", "token:line-1", "quota_exceeded"],
    ]);
    for (const e of all) expect(e).toMatchObject({ policyHash: POLICY, details: { source: "127.0.0.1" } });
    expect(all[0]).toMatchObject({ profile: "device", details: { csrSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(all[1]!.profile).toBe("no-such-profile");
  });

  it("logs a refused device registration with its reason and address, never the SAS token", async () => {
    const from = await head();
    const forged = dpsToken(SCOPE, "meter-1", Buffer.from("not the device key, but 32 bytes").toString("base64"));
    const path = (scope: string) => `/${scope}/registrations/meter-1/register?api-version=2021-06-01`;
    expect((await deviceCall(devices, { path: path(SCOPE), body: "{}", headers: { authorization: forged } })).status).toBe(401);
    expect((await deviceCall(devices, { path: path("0ne00NOPE"), body: "{}", headers: { authorization: forged } })).status).toBe(404);
    expect((await deviceCall(devices, { path: path(SCOPE), body: '{"registrationId":', headers: {} })).status).toBe(400);
    const good = await deviceCall(devices, {
      path: path(SCOPE),
      body: "{}",
      headers: { authorization: dpsToken(SCOPE, "meter-1", deviceKey) },
    });
    expect(good.status, good.text).toBe(200);

    const all = await entriesAfter(from);
    expect(all.map((e) => [e.action, e.details.code ?? e.details.status])).toEqual([
      ["dps.register.refuse", "unauthorized"],
      ["dps.register.refuse", "not_found"],
      ["dps.register.refuse", "bad_request"],
      ["dps.register", "assigned"],
    ]);
    for (const e of all)
      expect(e).toMatchObject({ actor: expect.stringMatching(/^dps:0ne00/), policyHash: POLICY, details: { source: "127.0.0.1" } });
    expect(all[0]!.details).toMatchObject({ reason: "signature", registrationId: "meter-1", stage: "register" });
    const sig = /sig=([^&]+)/.exec(forged)![1]!;
    for (const shown of [sig, decodeURIComponent(sig)]) expect(JSON.stringify(all)).not.toContain(shown);
  });

  it("bounds a flood: the first refusals of a source and reason are entries, the rest one count when the window closes", async () => {
    // A window of its own: the one the tests above opened has closed.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 200));
    const from = await head();
    const token = `dpki_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: FLOOD }, () => call("GET", "/v1/ca", bearer(token))));
    expect(answers.every((r) => r.status === 401)).toBe(true);
    expect(Date.now() - started).toBeLessThan(WINDOW_MS);

    // No further request: the server closes the window on its own and writes the count.
    let logged: Entry[] = [];
    const counts = () => logged.filter((e) => e.details.suppressed !== undefined);
    for (let i = 0; i < 20 && counts().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 300));
      logged = await entriesAfter(from, "&refusals=true");
    }
    const counted = counts();
    expect(logged.filter((e) => e.actor === "http:anonymous")).toHaveLength(PER_SOURCE);
    expect(counted).toHaveLength(1);
    expect(logged).toHaveLength(PER_SOURCE + 1);
    expect(counted[0]).toMatchObject({
      action: "auth.deny",
      actor: "system:refusal-limit",
      details: { code: "unauthorized", source: "127.0.0.1", suppressed: FLOOD - PER_SOURCE },
    });

    const table = dpki(["audit", "log", "--oldest-first", "--refusals", "--limit", "1000"], { env });
    expect(table.status).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/\bSOURCE\b.*\bREASON\b/);
    expect(table.stdout).toContain(`unauthorized ×${FLOOD - PER_SOURCE}`);
  }, 30_000);
});
