/**
 * The README's "Offline root" walkthrough, command for command: the block after the
 * `offline-root-walkthrough` marker runs in bash exactly as printed (a `dpki` on PATH, a
 * throwaway SoftHSM2 config). Then: the data directory holds no trace of the root key, the key
 * file opens with the root passphrase and is the root's, the issuing keys are in the token,
 * openssl verifies a new leaf with every CRL (the root's signed offline), and the CRL ceremony
 * publishes a later intermediate revocation.
 */
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { haveSoftHsm, listedObjects, pkcs11Tool, softHsmToken } from "../helpers/softhsm.js";
import { tempDir } from "../helpers/temp-dir.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "dpki.js");

/** The first ```sh block after the marker comment in README.md. */
function walkthrough(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("<!-- offline-root-walkthrough -->");
  if (start < 0) throw new Error("README.md has no offline-root-walkthrough block");
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!block) throw new Error("no sh block after the offline-root-walkthrough marker");
  return block[1]!;
}

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe.skipIf(!haveSoftHsm)("README: the offline-root ceremony", () => {
  const work = tempDir();
  // The walkthrough makes its own token; a config pointing at an empty token directory is all it needs.
  const token = softHsmToken("unused");
  const env = {
    ...token.env,
    DPKI_HOME: join(work, "ca"),
    DPKI_PASSPHRASE: "online service passphrase",
    DPKI_ROOT_PASSPHRASE: "the root key's own passphrase",
  };
  const bin = join(work, "bin");
  const run = (script: string) =>
    spawnSync("bash", ["-euo", "pipefail", "-c", script], {
      cwd: work,
      env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}` },
      encoding: "utf8",
    });
  const ok = (...args: string[]) => {
    const r = dpki(args, { env, cwd: work });
    expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const tokenKeys = () =>
    listedObjects(pkcs11Tool({ ...token, label: "dpki-issuing", pin: "4711" }, ["--login", "--pin", "4711", "--list-objects"]).stdout);
  let script: string;
  let transcript: ReturnType<typeof run>;

  beforeAll(() => {
    mkdirSync(bin);
    writeFileSync(join(bin, "dpki"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, "dpki"), 0o755);
    script = walkthrough();
    transcript = run(script);
    // A dozen dpki runs, two of them deriving keys from passphrases: allow for a slow, shared machine.
  }, 180_000);

  it("runs the README's commands as printed", () => {
    expect(transcript.status, transcript.stdout + transcript.stderr).toBe(0);
    expect(transcript.stdout).toContain("exit 69");
    expect(transcript.stderr).toMatch(/The key of root root-[0-9a-f]{8} is offline: .*dpki ca request-intermediate/);
    expect(script).toMatch(/dpki init .*--offline-root/);
  });

  it("leaves no trace of the root key in the data directory; the key file is the root's, under the root passphrase", () => {
    const pem = readFileSync(join(work, "usb", "root-key.pem"), "utf8");
    expect(statSync(join(work, "usb", "root-key.pem")).mode & 0o777).toBe(0o600);
    expect(() => createPrivateKey({ key: pem, format: "pem", passphrase: env.DPKI_PASSPHRASE })).toThrow();
    const key = createPrivateKey({ key: pem, format: "pem", passphrase: env.DPKI_ROOT_PASSPHRASE });
    const root = new X509Certificate(pemBlocks(readFileSync(join(work, "root.pem"), "utf8"))[0]!);
    expect(
      createPublicKey(key)
        .export({ format: "der", type: "spki" })
        .equals(root.publicKey.export({ format: "der", type: "spki" })),
    ).toBe(true);
    // A standard tool opens it too: the operator is not tied to dpki to use or re-wrap the key.
    expect(
      openssl(["pkey", "-in", join(work, "usb", "root-key.pem"), "-passin", `pass:${env.DPKI_ROOT_PASSPHRASE}`, "-noout"]).status,
    ).toBe(0);
    // The private scalar appears in no file of the data directory, in no encoding dpki uses.
    const d = Buffer.from(key.export({ format: "jwk" }).d!, "base64url");
    const pkcs8 = key.export({ format: "der", type: "pkcs8" });
    for (const file of filesUnder(env.DPKI_HOME)) {
      const bytes = readFileSync(file);
      expect(bytes.includes(d), file).toBe(false);
      expect(bytes.includes(pkcs8), file).toBe(false);
    }
    expect(readdirSync(join(env.DPKI_HOME, "keys")).filter((f) => f.startsWith("root"))).toEqual([]);
    // Both issuing keys live in the token; the root's does not.
    const labels = tokenKeys()
      .filter((o) => o.kind === "Private Key")
      .map((o) => o.label.replace(/-[0-9a-f]{8}$/, ""));
    expect(labels).toEqual(["dpki-intermediate", "dpki-intermediate"]);
  });

  it("had the offline root certify the log key at init, while its key was here; no later checkpoint needs it", () => {
    const checkpoint = JSON.parse(ok("audit", "checkpoint", "--json")) as {
      keyCertificates: Array<{ rootId: string; certificate: string }>;
    };
    const roots = (JSON.parse(ok("ca", "status", "--json")) as Array<{ id: string; kind: string }>).filter((c) => c.kind === "root");
    expect(checkpoint.keyCertificates.map((k) => k.rootId)).toEqual([roots[0]!.id]);
    writeFileSync(join(work, "log-key.pem"), checkpoint.keyCertificates[0]!.certificate);
    ok("ca", "root", "--out", join(work, "roots-now.pem"));
    expect(openssl(["verify", "-CAfile", join(work, "roots-now.pem"), join(work, "log-key.pem")]).stdout).toContain(": OK");
  });

  it("issues under the imported intermediate, and openssl checks the chain against every CRL, the root's signed offline", () => {
    const status = JSON.parse(ok("ca", "status", "--json")) as Array<{ id: string; kind: string; state: string }>;
    // The first intermediate issued nothing, so after the import it is retired outright.
    expect(
      status
        .filter((c) => c.kind === "intermediate")
        .map((c) => c.state)
        .sort(),
    ).toEqual(["active", "retired"]);
    const csr = opensslCsr(work, "meter-1", { subject: "/CN=meter-1" });
    ok("cert", "issue", "--csr", csr, "--profile", "device", "--chain", "--out", join(work, "meter-1.pem"));
    writeFileSync(
      join(work, "chain.pem"),
      pemBlocks(readFileSync(join(work, "meter-1.pem"), "utf8"))
        .slice(1)
        .join(""),
    );
    mkdirSync(join(work, "crls"));
    ok("crl", "--all", "--out", join(work, "crls"));
    const crls = readdirSync(join(work, "crls")).map((f) => readFileSync(join(work, "crls", f), "utf8"));
    writeFileSync(join(work, "crls.pem"), crls.join(""));
    const v = openssl([
      "verify",
      "-crl_check_all",
      "-CRLfile",
      join(work, "crls.pem"),
      "-CAfile",
      join(work, "root.pem"),
      "-untrusted",
      join(work, "chain.pem"),
      join(work, "meter-1.pem"),
    ]);
    expect(v.stdout + v.stderr).toContain("meter-1.pem: OK");
  });

  it("publishes a later intermediate revocation through the README's CRL ceremony", () => {
    const status = JSON.parse(ok("ca", "status", "--json")) as Array<{
      id: string;
      kind: string;
      state: string;
      serial: string;
      parentId: string;
    }>;
    const old = status.find((c) => c.kind === "intermediate" && c.state !== "active")!;
    ok("ca", "revoke", old.id, "--reason", "superseded", "--yes");
    const crlSteps = script
      .split("\n")
      .filter((line) => /^dpki ca (request|sign|import)-crl /.test(line))
      .join("\n");
    expect(crlSteps.split("\n")).toHaveLength(3);
    const again = run(`rm -f usb/crl-request.json usb/root-crl.pem\n${crlSteps}`);
    expect(again.status, again.stderr).toBe(0);
    const arl = openssl(["crl", "-in", join(work, "usb", "root-crl.pem"), "-noout", "-text", "-verify", "-CAfile", join(work, "root.pem")]);
    expect(arl.stdout + arl.stderr).toContain("verify OK");
    expect(arl.stdout.replace(/:/g, "").toLowerCase()).toContain(old.serial.toLowerCase());
    const served = ok("crl", "--ca", old.parentId);
    expect(served).toBe(readFileSync(join(work, "usb", "root-crl.pem"), "utf8"));
  });

  it("rolls over to a new offline root, cross-signed by the old one, as the README's new-root commands do", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const block = /\*\*A new offline root\*\*[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const steps = run(`rm -f usb/request.json usb/signed.json\n${block}`);
    expect(steps.status, steps.stdout + steps.stderr).toBe(0);
    const roots = pemBlocks(readFileSync(join(work, "root.pem"), "utf8"));
    expect(roots).toHaveLength(2);
    writeFileSync(join(work, "new-root.pem"), roots[0]!);
    writeFileSync(join(work, "old-root.pem"), roots[1]!);
    const newKey = createPrivateKey({
      key: readFileSync(join(work, "usb", "root-2-key.pem"), "utf8"),
      passphrase: env.DPKI_ROOT_PASSPHRASE,
    });
    expect(
      createPublicKey(newKey)
        .export({ format: "der", type: "spki" })
        .equals(new X509Certificate(roots[0]!).publicKey.export({ format: "der", type: "spki" })),
    ).toBe(true);
    const csr = opensslCsr(work, "meter-2", { subject: "/CN=meter-2" });
    ok("cert", "issue", "--csr", csr, "--profile", "device", "--chain", "--out", join(work, "meter-2.pem"));
    writeFileSync(
      join(work, "chain-2.pem"),
      pemBlocks(readFileSync(join(work, "meter-2.pem"), "utf8"))
        .slice(1)
        .join(""),
    );
    // A device holding only the old root reaches the new issuer through the cross certificate; one holding only the new root directly.
    for (const anchor of ["old-root.pem", "new-root.pem"]) {
      const v = openssl(["verify", "-CAfile", join(work, anchor), "-untrusted", join(work, "chain-2.pem"), join(work, "meter-2.pem")]);
      expect(v.stdout + v.stderr, anchor).toContain("meter-2.pem: OK");
    }
    const status = JSON.parse(ok("ca", "status", "--json")) as Array<{ kind: string; state: string }>;
    expect(status.filter((c) => c.kind === "root").map((c) => c.state)).toEqual(["active", "active"]);
  });
});
