import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./temp-dir.js";

/** Debian's softhsm2 package puts its module here; `.ci/run` installs softhsm2 and opensc. */
export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

/** SoftHSM2, its init tool and OpenSC's pkcs11-tool are all present. */
export const haveSoftHsm =
  existsSync(SOFTHSM_MODULE) &&
  spawnSync("softhsm2-util", ["--version"]).status === 0 &&
  spawnSync("pkcs11-tool", ["--module", SOFTHSM_MODULE, "--show-info"]).status === 0;

export interface TestToken {
  /** Environment that points SoftHSM2 at this token's directory. */
  env: { SOFTHSM2_CONF: string };
  label: string;
  pin: string;
  soPin: string;
  /** A 0600 file holding the PIN. */
  pinFile: string;
  dir: string;
}

/**
 * A throwaway SoftHSM2 token in its own directory: a config file naming a token directory under
 * a temp dir, then `softhsm2-util --init-token`. Several tokens (each its own config) never meet.
 */
export function softHsmToken(label = "dpki-test"): TestToken {
  const dir = tempDir("dpki-hsm-");
  const tokens = join(dir, "tokens");
  mkdirSync(tokens);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const token: TestToken = {
    env: { SOFTHSM2_CONF: conf },
    label,
    pin: "ha7-Pin-93",
    soPin: "so-Pin-1029384756",
    pinFile: join(dir, "token.pin"),
    dir,
  };
  const r = spawnSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", token.soPin, "--pin", token.pin], {
    env: { ...process.env, ...token.env },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr}`);
  writeFileSync(token.pinFile, `${token.pin}\n`, { mode: 0o600 });
  return token;
}

/** OpenSC's pkcs11-tool on the token's module and token. */
export function pkcs11Tool(token: TestToken, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("pkcs11-tool", ["--module", SOFTHSM_MODULE, "--token-label", token.label, ...args], {
    env: { ...process.env, ...token.env },
    encoding: "utf8",
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The key objects pkcs11-tool lists, one block per object. */
export function listedObjects(output: string): Array<{ kind: string; label: string; access: string; usage: string }> {
  return output
    .split(/\n(?=\S)/)
    .filter((block) => /Key Object/.test(block))
    .map((block) => ({
      kind: /^(\w+ Key) Object/.exec(block)?.[1] ?? "",
      label: /label:\s+(.*)/.exec(block)?.[1]?.trim() ?? "",
      access: /Access:\s+(.*)/.exec(block)?.[1]?.trim() ?? "",
      usage: /Usage:\s+(.*)/.exec(block)?.[1]?.trim() ?? "",
    }));
}
