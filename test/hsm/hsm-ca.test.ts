/**
 * A CA whose keys live in a SoftHSM2 token, driven through the `dpki` binary: init, issue,
 * CRL, renew, rotate and revoke, each result checked by openssl; pkcs11-tool shows the keys
 * private, sensitive and never extractable, and cannot read them out. Bad token settings are
 * configuration errors (exit 78) that never show the PIN.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { haveSoftHsm, listedObjects, pkcs11Tool, softHsmToken, SOFTHSM_MODULE, type TestToken } from "../helpers/softhsm.js";
import { tempDir } from "../helpers/temp-dir.js";

describe.skipIf(!haveSoftHsm)("CA keys in a PKCS#11 token (SoftHSM2)", () => {
  let token: TestToken;
  let work: string;
  let env: Record<string, string>;
  let meterSerial = "";
  const file = (name: string) => join(work, name);
  const run = (args: string[], extra: Record<string, string | undefined> = {}) => dpki(args, { env: { ...env, ...extra }, cwd: work });
  const ok = (...args: string[]) => {
    const r = run(args);
    expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const json = (...args: string[]) => JSON.parse(ok(...args, "--json"));
  const tokenInit = (dataDir: string, ...more: string[]) => [
    "init",
    "--data-dir",
    dataDir,
    "--key-provider",
    "pkcs11",
    "--pkcs11-module",
    SOFTHSM_MODULE,
    "--token-label",
    token.label,
    "--pin-file",
    token.pinFile,
    ...more,
  ];
  const privateKeys = () =>
    listedObjects(pkcs11Tool(token, ["--login", "--pin", token.pin, "--list-objects"]).stdout).filter((o) => o.kind === "Private Key");
  const verifyChain = (leaf: string, chain = file("chain.pem"), extra: string[] = []) => {
    const r = openssl(["verify", ...extra, "-CAfile", file("root.pem"), "-untrusted", chain, leaf]);
    expect(r.stdout + r.stderr).toContain(`${leaf}: OK`);
  };

  beforeAll(() => {
    token = softHsmToken("dpki-ca");
    work = tempDir();
    env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "hsm ca test", ...token.env };
  });

  it("refuses a wrong PIN at init before creating anything (exit 78), without echoing it", () => {
    const r = run(tokenInit(join(work, "never")), { DPKI_PKCS11_PIN: "wrong-4711-pin" });
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/Cannot log in to PKCS#11 token "dpki-ca": wrong PIN \(CKR_PIN_INCORRECT\)/);
    expect(r.stderr + r.stdout).not.toContain("wrong-4711-pin");
    expect(existsSync(join(work, "never"))).toBe(false);
  });

  it("makes both CA keys in the token: private, sensitive, never extractable, sign only; config.json names the token, not the PIN", () => {
    ok(...tokenInit(env.DPKI_HOME!));
    const configText = readFileSync(join(env.DPKI_HOME!, "config.json"), "utf8");
    expect(JSON.parse(configText)).toMatchObject({
      keyProvider: "pkcs11",
      pkcs11: { module: SOFTHSM_MODULE, tokenLabel: "dpki-ca", pinFile: token.pinFile },
    });
    expect(configText).not.toContain(token.pin);
    expect(readdirSync(join(env.DPKI_HOME!, "keys")).filter((f) => f.endsWith(".key.pem"))).toEqual([]);

    // Without a login the private keys are not even listed.
    expect(listedObjects(pkcs11Tool(token, ["--list-objects"]).stdout).filter((o) => o.kind === "Private Key")).toEqual([]);
    const keys = privateKeys();
    expect(keys.map((k) => k.label.replace(/-[0-9a-f]{8}$/, "")).sort()).toEqual(["dpki-intermediate", "dpki-root"]);
    for (const key of keys) {
      expect(key.access).toContain("sensitive");
      expect(key.access).toContain("always sensitive");
      expect(key.access).toContain("never extractable");
      expect(key.usage).toBe("sign");
      // pkcs11-tool asks for the key; nothing comes out (the token's refusal is tested in ca/pkcs11-key-provider.test.ts).
      const out = file(`${key.label}.der`);
      const read = pkcs11Tool(token, [
        "--login",
        "--pin",
        token.pin,
        "--read-object",
        "--type",
        "privkey",
        "--label",
        key.label,
        "--output-file",
        out,
      ]);
      expect(read.stdout + read.stderr).toMatch(/not \(yet\) supported|error|fail/i);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("issues certificates openssl verifies, and signs CRLs openssl verifies, with the revocation in them", () => {
    const csr = opensslCsr(work, "meter-1", { subject: "/CN=meter-1" });
    const issued = JSON.parse(ok("cert", "issue", "--csr", csr, "--profile", "device", "--chain", "--out", file("meter-1.pem"), "--json"));
    ok("ca", "root", "--out", file("root.pem"));
    writeFileSync(
      file("chain.pem"),
      pemBlocks(readFileSync(file("meter-1.pem"), "utf8"))
        .slice(1)
        .join(""),
    );
    verifyChain(file("meter-1.pem"));

    const doomed = opensslCsr(work, "meter-2", { subject: "/CN=meter-2" });
    const second = json("cert", "issue", "--csr", doomed, "--profile", "device", "--out", file("meter-2.pem"));
    ok("cert", "revoke", second.serial, "--reason", "keyCompromise");
    ok("crl", "--all", "--out", work);
    const crls = readdirSync(work).filter((f) => f.endsWith(".crl.pem"));
    expect(crls).toHaveLength(2); // the root's ARL and the issuer's CRL
    writeFileSync(file("cas.pem"), readFileSync(file("root.pem"), "utf8") + readFileSync(file("chain.pem"), "utf8"));
    for (const crl of crls) {
      const v = openssl(["crl", "-in", file(crl), "-noout", "-verify", "-CAfile", file("cas.pem")]);
      expect(v.stdout + v.stderr).toContain("verify OK");
    }
    writeFileSync(file("crls.pem"), crls.map((c) => readFileSync(file(c), "utf8")).join(""));
    verifyChain(file("meter-1.pem"), file("chain.pem"), ["-crl_check_all", "-CRLfile", file("crls.pem")]);
    const refused = openssl([
      "verify",
      "-crl_check_all",
      "-CRLfile",
      file("crls.pem"),
      "-CAfile",
      file("root.pem"),
      "-untrusted",
      file("chain.pem"),
      file("meter-2.pem"),
    ]);
    expect(refused.stdout + refused.stderr).toContain("certificate revoked");
    meterSerial = issued.serial;
  });

  it("renews, and rotates to a new intermediate whose key is made in the token; the root signs its ARL there", () => {
    const renewCsr = opensslCsr(work, "meter-1b", { subject: "/CN=meter-1" });
    ok("cert", "renew", meterSerial, "--csr", renewCsr, "--out", file("meter-1b.pem"));
    verifyChain(file("meter-1b.pem"));

    const before = privateKeys().length;
    const rotation = json("ca", "rotate");
    expect(privateKeys().length).toBe(before + 1);
    ok("ca", "chain", "--out", file("chain2.pem"));
    const csr = opensslCsr(work, "meter-3", { subject: "/CN=meter-3" });
    ok("cert", "issue", "--csr", csr, "--profile", "device", "--out", file("meter-3.pem"));
    verifyChain(file("meter-3.pem"), file("chain2.pem"));

    ok("ca", "revoke", rotation.previous.id, "--reason", "superseded", "--yes");
    const rootId = json("ca", "list").find((c: { kind: string }) => c.kind === "root").id;
    ok("crl", "--ca", rootId, "--out", file("arl.pem"));
    const arl = openssl(["crl", "-in", file("arl.pem"), "-noout", "-text", "-verify", "-CAfile", file("root.pem")]);
    expect(arl.stdout + arl.stderr).toContain("verify OK");
    expect(arl.stdout).toMatch(/Revoked Certificates:/);
  });

  it("a wrong PIN, an unknown token or module, or a PIN in config.json: exit 78 naming the problem, never the PIN", () => {
    const configFile = join(env.DPKI_HOME!, "config.json");
    const config = JSON.parse(readFileSync(configFile, "utf8"));
    const csr = opensslCsr(work, "meter-4", { subject: "/CN=meter-4" });
    const issue = (extra: Record<string, string> = {}) => run(["cert", "issue", "--csr", csr, "--profile", "device"], extra);

    const wrong = issue({ DPKI_PKCS11_PIN: "9-wrong-pin-9" });
    expect(wrong.status).toBe(78);
    expect(wrong.stderr).toMatch(/wrong PIN/);
    expect(wrong.stderr).not.toContain("9-wrong-pin-9");

    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...config.pkcs11, tokenLabel: "no-such-token" }, /No PKCS#11 token labelled "no-such-token"/],
      [{ ...config.pkcs11, module: join(work, "missing-module.so") }, /Cannot load PKCS#11 module .*missing-module\.so: no such file/],
      [{ ...config.pkcs11, pinFile: join(work, "no-pin-file") }, /Cannot read the PIN file/],
      [{ ...config.pkcs11, pin: token.pin }, /must not hold the PIN/],
    ];
    try {
      for (const [pkcs11, message] of cases) {
        writeFileSync(configFile, JSON.stringify({ ...config, pkcs11 }));
        const r = issue();
        expect(r.status, r.stderr).toBe(78);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toContain(token.pin);
      }
    } finally {
      writeFileSync(configFile, JSON.stringify(config));
    }
    expect(issue().status).toBe(0);
  });

  it("mixes key homes: the root key in a file, the issuing key in the token (RSA-2048)", () => {
    const home = join(work, "mixed");
    const before = privateKeys().length;
    ok(...tokenInit(home, "--root-key-provider", "software", "--algorithm", "RSA-2048"));
    expect(readdirSync(join(home, "keys")).filter((f) => f.endsWith(".key.pem"))).toEqual([expect.stringMatching(/^root-/)]);
    expect(privateKeys().length).toBe(before + 1);
    const csr = opensslCsr(work, "rsa-dev", { subject: "/CN=rsa-dev" });
    ok("cert", "issue", "--data-dir", home, "--csr", csr, "--profile", "device", "--chain", "--out", file("rsa-dev.pem"));
    ok("ca", "root", "--data-dir", home, "--out", file("rsa-root.pem"));
    writeFileSync(
      file("rsa-chain.pem"),
      pemBlocks(readFileSync(file("rsa-dev.pem"), "utf8"))
        .slice(1)
        .join(""),
    );
    const v = openssl(["verify", "-CAfile", file("rsa-root.pem"), "-untrusted", file("rsa-chain.pem"), file("rsa-dev.pem")]);
    expect(v.stdout + v.stderr).toContain("OK");
    expect(openssl(["x509", "-in", file("rsa-dev.pem"), "-noout", "-text"]).stdout).toContain("sha256WithRSAEncryption");
  });
});
