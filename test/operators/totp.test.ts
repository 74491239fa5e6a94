import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as OTPAuth from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixedClock } from "../../src/clock.js";
import { OperatorService } from "../../src/core/tokens/operator-service.js";
import { StepUpService, TOTP_PARAMS } from "../../src/core/tokens/step-up-service.js";
import type { Principal } from "../../src/core/tokens/token-service.js";
import { PassphraseSecretBox } from "../../src/store/secret-box.js";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { sqliteSecretSalt } from "../../src/store/sqlite/sqlite-secret-salt.js";
import { SqliteTokenStore } from "../../src/store/sqlite/sqlite-token-store.js";
import { dpkiAsync } from "../helpers/cli.js";
import { initDataDir } from "../helpers/data-dir.js";
import { api, get, startNode, type ServeNode } from "../helpers/nodes.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr } from "../http/harness.js";

const work = tempDir("dpki-totp-");

describe("RFC 6238 Appendix B (SHA-1) through the library as configured", () => {
  // The 20-byte ASCII seed "12345678901234567890"; the RFC's codes have 8 digits.
  const seed = OTPAuth.Secret.fromUTF8("12345678901234567890");
  const vectors: Array<[number, string]> = [
    [59, "94287082"],
    [1111111109, "07081804"],
    [1111111111, "14050471"],
    [1234567890, "89005924"],
    [2000000000, "69279037"],
    [20000000000, "65353130"],
  ];
  it.each(vectors)("T = %i s gives %s (and its last 6 digits with dpki's 6-digit setting)", (seconds, code) => {
    const eight = new OTPAuth.TOTP({ secret: seed, ...TOTP_PARAMS, digits: 8 });
    expect(eight.generate({ timestamp: seconds * 1000 })).toBe(code);
    const six = new OTPAuth.TOTP({ secret: seed, ...TOTP_PARAMS });
    expect(six.generate({ timestamp: seconds * 1000 })).toBe(code.slice(2));
  });
});

describe("step-up checks", () => {
  const clock = fixedClock(new Date("2026-03-01T10:00:10Z"));
  const db = new SqliteDb(join(work, "unit.db"));
  const store = new SqliteTokenStore(db);
  const secrets = new PassphraseSecretBox(() => "unit passphrase", sqliteSecretSalt(db));
  const operators = new OperatorService(store, clock, secrets);
  const stepUp = new StepUpService(store, secrets, clock, "writes");
  const alice = { operator: "alice", actor: "operator:alice" } as Principal;
  let totp: OTPAuth.TOTP;
  const codeAt = (offsetSteps: number) => totp.generate({ timestamp: clock.now().getTime() + offsetSteps * 30_000 });

  beforeAll(async () => {
    await operators.add("alice", "tester");
    const { uri } = await operators.enrollTotp("alice", "tester");
    totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
    expect(totp).toMatchObject({ algorithm: "SHA1", digits: 6, period: 30, issuer: "dpki", label: "alice" });
    // Sealed at rest: the base32 secret is nowhere in the row.
    const row = db.db.prepare("SELECT totp_secret FROM operators WHERE name = 'alice'").get() as { totp_secret: string };
    expect(row.totp_secret.startsWith("sealed:v1:")).toBe(true);
    expect(row.totp_secret).not.toContain(totp.secret.base32);
  });

  it("asks for a code on writes only, and only of enrolled operators", async () => {
    await expect(stepUp.check(alice, "post", "/v1/certificates", undefined)).rejects.toMatchObject({ code: "otp_required" });
    await stepUp.check(alice, "get", "/v1/certificates", undefined);
    await stepUp.check({ ...alice, operator: null }, "post", "/v1/certificates", undefined);
    expect(new StepUpService(store, secrets, clock, ["POST /v1/certificates/:id/revoke"]).needs("post", "/v1/certificates")).toBe(false);
  });

  it("accepts a code once, one step of skew either way, never two steps", async () => {
    await expect(stepUp.check(alice, "post", "/v1/x", codeAt(-2))).rejects.toMatchObject({ code: "unauthorized" });
    await expect(stepUp.check(alice, "post", "/v1/x", codeAt(2))).rejects.toMatchObject({ code: "unauthorized" });
    await stepUp.check(alice, "post", "/v1/x", codeAt(-1));
    await stepUp.check(alice, "post", "/v1/x", codeAt(0));
    await expect(stepUp.check(alice, "post", "/v1/x", codeAt(0))).rejects.toThrow(/already used/);
    // An earlier step than the last one used is a replay too.
    await expect(stepUp.check(alice, "post", "/v1/x", codeAt(-1))).rejects.toThrow(/already used/);
    await stepUp.check(alice, "post", "/v1/x", codeAt(1));
  });

  it("refuses further codes unchecked after five wrong ones, until the window passes", async () => {
    clock.advance(120_000);
    const wrong = codeAt(0) === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) await expect(stepUp.check(alice, "post", "/v1/x", wrong)).rejects.toMatchObject({ code: "unauthorized" });
    await expect(stepUp.check(alice, "post", "/v1/x", codeAt(0))).rejects.toMatchObject({ code: "rate_limited" });
    clock.advance(5 * 60_000);
    await stepUp.check(alice, "post", "/v1/x", codeAt(0));
  });
});

