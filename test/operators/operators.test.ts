import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpkiAsync } from "../helpers/cli.js";
import { initDataDir } from "../helpers/data-dir.js";
import { api, startNode, type ServeNode } from "../helpers/nodes.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr } from "../http/harness.js";

/**
 * Operators end to end: added and given tokens with the CLI, then a real `dpki serve` where a
 * certificate issued with the operator's token names them in its record, `cert show` and the
 * log; disabling the operator (over the API, with the CLI) stops all their tokens at once.
 */
const work = tempDir("dpki-operators-");
const home = join(work, "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "operators test" };
let node: ServeNode;
let admin: string;
let alice: string;
let alice2: string;

const cli = (args: string[], extra: Record<string, string> = {}) => dpkiAsync(args, { env: { ...env, ...extra } });
const remote = (token: string, args: string[]) => cli(["--server", node.api, ...args], { DPKI_TOKEN: token });

beforeAll(async () => {
  mkdirSync(home, { recursive: true });
  await initDataDir(home, { passphrase: env.DPKI_PASSPHRASE });
  expect((await cli(["operator", "add", "alice"])).status).toBe(0);
  admin = (await cli(["token", "create", "--role", "admin", "--name", "root"])).stdout.trim();
  const a = await cli(["token", "create", "--role", "operator", "--operator", "alice", "--name", "alice-laptop"]);
  expect(a.status, a.stderr).toBe(0);
  alice = a.stdout.trim();
  alice2 = (await cli(["token", "create", "--role", "factory", "--operator", "alice", "--profiles", "device"])).stdout.trim();
  writeFileSync(join(work, "dev.csr"), await makeCsr("dev-op-1"));
  node = await startNode(env);
});

afterAll(async () => {
  await node?.stop();
});

describe("operators", () => {
  it("refuses a bad name, an unknown operator and a second add, changing nothing", async () => {
    const bad = await cli(["operator", "add", "not a name"]);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/Operator name "not a name" must be 1-64 characters/);
    const unknown = await cli(["token", "create", "--role", "operator", "--operator", "nobody"]);
    expect(unknown.status).toBe(66);
    expect(unknown.stderr).toMatch(/No operator named "nobody"/);
    const again = await remote(admin, ["operator", "add", "alice"]);
    expect(again.status).toBe(73);
    expect(again.stderr).toMatch(/already exists/);
    const problem = await api(node, "POST", "/v1/operators", admin, { name: "x y" });
    expect(problem.status).toBe(400);
  });

  it("names the operator in the certificate record, cert show and the log", async () => {
    const issued = await remote(alice, ["cert", "issue", "--csr", join(work, "dev.csr"), "--profile", "device", "--json"]);
    expect(issued.status, issued.stderr).toBe(0);
    const serial = (JSON.parse(issued.stdout).certificate ?? JSON.parse(issued.stdout)).serial as string;
    const shown = await remote(alice, ["cert", "show", serial]);
    expect(shown.stdout).toMatch(/requester:\s+operator:alice/);
    const log = await remote(admin, ["audit", "log", "--serial", serial, "--json"]);
    const entries = JSON.parse(log.stdout).items as Array<{ actor: string; action: string }>;
    expect(entries.find((e) => e.action === "cert.issue")?.actor).toBe("operator:alice");
    const list = await api(node, "GET", "/v1/operators", admin);
    expect(list.json).toMatchObject([{ name: "alice", status: "active", activeTokens: 2 }]);
  });

  it("disabling an operator revokes all their tokens at once, with one entry; no new token for them", async () => {
    const before = await api(node, "GET", "/v1/certificates", alice);
    expect(before.status).toBe(200);
    const disabled = await remote(admin, ["operator", "disable", "alice", "--json"]);
    expect(disabled.status, disabled.stderr).toBe(0);
    const view = JSON.parse(disabled.stdout);
    expect(view).toMatchObject({ name: "alice", status: "disabled", disabledBy: "token:root" });
    expect(view.revokedTokens).toHaveLength(2);
    for (const token of [alice, alice2]) {
      const after = await api(node, "GET", "/v1/certificates", token);
      expect(after.status).toBe(401);
      expect(after.json.detail).toMatch(/revoked/);
    }
    const log = await api(node, "GET", "/v1/audit?action=operator.disable", admin);
    const entry = log.json.items.find((e: { action: string }) => e.action === "operator.disable");
    expect(entry).toMatchObject({ actor: "token:root", subject: "operator:alice" });
    expect(entry.details.revokedTokens.sort()).toEqual([...view.revokedTokens].sort());
    const twice = await api(node, "POST", "/v1/operators/alice/disable", admin);
    expect(twice.status).toBe(409);
    const mint = await remote(admin, ["token", "create", "--role", "operator", "--operator", "alice"]);
    expect(mint.status).toBe(75);
    expect(mint.stderr).toMatch(/Operator alice is disabled/);
    const tokens = await remote(admin, ["token", "list"]);
    expect(tokens.stdout).toMatch(/alice-laptop\s+operator\s+revoked\s+operator=alice/);
  });

  it("keeps operators away from scoped tokens", async () => {
    const scoped = (await cli(["token", "create", "--role", "admin", "--scope", "0ne00000001"])).stdout.trim();
    const res = await api(node, "GET", "/v1/operators", scoped);
    expect(res.status).toBe(403);
  });
});
