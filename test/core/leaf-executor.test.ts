import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import type { Services } from "../../src/app.js";
import { InlineLeafExecutor, type LeafExecutor } from "../../src/core/issuance/leaf-executor.js";
import { WorkerLeafExecutor } from "../../src/core/issuance/worker-leaf-executor.js";
import { getProfile } from "../../src/policy/policy-set.js";
import { PkiError } from "../../ca/pki-error.js";
import { servicesWithCa } from "../helpers/services.js";
import { opensslCsr } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";

/** Worker threads and the calling thread run the same build; these pin that they answer alike. */
describe("leaf executors", () => {
  let services: Services;
  const workers = new WorkerLeafExecutor(2);
  const inline = new InlineLeafExecutor();
  const dir = tempDir();
  const csr = (name: string, subject: string, key: "ec-p256" | "rsa-1024" = "ec-p256") =>
    readFileSync(opensslCsr(dir, name, { subject, key }), "utf8");

  beforeAll(async () => {
    services = await servicesWithCa();
  });
  afterAll(() => workers.close());

  for (const [name, executor] of [
    ["workers", workers],
    ["inline", inline],
  ] as Array<[string, LeafExecutor]>) {
    it(`${name}: builds certificates the issuer verifies`, async () => {
      const issuer = await services.ca.activeIssuer();
      const profile = getProfile(services.policies, "device");
      const leaves = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          executor.build({ csr: csr(`${name}-${i}`, `/CN=${name}-${i}`), profile, notBefore: new Date() }, issuer),
        ),
      );
      const ca = new X509Certificate(issuer.chain[0]!);
      for (const [i, leaf] of leaves.entries()) {
        const cert = new X509Certificate(leaf.der);
        expect(cert.verify(ca.publicKey)).toBe(true);
        expect(leaf.subject).toBe(`CN=${name}-${i}`);
        expect(cert.serialNumber.toLowerCase()).toBe(leaf.serial);
      }
      expect(new Set(leaves.map((l) => l.serial)).size).toBe(20);
    });

    it(`${name}: reports refusals as the same typed errors`, async () => {
      const issuer = await services.ca.activeIssuer();
      const profile = getProfile(services.policies, "device");
      const weak = executor.build({ csr: csr(`${name}-weak`, "/CN=weak", "rsa-1024"), profile, notBefore: new Date() }, issuer);
      await expect(weak).rejects.toBeInstanceOf(PkiError);
      await expect(weak).rejects.toMatchObject({ code: "weak_key", message: expect.stringMatching(/1024 bits/) });
      const cn = executor.build(
        { csr: csr(`${name}-cn`, "/CN=other"), profile, commonNameMustEqual: "dev-1", notBefore: new Date() },
        issuer,
      );
      await expect(cn).rejects.toMatchObject({ code: "profile_violation", message: expect.stringMatching(/must equal "dev-1"/) });
      await expect(executor.build({ csr: "junk", profile, notBefore: new Date() }, issuer)).rejects.toMatchObject({ code: "bad_encoding" });
    });
  }

  it("refuses new work once closed", async () => {
    const closing = new WorkerLeafExecutor(1);
    await closing.close();
    const issuer = await services.ca.activeIssuer();
    await expect(
      closing.build({ csr: "x", profile: getProfile(services.policies, "device"), notBefore: new Date() }, issuer),
    ).rejects.toMatchObject({
      code: "unavailable",
    });
  });
});
