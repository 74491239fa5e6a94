import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dpkiAsync } from "../helpers/cli.js";
import { initDataDir } from "../helpers/data-dir.js";
import { tempDir } from "../helpers/temp-dir.js";

/** Destructive operations ask first; without a terminal only --yes lets them through, and a refusal changes nothing. */
const home = join(tempDir("dpki-confirm-"), "ca");
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: "confirm test" };
const cli = (...args: string[]) => dpkiAsync(args, { env });

beforeAll(async () => {
  mkdirSync(home, { recursive: true });
  await initDataDir(home, { passphrase: env.DPKI_PASSPHRASE });
  for (const args of [
    ["scope", "add", "0ne00ACME1"],
    ["hub", "add", "eu-1", "--host-name", "eu-1.example.net", "--scope", "0ne00ACME1"],
    ["group", "add", "sensors", "--allow-id", "sensor-*", "--hub", "eu-1", "--scope", "0ne00ACME1"],
  ]) {
    const r = await cli(...args);
    expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  }
});

describe("confirmation of destructive operations", () => {
  it("group revoke and root rotation need --yes without a terminal, changing nothing", async () => {
    const before = (await cli("audit", "log", "--json")).stdout;
    const group = await cli("group", "revoke", "sensors", "--scope", "0ne00ACME1");
    expect(group.status).toBe(64);
    expect(group.stderr).toMatch(/not confirmed \(no terminal to ask on\): pass --yes/);
    const root = await cli("ca", "rotate", "--new-root");
    expect(root.status).toBe(64);
    expect(root.stderr).toMatch(/not confirmed .*pass --yes/);
    expect((await cli("audit", "log", "--json")).stdout).toBe(before);
    const yes = await cli("group", "revoke", "sensors", "--scope", "0ne00ACME1", "--yes");
    expect(yes.status, yes.stderr).toBe(0);
    expect(yes.stdout).toMatch(/Revoked enrollment group sensors/);
  });
});
