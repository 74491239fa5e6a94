import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:net";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

const work = tempDir();
const home = join(work, "ca");
const PASS = "correct horse battery staple";
const env = { DPKI_HOME: home, DPKI_PASSPHRASE: PASS, DPKI_SERVER: undefined };
const run = (args: string[], extra: Record<string, string | undefined> = {}, input?: string) =>
  dpki(args, { env: { ...env, ...extra }, input });

beforeAll(() => initDataDir(home, { passphrase: PASS, org: "Acme" }));

describe("a data directory that is not there", () => {
  for (const args of [
    ["cert", "list"],
    ["audit", "verify"],
    ["token", "list"],
    ["serve", "--port", "0"],
    ["dps", "serve", "--port", "0"],
  ]) {
    it(`${args.join(" ")} exits 66 naming the path and creates nothing`, () => {
      const missing = join(work, "typo");
      const r = run(["--data-dir", missing, ...args]);
      expect(r.status).toBe(66);
      expect(r.stderr).toContain(`No dpki data directory at ${missing}`);
      expect(existsSync(missing)).toBe(false);
    });
  }

  it("an existing but empty DPKI_HOME is refused the same way", () => {
    const empty = join(work, "empty");
    mkdirSync(empty);
    const r = run(["cert", "list"], { DPKI_HOME: empty });
    expect(r.status).toBe(66);
    expect(r.stderr).toContain(empty);
    expect(existsSync(join(empty, "dpki.db"))).toBe(false);
  });
});

describe("a port already in use", () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    port = (busy.address() as { port: number }).port;
    return () => new Promise<void>((r) => busy.close(() => r()));
  });

  for (const args of [["serve"], ["dps", "serve", "--host", "127.0.0.1"], ["quickstart", "--dps-port", "0"]]) {
    it(`${args[0]}${args[1] === "serve" ? " serve" : ""} names the address and exits 69`, () => {
      const r = run([...args, "--port", String(port)]);
      expect(r.stderr).toContain(`Address 127.0.0.1:${port} is already in use`);
      expect(r.status).toBe(69);
    });
  }

  it("quickstart names the device port too, and does not stay up on the API port", () => {
    const r = run(["quickstart", "--port", "0", "--dps-port", String(port)]);
    expect(r.stderr).toContain(`Address 127.0.0.1:${port} is already in use`);
    expect(r.status).toBe(69);
  });
});

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/** Runs dpki with its standard output closed by the reader at once, as `| head` does. */
function intoClosedPipe(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => done({ status, stderr }));
  });
}

