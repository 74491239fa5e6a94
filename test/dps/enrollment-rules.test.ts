/** Enrollment management and the attestation rules, on the services directly (no network). */
import { describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import type { DeviceRequest } from "../../src/core/dps/dps-service.js";
import { newOperationId } from "../../src/core/dps/dps-service.js";
import { deriveDeviceKey, keyFingerprint } from "../../src/core/sas/sas.js";
import { stateCounts, TEST_PASSPHRASE } from "../helpers/services.js";
import { openServices } from "../../src/app.js";
import { ACTOR, dpsFixture, dpsToken } from "./helpers.js";
import { testCa, testLeaf, thumbprint } from "./test-pki.js";

const DAY = 86_400_000;

describe("enrollments, groups and attestation rules", async () => {
  const fx = await dpsFixture("0ne00RULES");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  const dps = services.dps.registrations;
  await admin.createHub(idScope, { name: "hub", hostName: "hub.example.net" }, ACTOR);

  const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);
  const request = (
    registrationId: string,
    credential: { key?: string; certs?: string[]; source?: string; scope?: string },
  ): DeviceRequest => ({
    idScope: credential.scope ?? idScope,
    registrationId,
    authorization: credential.key ? dpsToken(credential.scope ?? idScope, registrationId, credential.key) : null,
    clientCertificates: (credential.certs ?? []).map(der),
    sourceAddress: credential.source ?? "10.0.0.1",
  });
  const admitted = (...args: Parameters<typeof dps.admit>) => dps.admit(...args);

  it("keys are shown once: views, lists and the log never carry them", async () => {
    const made = await admin.createEnrollment(idScope, "group", "secretive", { attestation: { type: "symmetricKey" } }, ACTOR);
    expect(Buffer.from(made.keys!.primaryKey, "base64")).toHaveLength(64);
    const everything = JSON.stringify([
      await admin.getEnrollment(idScope, "group", "secretive"),
      await admin.listEnrollments(idScope, "group"),
      (await services.audit.list({}, null, 1000)).items,
    ]);
    expect(everything).not.toContain(made.keys!.primaryKey);
    expect(everything).not.toContain(made.keys!.secondaryKey);
    const derived = await admin.deriveKey(idScope, "secretive", "Dev-Case");
    expect(derived.primaryKey).toBe(deriveDeviceKey(made.keys!.primaryKey, "Dev-Case"));
    expect(derived.primaryKey).not.toBe(deriveDeviceKey(made.keys!.primaryKey, "dev-case"));
  });

  it("an individual enrollment wins over a matching group", async () => {
    const group = await admin.createEnrollment(idScope, "group", "catch-all", { attestation: { type: "symmetricKey" } }, ACTOR);
    const own = await admin.createEnrollment(idScope, "individual", "vip-1", { attestation: { type: "symmetricKey" } }, ACTOR);
    const device = await admitted(request("vip-1", { key: own.keys!.primaryKey }));
    expect(device.attestation.enrollment).toMatchObject({ kind: "individual", id: "vip-1" });
    // The group's derived key no longer opens the door for this id.
    await expect(admitted(request("vip-1", { key: deriveDeviceKey(group.keys!.primaryKey, "vip-1") }))).rejects.toMatchObject({
      code: "unauthorized",
    });
    const member = await admitted(request("member-1", { key: deriveDeviceKey(group.keys!.primaryKey, "member-1") }));
    expect(member.attestation.enrollment).toMatchObject({ kind: "group", id: "catch-all" });
  });

  it("secondary keys work and are recorded as such", async () => {
    const e = await admin.createEnrollment(idScope, "individual", "second-1", { attestation: { type: "symmetricKey" } }, ACTOR);
    const device = await admitted(request("second-1", { key: e.keys!.secondaryKey }));
    // keyId names the stored key (not its slot), so a later swap does not lose who uses which key.
    expect(device.attestation.used).toEqual({ method: "symmetricKey", keyIndex: 1, keyId: keyFingerprint(e.keys!.secondaryKey) });
  });

  it("scopes are isolated: an enrollment of one scope does not exist in another", async () => {
    await admin.createScope({ idScope: "0ne00OTHER" }, ACTOR);
    const e = await admin.createEnrollment(idScope, "individual", "homebody", { attestation: { type: "symmetricKey" } }, ACTOR);
    await expect(admitted(request("homebody", { key: e.keys!.primaryKey, scope: "0ne00OTHER" }))).rejects.toMatchObject({
      code: "unauthorized",
    });
    await expect(admin.getEnrollment("0ne00OTHER", "individual", "homebody")).rejects.toMatchObject({ code: "not_found" });
    expect((await admin.listHubs("0ne00OTHER")).length).toBe(0);
  });

  it("allowlists: registration-id patterns, hardware ids from the payload, source networks", async () => {
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "strict",
      {
        attestation: { type: "symmetricKey" },
        allowlists: {
          registrationIds: ["meter-??", "gw-*"],
          hardwareIds: ["HW-1", "HW-2"],
          sourceCidrs: ["192.0.2.0/24", "2001:db8::/32"],
        },
      },
      ACTOR,
    );
    const key = (id: string) => deriveDeviceKey(g.keys!.primaryKey, id);
    const ok = { payload: { hardwareId: "HW-2" } };
    await expect(admitted(request("meter-01", { key: key("meter-01"), source: "192.0.2.9" }), ok)).resolves.toBeDefined();
    await expect(admitted(request("GW-anything", { key: key("GW-anything"), source: "::ffff:192.0.2.9" }), ok)).resolves.toBeDefined();
    await expect(admitted(request("gw-6", { key: key("gw-6"), source: "2001:db8::5" }), ok)).resolves.toBeDefined();
    await expect(admitted(request("meter-001", { key: key("meter-001"), source: "192.0.2.9" }), ok)).rejects.toThrow("not allowed");
    await expect(admitted(request("meter-01", { key: key("meter-01"), source: "198.51.100.1" }), ok)).rejects.toThrow("Source address");
    await expect(
      admitted(request("meter-01", { key: key("meter-01"), source: "192.0.2.9" }), { payload: { hardwareId: "HW-3" } }),
    ).rejects.toThrow("Hardware id");
    await expect(admitted(request("meter-01", { key: key("meter-01"), source: "192.0.2.9" }), {})).rejects.toThrow(
      "requires a hardware id",
    );
  });

  it("a disabled group gives a disabled registration; re-enabled it assigns again", async () => {
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "pausable",
      { attestation: { type: "symmetricKey" }, provisioningStatus: "disabled" },
      ACTOR,
    );
    const req = request("pause-1", { key: deriveDeviceKey(g.keys!.primaryKey, "pause-1") });
    const out = await dps.register(await admitted(req), {}, newOperationId());
    expect(out).toMatchObject({ status: "disabled", registrationState: { status: "disabled" } });
    expect(out.registrationState.assignedHub).toBeUndefined();
    await admin.updateEnrollment(idScope, "group", "pausable", { provisioningStatus: "enabled" }, {}, ACTOR);
    expect((await dps.register(await admitted(req), {}, newOperationId())).status).toBe("assigned");
  });

  it("X.509: CN must equal the id, validity is checked with skew, thumbprints must match, SAS and X.509 enrollments do not mix", async () => {
    const cert = await testLeaf("cam-1");
    const other = await testLeaf("cam-1");
    await admin.createEnrollment(idScope, "individual", "cam-1", { attestation: { type: "x509", thumbprints: [thumbprint(cert)] } }, ACTOR);
    expect((await admitted(request("cam-1", { certs: [cert.pem] }))).attestation.used).toMatchObject({ method: "x509", keyIndex: 0 });
    await expect(admitted(request("cam-1", { certs: [other.pem] }))).rejects.toThrow("not the one enrolled");
    await expect(admitted(request("cam-1", { key: "AAAAAAAAAAAAAAAAAAAAAA==" }))).rejects.toThrow("takes X.509 attestation");
    const named = await testLeaf("cam-2");
    await expect(admitted(request("cam-1", { certs: [named.pem] }))).rejects.toThrow("does not equal registration id");

    const root = await testCa("Rules Root");
    await admin.createEnrollment(idScope, "group", "cams", { attestation: { type: "x509", caCertificates: [root.pem] } }, ACTOR);
    const expired = await testLeaf("cam-old", root, { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    await expect(admitted(request("cam-old", { certs: [expired.pem] }))).rejects.toThrow("expired");
    const future = await testLeaf("cam-new", root, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    await expect(admitted(request("cam-new", { certs: [future.pem] }))).rejects.toThrow("not valid before");
    const skewed = await testLeaf("cam-skew", root, { notBefore: new Date(Date.now() + 60_000), notAfter: new Date(Date.now() + DAY) });
    await expect(admitted(request("cam-skew", { certs: [skewed.pem] }))).resolves.toBeDefined();
    // An intermediate that is not sent cannot be guessed.
    const inter = await testCa("Rules Issuing", root);
    const deep = await testLeaf("cam-deep", inter);
    await expect(admitted(request("cam-deep", { certs: [deep.pem] }))).rejects.toThrow("does not chain");
    await expect(admitted(request("cam-deep", { certs: [deep.pem, inter.pem] }))).resolves.toBeDefined();
    // A non-CA certificate cannot act as an intermediate.
    const fakeInter = await testLeaf("Rules Issuing 2", root);
    const underFake = await testLeaf("cam-fake", fakeInter);
    await expect(admitted(request("cam-fake", { certs: [underFake.pem, fakeInter.pem] }))).rejects.toThrow("does not chain");
  });

  it("refuses bad enrollment settings with a reason and changes nothing", async () => {
    const before = await stateCounts(services);
    const bad: Array<[Parameters<typeof admin.createEnrollment>[3], string, "individual" | "group"]> = [
      [{ attestation: { type: "symmetricKey" }, allowlists: { sourceCidrs: ["10.0.0.0/40"] } }, "prefix length", "individual"],
      [{ attestation: { type: "symmetricKey" }, allowlists: { registrationIds: ["bad id"] } }, "pattern", "individual"],
      [{ attestation: { type: "symmetricKey" }, allocation: { policy: "custom" } }, "webhookUrl", "individual"],
      [
        { attestation: { type: "symmetricKey" }, allocation: { policy: "custom", webhookUrl: "http://example.net/x" } },
        "https",
        "individual",
      ],
      [{ attestation: { type: "symmetricKey" }, allocation: { hubs: ["nope"] } }, "No hub nope", "individual"],
      [{ attestation: { type: "symmetricKey" }, profile: "nope" }, "Unknown profile", "individual"],
      [{ attestation: { type: "symmetricKey", primaryKey: "c2hvcnQ=" } }, "at least 16 bytes", "individual"],
      [{ attestation: { type: "symmetricKey" }, deviceId: "x" }, "no device id", "group"],
      [{ attestation: { type: "x509", thumbprints: ["abc"] } }, "SHA-256 thumbprint", "individual"],
      [{ attestation: { type: "x509", caCertificates: [] } }, "one or two CA certificates", "group"],
    ];
    for (const [input, message, kind] of bad) {
      await expect(admin.createEnrollment(idScope, kind, "bad-1", input, ACTOR), message).rejects.toThrow(message);
    }
    const leaf = await testLeaf("not-a-ca");
    await expect(
      admin.createEnrollment(idScope, "group", "bad-1", { attestation: { type: "x509", caCertificates: [leaf.pem] } }, ACTOR),
    ).rejects.toThrow("not a CA");
    await expect(admin.createEnrollment(idScope, "individual", "bad id", { attestation: { type: "symmetricKey" } }, ACTOR)).rejects.toThrow(
      "invalid",
    );
    await expect(admin.createHub(idScope, { name: "h2", hostName: "not a host" }, ACTOR)).rejects.toThrow("not a DNS name");
    await expect(admin.createHub(idScope, { name: "hub", hostName: "dup.example.net" }, ACTOR)).rejects.toMatchObject({
      code: "already_exists",
    });
    await expect(
      admin.createEnrollment(idScope, "individual", "vip-1", { attestation: { type: "symmetricKey" } }, ACTOR),
    ).rejects.toMatchObject({ code: "already_exists" });
    expect(await stateCounts(services)).toEqual(before);
  });

  it("etags guard concurrent updates", async () => {
    const e = await admin.getEnrollment(idScope, "individual", "vip-1");
    await admin.updateEnrollment(idScope, "individual", "vip-1", { profile: "gateway" }, { ifMatch: e.etag }, ACTOR);
    await expect(
      admin.updateEnrollment(idScope, "individual", "vip-1", { profile: "device" }, { ifMatch: e.etag }, ACTOR),
    ).rejects.toMatchObject({ code: "conflict" });
    const log = (await services.audit.list({ action: "dps.enrollment.update" }, null, 100)).items.at(-1)!;
    expect(log.details).toMatchObject({ profile: { from: "device", to: "gateway" } });
  });

  it("sees configuration changed by another process at once (cached reads revalidate)", async () => {
    const other = openServices({ dataDir: services.dataDir.root, passphrase: TEST_PASSPHRASE });
    try {
      const e = await admin.createEnrollment(
        idScope,
        "individual",
        "moving-1",
        { attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: ["hub"] } },
        ACTOR,
      );
      const req = request("moving-1", { key: e.keys!.primaryKey });
      expect((await dps.register(await admitted(req), {}, newOperationId())).registrationState.assignedHub).toBe("hub.example.net");
      await other.dps.admin.updateHub(idScope, "hub", { hostName: "hub-moved.example.net" }, ACTOR);
      expect((await admin.listHubs(idScope))[0]!.hostName).toBe("hub-moved.example.net");
      await other.dps.admin.updateEnrollment(idScope, "individual", "moving-1", { provisioningStatus: "disabled" }, {}, ACTOR);
      expect((await dps.register(await admitted(req), {}, newOperationId())).status).toBe("disabled");
      await other.dps.admin.createEnrollment(
        idScope,
        "group",
        "late-group",
        { attestation: { type: "symmetricKey", primaryKey: "A".repeat(44), secondaryKey: "B".repeat(44) } },
        ACTOR,
      );
      const member = await admitted(request("late-1", { key: deriveDeviceKey("A".repeat(44), "late-1") }));
      expect(member.attestation.enrollment.id).toBe("late-group");
    } finally {
      await other.close();
    }
  });

  it("deleting a scope needs force while it holds anything", async () => {
    await admin.createScope({ idScope: "0ne00GONE" }, ACTOR);
    await admin.createHub("0ne00GONE", { name: "h", hostName: "h.example.net" }, ACTOR);
    await expect(admin.deleteScope("0ne00GONE", false, ACTOR)).rejects.toMatchObject({ code: "conflict" });
    await admin.deleteScope("0ne00gone", true, ACTOR);
    await expect(admin.getScope("0ne00GONE")).rejects.toMatchObject({ code: "not_found" });
    const generated = await admin.createScope({}, ACTOR);
    expect(generated.idScope).toMatch(/^0ne[0-9A-F]{8}$/);
  });
});