describe("step-up through dpki serve", () => {
  const home = join(work, "ca");
  const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "totp test" };
  let node: ServeNode;
  let token: string;
  let totp: OTPAuth.TOTP;
  let csr: string;
  const cli = (args: string[], extra: Record<string, string> = {}) => dpkiAsync(args, { env: { ...env, ...extra } });
  const issue = (otp?: string) =>
    get(node.api + "/v1/certificates", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(otp ? { "dpki-otp": otp } : {}) },
      body: JSON.stringify({ csr, profile: "device" }),
    });

  beforeAll(async () => {
    mkdirSync(home, { recursive: true });
    await initDataDir(home, { passphrase: env.DPKI_PASSPHRASE });
    await cli(["operator", "add", "alice"]);
    token = (await cli(["token", "create", "--role", "operator", "--operator", "alice"])).stdout.trim();
    const enrolled = await cli(["operator", "totp", "enroll", "alice"]);
    expect(enrolled.status, enrolled.stderr).toBe(0);
    const uri = /otpauth:\/\/\S+/.exec(enrolled.stdout)![0];
    expect(enrolled.stdout).toMatch(/[▀▄█]/); // the QR code, drawn in the terminal
    totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
    csr = await makeCsr("dev-totp-1");
    writeFileSync(join(work, "dev.csr"), await makeCsr("dev-totp-2"));
    node = await startNode(env);
  });

  afterAll(async () => {
    await node?.stop();
  });

  it("refuses a write without a code, with a wrong one and with a replayed one; accepts a fresh one", async () => {
    const none = await issue();
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: "otp_required" });
    const now = totp.generate();
    const wrong = await issue(now === "123456" ? "654321" : "123456");
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).detail).toBe("One-time password wrong");
    const good = await issue(now);
    expect(good.status).toBe(201);
    const replay = await issue(now);
    expect(replay.status).toBe(401);
    expect((await replay.json()).detail).toMatch(/already used/);
    // The next step's code is fresh (one step of skew): accepted once.
    const next = await issue(totp.generate({ timestamp: Date.now() + 30_000 }));
    expect(next.status).toBe(201);
    // Reads need no code.
    expect((await api(node, "GET", "/v1/certificates", token)).status).toBe(200);
  });

  it("logs the refusals without the codes, and the CLI sends --otp", async () => {
    const admin = (await cli(["token", "create", "--role", "admin"])).stdout.trim();
    const log = await api(node, "GET", "/v1/audit?refusals=true&limit=100", admin);
    const denials = log.json.items.filter((e: { action: string }) => e.action === "auth.deny");
    expect(denials.map((e: { actor: string }) => e.actor)).toContain("operator:alice");
    expect(JSON.stringify(log.json)).not.toContain(totp.secret.base32);
    const without = await cli(["--server", node.api, "cert", "issue", "--csr", join(work, "dev.csr"), "--profile", "device"], {
      DPKI_TOKEN: token,
    });
    expect(without.status).toBe(77);
    expect(without.stderr).toMatch(/needs a one-time password of operator alice.*no terminal to ask on/);
    // Enrolling again replaces the secret and forgets the steps used: the current code is fresh.
    const again = await cli(["operator", "totp", "enroll", "alice", "--json"]);
    const renewed = OTPAuth.URI.parse(JSON.parse(again.stdout).uri as string) as OTPAuth.TOTP;
    expect(renewed.secret.base32).not.toBe(totp.secret.base32);
    const withOtp = await cli(
      ["--server", node.api, "--otp", renewed.generate(), "cert", "issue", "--csr", join(work, "dev.csr"), "--profile", "device"],
      {
        DPKI_TOKEN: token,
      },
    );
    expect(withOtp.status, withOtp.stderr).toBe(0);
    expect(withOtp.stdout).toContain("BEGIN CERTIFICATE");
  });
});