describe("a reader that stops early", () => {
  for (const args of [["--help"], ["cert", "list"], ["ca", "list"]]) {
    it(`dpki ${args.join(" ")} | head exits quietly`, async () => {
      const r = await intoClosedPipe(args);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  }
});

describe("dpki --version", () => {
  it("prints the package version", () => {
    const version = (JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string })
      .version;
    const r = run(["--version"]);
    expect(r.stdout.trim()).toBe(version);
    expect(r.status).toBe(0);
  });
});

describe("dpki ca revoke", () => {
  it("requires --yes without a terminal, refuses the active issuer with 75, and revokes a retired one", () => {
    expect(run(["ca", "rotate"]).status).toBe(0);
    const status = () => JSON.parse(run(["ca", "status", "--json"]).stdout) as { id: string; kind: string; state: string }[];
    const intermediates = status().filter((c) => c.kind === "intermediate");
    const active = intermediates.find((c) => c.state === "active")!;
    const old = intermediates.find((c) => c.state !== "active")!;

    const unconfirmed = run(["ca", "revoke", old.id]);
    expect(unconfirmed.stderr).toMatch(/not confirmed.*pass --yes/);
    expect(unconfirmed.status).toBe(64);
    expect(status().find((c) => c.id === old.id)!.state).toBe(old.state);

    const activeRevoke = run(["ca", "revoke", active.id, "--yes"]);
    expect(activeRevoke.stderr).toMatch(/is the active issuer/);
    expect(activeRevoke.status).toBe(75);

    const revoked = run(["ca", "revoke", old.id, "--yes"]);
    expect(revoked.stderr).toBe("");
    expect(revoked.status).toBe(0);
    expect(status().find((c) => c.id === old.id)!.state).toBe("revoked");
  });

  it("the README's exit-code table lists every exit code the CLI can return", async () => {
    const { ERROR_TABLE } = await import("../../src/errors.js");
    const readme = readFileSync(resolve(import.meta.dirname, "..", "..", "README.md"), "utf8");
    const table = readme.match(/Exit codes \(sysexits\):[\s\S]*?\n\n/)![0];
    for (const code of new Set([0, 64, ...Object.values(ERROR_TABLE).map((e) => e.exit)])) expect(table).toContain(`\`${code}\``);
  });
});

describe("options a command would ignore", () => {
  for (const args of [
    ["init", "--dev", "--server", "https://pki.example"],
    ["serve", "--token", "t"],
    ["dps", "serve", "--ca-file", "x.pem"],
  ]) {
    it(`${args.join(" ")} is a usage error that changes nothing`, () => {
      const fresh = join(work, `ignored-${args[0]}-${args[1]}`);
      const r = run(["--data-dir", fresh, ...args]);
      expect(r.stderr).toMatch(/^dpki: Option --(server|token|ca-file) does not apply to `dpki (init|serve|dps serve)`/);
      expect(r.status).toBe(64);
      expect(existsSync(fresh)).toBe(false);
    });
  }
});

/** Starts a long-running dpki command, returns its stderr up to the end of the banner, then stops it. */
function banner(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise<string>((done, fail) => {
    let text = "";
    child.stderr.on("data", (d) => {
      text += d;
      if (text.includes("stop:")) done(text);
    });
    child.once("exit", () => fail(new Error(text)));
  }).finally(async () => {
    child.kill("SIGTERM");
    if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
  });
}

describe("dps serve banner", () => {
  it("names a provisioning host the listener certificate covers", async () => {
    const text = await banner(["dps", "serve", "--host", "127.0.0.1", "--port", "0", "--name", "localhost"]);
    expect(text).toMatch(/provisioningHost = localhost,/);
    expect(text).toMatch(/listening on https:\/\/localhost:\d+/);
  });
});

describe("dpki sas", () => {
  it("mints a DPS token for a group device as the README writes it, and says to add --group when it cannot know the group", () => {
    expect(run(["scope", "add", "0ne00C11A"]).status).toBe(0);
    expect(run(["group", "add", "sensors", "--primary-key", "c2Vuc29ycy1wcmltYXJ5LWtleS0xMjM0NTY3OA=="]).status).toBe(0);
    const without = run(["sas", "mint", "--dps", "--registration-id", "sensor-0042"]);
    expect(without.stderr).toMatch(/name the group \(CLI --group/);
    expect(without.status).toBe(66);
    const minted = run(["sas", "mint", "--dps", "--registration-id", "sensor-0042", "--group", "sensors"]);
    expect(minted.stderr).toBe("");
    expect(minted.status).toBe(0);
    expect(minted.stdout).toMatch(/^SharedAccessSignature sr=0ne00C11A\/registrations\/sensor-0042&sig=.+&skn=registration/);
  });

  it("sas verify given a PEM private key says it is not a base64 symmetric key", () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    const token = "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc&se=9999999999";
    const r = run(["sas", "verify", token, "--key", pem, "--resource", "h/devices/d"]);
    expect(r.stderr).toMatch(/not a base64 symmetric key/);
    expect(r.status).toBe(64);
  });
});

describe("dpki token create --role hub", () => {
  it("refuses a hub that does not exist, creating nothing", () => {
    const before = JSON.parse(run(["token", "list", "--json"]).stdout).length;
    const r = run(["token", "create", "--role", "hub", "--hub", "no-such-hub"]);
    expect(r.stderr).toMatch(/No hub no-such-hub/);
    expect(r.status).toBe(66);
    expect(JSON.parse(run(["token", "list", "--json"]).stdout)).toHaveLength(before);
  });
});

describe("control characters in stored text", () => {
  it("are escaped in tables and plain text, and exact under --json", () => {
    const description = "fleet\u001b[2J\rFAKE ROW\u202e";
    const added = run(["scope", "add", "0ne00C7RL", "--description", description]);
    expect(added.status).toBe(0);
    expect(added.stdout).not.toMatch(/[\u001b\r\u202e]/);
    const table = run(["scope", "list"]);
    expect(table.status).toBe(0);
    expect(table.stdout).not.toMatch(/[\u001b\r\u202e]/);
    expect(table.stdout).toContain("fleet\\x1b[2J\\rFAKE ROW\\u{202e}");
    const json = JSON.parse(run(["scope", "list", "--json"]).stdout) as { idScope: string; description: string }[];
    expect(json.find((s) => s.idScope === "0ne00C7RL")!.description).toBe(description);
  });
});
