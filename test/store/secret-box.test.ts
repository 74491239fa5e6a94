import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { openServices } from "../../src/app.js";
import { PassphraseSecretBox } from "../../src/store/secret-box.js";
import { servicesWithCa } from "../helpers/services.js";

describe("secret box", () => {
  const salt = randomBytes(16);
  const box = new PassphraseSecretBox(
    () => "right",
    () => salt,
  );

  it("seals with a fresh IV each time and opens what it sealed", () => {
    const a = box.seal("key material");
    const b = box.seal("key material");
    expect(a).not.toBe(b);
    expect(a).toMatch(/^sealed:v1:/);
    expect(a).not.toContain("key material");
    expect(box.open(a)).toBe("key material");
  });

  it("refuses a wrong passphrase, a tampered value and an unsealed one, without echoing anything", () => {
    const sealed = box.seal("key material");
    expect(() =>
      new PassphraseSecretBox(
        () => "wrong",
        () => salt,
      ).open(sealed),
    ).toThrow(/wrong passphrase/);
    const bytes = Buffer.from(sealed.slice("sealed:v1:".length), "base64");
    bytes[14] ^= 1;
    expect(() => box.open("sealed:v1:" + bytes.toString("base64"))).toThrow(/wrong passphrase or damaged/);
    expect(() => box.open("plain text")).toThrow(/not sealed/);
  });

  it("keeps devices' symmetric keys and hub policy keys sealed in the database", async () => {
    const services = await servicesWithCa();
    const admin = services.dps.admin;
    await admin.createScope({ idScope: "0ne00SEAL" }, "t");
    await admin.createHub("0ne00SEAL", { name: "hub", hostName: "hub.example.net" }, "t");
    const made = await admin.createEnrollment("0ne00SEAL", "group", "fleet", { attestation: { type: "symmetricKey" } }, "t");
    const policy = await services.lifecycle.hubPolicies.createPolicy("0ne00SEAL", "hub", { name: "svc", rights: ["ServiceConnect"] }, "t");
    const keys = [made.keys!.primaryKey, made.keys!.secondaryKey, policy.keys.primaryKey!, policy.keys.secondaryKey];

    const raw = new Database(services.dataDir.database, { readonly: true });
    const onDisk = JSON.stringify([raw.prepare("SELECT * FROM dps_enrollments").all(), raw.prepare("SELECT * FROM hub_policies").all()]);
    raw.close();
    for (const key of keys) expect(onDisk).not.toContain(key);
    expect(onDisk).toContain("sealed:v1:");

    // Read back through the store: derivation still uses the real group key.
    const derived = await admin.deriveKey("0ne00SEAL", "fleet", "dev-1");
    expect(derived.primaryKey).not.toBe(made.keys!.primaryKey);

    const wrong = openServices({ dataDir: services.dataDir.root, passphrase: "not the passphrase" });
    try {
      await expect(wrong.dps.admin.deriveKey("0ne00SEAL", "fleet", "dev-1")).rejects.toMatchObject({ code: "key_unavailable" });
    } finally {
      await wrong.close();
    }
  });
});
