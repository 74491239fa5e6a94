/**
 * The official Azure IoT device SDK packages, unchanged, against a real dpki device listener.
 * The SDK always connects to port 443 of its provisioning host, so each listener binds its own
 * 127.0.0.x address on 443 (CI runs as root) with a dpki-issued certificate carrying that IP
 * as SAN; the SDK runs in a child process with NODE_EXTRA_CA_CERTS pointing at dpki's root.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp-dir.js";
import { ACTOR, deviceCall, deviceCsr, dpsFixture, dpsToken, registrationService, startListener } from "./helpers.js";
import { issueListenerCertificate } from "../../src/dps/listener-certificate.js";
import { DpsService } from "../../src/core/dps/dps-service.js";
import { allocationPolicies } from "../../src/core/allocation/policies.js";
import { pemEncode } from "../../ca/pem.js";
import { testCa, testLeaf, thumbprint } from "./test-pki.js";

const SCRIPT = join(import.meta.dirname, "sdk-device.mjs");

interface SdkOutcome {
  ok: boolean;
  name?: string;
  message?: string;
  status?: number;
  result?: any;
}

describe("Azure IoT device SDK against the dpki device listener", async () => {
  const fx = await dpsFixture("0ne00SDK01");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  const dir = tempDir();
  const rootFile = join(dir, "dpki-root.pem");
  writeFileSync(rootFile, fx.rootPem);

  await admin.createHub(idScope, { name: "hub-a", hostName: "hub-a.example.net" }, ACTOR);
  await admin.createHub(idScope, { name: "hub-b", hostName: "hub-b.example.net" }, ACTOR);

  // A custom allocation webhook that echoes the device payload back.
  const hook = await issueListenerCertificate(services.issuance, ["127.0.0.1"], ACTOR);
  const webhook = createServer({ key: hook.key, cert: hook.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ iotHubHostName: body.linkedHubs[1], payload: { echo: body.deviceRuntimeContext.payload, from: "webhook" } }),
      );
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  afterAll(() => new Promise<void>((resolve) => webhook.close(() => resolve())));
  const webhookUrl = `https://127.0.0.1:${(webhook.address() as { port: number }).port}/allocate`;

  const registrations = registrationService(services, { ca: async () => [fx.rootPem] });
  // Immediate answers (200 on the PUT), Azure-style polling (202 then GET), and a server whose clock runs 2 h ahead.
  const now = await startListener(services, { host: "127.0.0.11", port: 443, registrations });
  const polling = await startListener(services, { host: "127.0.0.12", port: 443, registrations, respondWithinMs: 0 });
  const later = await startListener(services, {
    host: "127.0.0.13",
    port: 443,
    registrations: new DpsService({
      store: services.dps.store,
      certificates: services.store,
      issuance: services.issuance,
      ca: services.ca,
      clock: { now: () => new Date(Date.now() + 2 * 3600_000) },
      allocation: allocationPolicies(),
      skewMs: 5 * 60_000,
    }),
  });

  function sdk(host: string, input: Record<string, unknown>): Promise<SdkOutcome> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [SCRIPT, JSON.stringify({ host, idScope, ...input })],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: rootFile }, timeout: 30_000 },
        (err, stdout, stderr) => {
          const line = stdout.trim().split("\n").pop() ?? "";
          try {
            resolve(JSON.parse(line) as SdkOutcome);
          } catch {
            reject(new Error(`SDK child failed: ${err?.message ?? ""} ${stderr}`));
          }
        },
      );
    });
  }

  // Enrollments
  const individual = await admin.createEnrollment(idScope, "individual", "sk-dev-01", { attestation: { type: "symmetricKey" } }, ACTOR);
  const polled = await admin.createEnrollment(idScope, "individual", "sk-dev-poll", { attestation: { type: "symmetricKey" } }, ACTOR);
  const group = await admin.createEnrollment(
    idScope,
    "group",
    "sensors",
    { attestation: { type: "symmetricKey" }, allowlists: { registrationIds: ["sensor-*"] }, allocation: { hubs: ["hub-b"] } },
    ACTOR,
  );
  const disabled = await admin.createEnrollment(
    idScope,
    "individual",
    "sk-disabled",
    { attestation: { type: "symmetricKey" }, provisioningStatus: "disabled" },
    ACTOR,
  );
  const payloadDevice = await admin.createEnrollment(
    idScope,
    "individual",
    "payload-dev",
    { attestation: { type: "symmetricKey" }, allocation: { policy: "custom", webhookUrl, hubs: ["hub-a", "hub-b"] } },
    ACTOR,
  );
  const renewing = await admin.createEnrollment(idScope, "individual", "renew-dev", { attestation: { type: "symmetricKey" } }, ACTOR);

  const selfSigned = await testLeaf("x509-dev-01");
  await admin.createEnrollment(
    idScope,
    "individual",
    "x509-dev-01",
    { attestation: { type: "x509", certificates: [selfSigned.pem] } },
    ACTOR,
  );

  const vendorRoot = await testCa("Vendor Root");
  const vendorIssuing = await testCa("Vendor Issuing", vendorRoot);
  await admin.createEnrollment(
    idScope,
    "group",
    "vendor-fleet",
    { attestation: { type: "x509", caCertificates: [vendorRoot.pem] } },
    ACTOR,
  );
  const groupLeaf = await testLeaf("x509-grp-dev-5", vendorIssuing);
  const otherRoot = await testCa("Someone Else");
  const strangerLeaf = await testLeaf("x509-grp-dev-6", otherRoot);

  it("individual symmetric key: assigned, immediate answer", async () => {
    const out = await sdk(now.host, { registrationId: "sk-dev-01", symmetricKey: individual.keys!.primaryKey });
    expect(out.ok, out.message).toBe(true);
    expect(out.result).toMatchObject({
      registrationId: "sk-dev-01",
      status: "assigned",
      substatus: "initialAssignment",
      deviceId: "sk-dev-01",
    });
    expect(["hub-a.example.net", "hub-b.example.net"]).toContain(out.result.assignedHub);
    expect(out.result.symmetricKey).toEqual({});
  });

  it("individual symmetric key through Azure-style polling (202, Retry-After, GET)", async () => {
    const out = await sdk(polling.host, { registrationId: "sk-dev-poll", symmetricKey: polled.keys!.secondaryKey });
    expect(out.ok, out.message).toBe(true);
    expect(out.result).toMatchObject({ registrationId: "sk-dev-poll", status: "assigned" });
    const stored = await admin.getRegistration(idScope, "sk-dev-poll");
    expect(stored.attestation).toMatchObject({ method: "symmetricKey", keyIndex: 1 });
  });

  it("group symmetric key with a derived device key", async () => {
    const derived = await admin.deriveKey(idScope, "sensors", "sensor-0042");
    const out = await sdk(now.host, { registrationId: "sensor-0042", symmetricKey: derived.primaryKey });
    expect(out.ok, out.message).toBe(true);
    expect(out.result).toMatchObject({
      status: "assigned",
      assignedHub: "hub-b.example.net",
      symmetricKey: { enrollmentGroupId: "sensors" },
    });
  });

  it("individual X.509 (self-signed device certificate)", async () => {
    const out = await sdk(now.host, { registrationId: "x509-dev-01", cert: selfSigned.pem, key: selfSigned.keyPem });
    expect(out.ok, out.message).toBe(true);
    expect(out.result.status).toBe("assigned");
    expect(out.result.x509.certificateInfo.sha256Thumbprint).toBe(thumbprint(selfSigned));
  });

  it("group X.509 through an intermediate (leaf + intermediate sent, group trusts the root)", async () => {
    const out = await sdk(now.host, { registrationId: "x509-grp-dev-5", cert: groupLeaf.pem + vendorIssuing.pem, key: groupLeaf.keyPem });
    expect(out.ok, out.message).toBe(true);
    expect(out.result).toMatchObject({ status: "assigned", x509: { enrollmentGroupId: "vendor-fleet" } });
  });

  it("payload round trip through a custom allocation webhook", async () => {
    const payload = { modelId: "dtmi:acme:thermostat;1", firmware: "2.4.1" };
    const out = await sdk(now.host, { registrationId: "payload-dev", symmetricKey: payloadDevice.keys!.primaryKey, payload });
    expect(out.ok, out.message).toBe(true);
    expect(out.result).toMatchObject({ status: "assigned", assignedHub: "hub-b.example.net", payload: { echo: payload, from: "webhook" } });
  });

  it("refuses a wrong key (401 → UnauthorizedError) and records nothing", async () => {
    const out = await sdk(now.host, { registrationId: "sk-dev-wrong", symmetricKey: individual.keys!.primaryKey });
    expect(out).toMatchObject({ ok: false, name: "UnauthorizedError", status: 401 });
    expect(out.message).toContain("401002");
    const out2 = await sdk(now.host, { registrationId: "sk-dev-01", symmetricKey: group.keys!.primaryKey });
    expect(out2).toMatchObject({ ok: false, name: "UnauthorizedError" });
    await expect(admin.getRegistration(idScope, "sk-dev-wrong")).rejects.toMatchObject({ code: "not_found" });
  });

  it("refuses an expired token", async () => {
    const out = await sdk(later.host, { registrationId: "sk-dev-01", symmetricKey: individual.keys!.primaryKey });
    expect(out).toMatchObject({ ok: false, name: "UnauthorizedError", status: 401 });
    expect(out.message).toContain("expired");
  });

  it("a disabled enrollment ends disabled", async () => {
    const out = await sdk(now.host, { registrationId: "sk-disabled", symmetricKey: disabled.keys!.primaryKey });
    expect(out.ok).toBe(false);
    expect(out.result).toMatchObject({ status: "disabled", registrationState: { registrationId: "sk-disabled", status: "disabled" } });
  });

  it("refuses a registration id outside the group's allowlist", async () => {
    const derived = await admin.deriveKey(idScope, "sensors", "camera-0001");
    const out = await sdk(now.host, { registrationId: "camera-0001", symmetricKey: derived.primaryKey });
    expect(out).toMatchObject({ ok: false, name: "UnauthorizedError" });
    expect(out.message).toContain("not allowed");
  });

  it("refuses a certificate from another CA", async () => {
    const out = await sdk(now.host, { registrationId: "x509-grp-dev-6", cert: strangerLeaf.pem, key: strangerLeaf.keyPem });
    expect(out).toMatchObject({ ok: false, name: "UnauthorizedError" });
    expect(out.message).toContain("does not chain");
  });

  it("recognises a dpki-issued certificate (renewal path) and refuses it once revoked", async () => {
    const { key, csr } = await deviceCsr("renew-dev");
    const res = await deviceCall(
      { host: now.host, port: 443, ca: fx.rootPem },
      {
        path: `/${idScope}/registrations/renew-dev/register?api-version=2025-07-01-preview`,
        body: JSON.stringify({ registrationId: "renew-dev", csr }),
        headers: { authorization: dpsToken(idScope, "renew-dev", renewing.keys!.primaryKey) },
      },
    );
    expect(res.status, res.text).toBe(200);
    const chain = (res.json.registrationState.issuedCertificateChain as string[]).map((b64) =>
      pemEncode("CERTIFICATE", Buffer.from(b64, "base64")),
    );
    const certPem = chain[0]! + chain[1]!;
    const keyPem = key.export({ format: "pem", type: "pkcs8" }).toString();

    const renewed = await sdk(now.host, { registrationId: "renew-dev", cert: certPem, key: keyPem });
    expect(renewed.ok, renewed.message).toBe(true);
    expect(renewed.result.status).toBe("assigned");
    expect((await admin.getRegistration(idScope, "renew-dev")).attestation).toMatchObject({ method: "x509", renewal: true });

    const serial = (await admin.getRegistration(idScope, "renew-dev")).issuedSerial!;
    await services.certificates.revoke(serial, "keyCompromise", ACTOR);
    const refused = await sdk(now.host, { registrationId: "renew-dev", cert: certPem, key: keyPem });
    expect(refused).toMatchObject({ ok: false, name: "UnauthorizedError" });
    expect(refused.message).toContain("revoked");
  });
});
