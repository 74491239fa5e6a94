import { describe, expect, it } from "vitest";
import { createPublicKey } from "node:crypto";
import { parseCsr, verifyCsr } from "../../ca/csr.js";
import { opensslCsr, openssl } from "../helpers/openssl.js";
import { tempDir } from "../helpers/temp-dir.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The CSR's EC key is imported from its coordinates for speed; these pin that it is still exact. */
describe("CSR public key import", () => {
  const dir = tempDir();

  it("verifies CSRs with uncompressed P-256 and P-384 keys and compressed ones", async () => {
    for (const key of ["ec-p256", "ec-p384"] as const) {
      await expect(verifyCsr(parseCsr(readFileSync(opensslCsr(dir, key, { key, subject: "/CN=k" }))))).resolves.toBeUndefined();
    }
    // openssl can make a CSR whose key is in compressed point form.
    const keyFile = join(dir, "compressed.key");
    openssl([
      "ecparam",
      "-name",
      "prime256v1",
      "-genkey",
      "-noout",
      "-param_enc",
      "named_curve",
      "-conv_form",
      "compressed",
      "-out",
      keyFile,
    ]);
    const csrFile = join(dir, "compressed.csr");
    const made = openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=compressed", "-out", csrFile]);
    expect(made.status).toBe(0);
    const csr = parseCsr(readFileSync(csrFile));
    await expect(verifyCsr(csr)).resolves.toBeUndefined();
  });

  it("rejects a CSR whose key is a point off the curve", async () => {
    const csr = parseCsr(readFileSync(opensslCsr(dir, "offcurve", { key: "ec-p256", subject: "/CN=k" })));
    const spki = Buffer.from(csr.spki);
    spki[spki.length - 1] ^= 0x01; // y no longer satisfies the curve equation
    const tampered = { ...csr, spki };
    await expect(verifyCsr(tampered)).rejects.toMatchObject({ code: "bad_encoding" });
    // Sanity: the generic decoder refuses it too.
    expect(() => createPublicKey({ key: spki, format: "der", type: "spki" })).toThrow();
  });
});
