import { expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dpki } from "../helpers/cli.js";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";

const work = tempDir();
const env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "arl" };
const ok = (...args: string[]) => {
  const r = dpki(args, { env, cwd: work });
  expect(r.status, `dpki ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const file = (name: string) => join(work, name);

interface CaState {
  id: string;
  kind: "root" | "intermediate";
  parentId: string | null;
  state: string;
}

/** Each certificate of a PEM bundle in its own file, keyed by the subject's CN. */
function splitBundle(pemFile: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, pem] of (
    readFileSync(pemFile, "utf8").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
  ).entries()) {
    const path = `${pemFile}.${i}.pem`;
    writeFileSync(path, `${pem}\n`);
    const text = openssl(["x509", "-in", path, "-noout", "-subject", "-issuer"]).stdout;
    out.set(`${/subject=.*CN\s*=\s*([^,\n]+)/.exec(text)![1]} <- ${/issuer=.*CN\s*=\s*([^,\n]+)/.exec(text)![1]}`, path);
  }
  return out;
}

it(
  "every CA publishes a CRL, roots their ARL, so openssl verify -crl_check_all checks a whole chain across a root rollover",
  { timeout: 120_000 },
  async () => {
    await initDataDir(env.DPKI_HOME, { passphrase: env.DPKI_PASSPHRASE, org: "Arl" });
    opensslCsr(work, "old-dev", { subject: "/CN=old-dev" });
    ok("cert", "issue", "--csr", "old-dev.csr", "--profile", "device", "--out", "old-dev.pem");
    ok("ca", "rotate", "--new-root", "--yes");
    opensslCsr(work, "new-dev", { subject: "/CN=new-dev" });
    ok("cert", "issue", "--csr", "new-dev.csr", "--profile", "device", "--out", "new-dev.pem");

    const cas = JSON.parse(ok("ca", "status", "--json")) as CaState[];
    const newInt = cas.find((c) => c.kind === "intermediate" && c.state === "active")!;
    const newRoot = cas.find((c) => c.id === newInt.parentId)!;
    const oldRoot = cas.find((c) => c.kind === "root" && c !== newRoot)!;
    const oldInt = cas.find((c) => c.kind === "intermediate" && c.parentId === oldRoot.id)!;

    mkdirSync(file("crls"));
    const written = JSON.parse(ok("crl", "--all", "--out", "crls", "--json")) as Array<{ issuer: string; entries: number; file: string }>;
    expect(written.map((w) => w.issuer).sort()).toEqual([oldRoot.id, newRoot.id, oldInt.id, newInt.id].sort());
    const crlArgs = () => written.flatMap((w) => ["-CRLfile", file(w.file)]);

    // Each root's CRL is signed by that root and names it as issuer.
    for (const root of [oldRoot, newRoot]) {
      const text = openssl(["crl", "-in", file(`crls/${root.id}.crl.pem`), "-noout", "-text"]).stdout;
      expect(text).toMatch(/Issuer: .*Root CA/);
      expect(text).toContain("No Revoked Certificates");
    }

    // The chain a device is served: the new intermediate and the cross certificate point at their root's CRL.
    ok("ca", "chain", "--out", "chain.pem");
    const certs = splitBundle(file("chain.pem"));
    const cross = certs.get("Arl Root CA 2 <- Arl Root CA")!;
    const newIntCert = certs.get("Arl Issuing CA 2 <- Arl Root CA 2")!;
    const oldIntCert = certs.get("Arl Issuing CA 1 <- Arl Root CA")!;
    expect(openssl(["x509", "-in", cross, "-noout", "-ext", "crlDistributionPoints"]).stdout).toContain(`/v1/ca/${oldRoot.id}/crl`);
    expect(openssl(["x509", "-in", newIntCert, "-noout", "-ext", "crlDistributionPoints"]).stdout).toContain(`/v1/ca/${newRoot.id}/crl`);
    expect(openssl(["x509", "-in", newIntCert, "-noout", "-ext", "authorityInfoAccess"]).stdout).toContain(`/v1/ca/${newRoot.id}/cert.der`);

    // A device trusting only the old root, and one trusting only the new one, check every link.
    ok("ca", "root", "--out", "roots.pem");
    const roots = splitBundle(file("roots.pem"));
    const oldAnchor = roots.get("Arl Root CA <- Arl Root CA")!;
    const newAnchor = roots.get("Arl Root CA 2 <- Arl Root CA 2")!;
    for (const [anchor, leaves] of [
      [oldAnchor, ["old-dev.pem", "new-dev.pem"]],
      [newAnchor, ["new-dev.pem"]],
    ] as const) {
      for (const leaf of leaves) {
        const v = openssl(["verify", "-crl_check_all", "-CAfile", anchor, "-untrusted", file("chain.pem"), ...crlArgs(), file(leaf)]);
        expect(v.stdout + v.stderr, `${leaf} against ${anchor}`).toContain(": OK");
      }
    }

    // Revoking the old intermediate puts it on the old root's ARL: openssl refuses the intermediate itself.
    ok("ca", "revoke", oldInt.id, "--reason", "keyCompromise", "--yes");
    const again = JSON.parse(ok("crl", "--all", "--out", "crls", "--json")) as Array<{ issuer: string; entries: number }>;
    expect(again.find((w) => w.issuer === oldRoot.id)!.entries).toBe(1);
    expect(again.find((w) => w.issuer === newRoot.id)!.entries).toBe(0);
    const arl = openssl(["crl", "-in", file(`crls/${oldRoot.id}.crl.pem`), "-noout", "-text"]).stdout;
    expect(arl).toContain("Key Compromise");
    const oldIntSerial = openssl(["x509", "-in", oldIntCert, "-noout", "-serial"]).stdout.trim().split("=")[1]!;
    expect(arl.replace(/:/g, "").toUpperCase()).toContain(oldIntSerial.toUpperCase());
    const refused = openssl(["verify", "-crl_check", "-CAfile", oldAnchor, ...crlArgs(), oldIntCert]);
    expect(refused.stdout + refused.stderr).toContain("certificate revoked");
    // The new generation is untouched.
    const still = openssl([
      "verify",
      "-crl_check_all",
      "-CAfile",
      oldAnchor,
      "-untrusted",
      file("chain.pem"),
      ...crlArgs(),
      file("new-dev.pem"),
    ]);
    expect(still.stdout + still.stderr).toContain(": OK");
  },
);
