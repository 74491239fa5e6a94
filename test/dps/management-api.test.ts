/** The DPS management API under /v1/scopes/…, its roles and scoped tokens, and the CLI's --server mode over it. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../http/harness.js";
import { dpkiAsync } from "../helpers/cli.js";
import { deriveDeviceKey } from "../../src/core/sas/sas.js";
import { newOperationId } from "../../src/core/dps/dps-service.js";
import { dpsToken } from "./helpers.js";
import { testCa } from "./test-pki.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

describe("DPS management API", () => {
  it("manages scopes, hubs, enrollments, groups and registrations", async () => {
    const { admin, operator, auditor } = t.tokens;
    const scope = await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: "0ne00API1", description: "api" } });
    expect(scope.status, scope.text).toBe(201);
    expect(scope.headers.location).toBe("/v1/scopes/0ne00API1");
    expect((await t.request("POST", "/v1/scopes", { token: operator, body: {} })).status).toBe(403);

    const hub = await t.request("POST", "/v1/scopes/0ne00API1/hubs", {
      token: operator,
      body: { name: "eu-1", hostName: "eu-1.example.net", region: "eu" },
    });
    expect(hub.status, hub.text).toBe(201);
    expect(hub.json).toMatchObject({ name: "eu-1", weight: 1, enabled: true });
    const patched = await t.request("PATCH", "/v1/scopes/0ne00API1/hubs/eu-1", { token: operator, body: { weight: 5 } });
    expect(patched.json.weight).toBe(5);
    expect((await t.request("PATCH", "/v1/scopes/0ne00API1/hubs/eu-1", { token: operator, body: { name: "x" } })).status).toBe(400);
    expect(
      (await t.request("POST", "/v1/scopes/0ne00API1/hubs", { token: auditor, body: { name: "x", hostName: "x.example.net" } })).status,
    ).toBe(403);
    expect((await t.request("GET", "/v1/scopes/0ne00API1/hubs", { token: auditor })).json).toHaveLength(1);

    const created = await t.request("POST", "/v1/scopes/0ne00API1/enrollments", {
      token: operator,
      body: { registrationId: "dev-1", attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: ["eu-1"] } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.headers["cache-control"]).toBe("no-store");
    const keys = created.json.keys;
    expect(Buffer.from(keys.primaryKey, "base64")).toHaveLength(32);
    const shown = await t.request("GET", "/v1/scopes/0ne00API1/enrollments/dev-1", { token: auditor });
    expect(shown.json.attestation).toEqual({ type: "symmetricKey" });
    expect(shown.text).not.toContain(keys.primaryKey);
    expect(shown.headers.etag).toBe(`"${shown.json.etag}"`);

    const stale = await t.request("PATCH", "/v1/scopes/0ne00API1/enrollments/dev-1", {
      token: operator,
      body: { provisioningStatus: "disabled" },
      headers: { "if-match": '"nope"' },
    });
    expect(stale.status).toBe(409);
    const rotated = await t.request("PATCH", "/v1/scopes/0ne00API1/enrollments/dev-1", {
      token: operator,
      body: { regenerateKeys: true },
      headers: { "if-match": shown.headers.etag as string },
    });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.json.keys.primaryKey).not.toBe(keys.primaryKey);

    const bad = await t.request("POST", "/v1/scopes/0ne00API1/enrollments", {
      token: operator,
      body: { registrationId: "dev-2", attestation: { type: "symmetricKey" }, colour: "red" },
    });
    expect(bad.status).toBe(400);
    const badCidr = await t.request("POST", "/v1/scopes/0ne00API1/enrollments", {
      token: operator,
      body: { registrationId: "dev-2", attestation: { type: "symmetricKey" }, allowlists: { sourceCidrs: ["10.0.0.0/33"] } },
    });
    expect(badCidr.status).toBe(400);
    expect(badCidr.json.detail).toContain("prefix length");

    const root = await testCa("API Vendor Root");
    const group = await t.request("POST", "/v1/scopes/0ne00API1/groups", {
      token: operator,
      body: { groupId: "vendor", attestation: { type: "x509", caCertificates: [root.pem] } },
    });
    expect(group.status, group.text).toBe(201);
    expect(group.json.keys).toBeUndefined();
    expect(group.json.enrollment.attestation.caCertificates[0].subject).toBe("CN=API Vendor Root");
    const skGroup = await t.request("POST", "/v1/scopes/0ne00API1/groups", {
      token: operator,
      body: { groupId: "sensors", attestation: { type: "symmetricKey" } },
    });
    const derived = await t.request("POST", "/v1/scopes/0ne00API1/groups/sensors/derive-key", {
      token: operator,
      body: { registrationId: "sensor-9" },
    });
    expect(derived.json.primaryKey).toBe(deriveDeviceKey(skGroup.json.keys.primaryKey, "sensor-9"));
    expect(
      (await t.request("POST", "/v1/scopes/0ne00API1/groups/sensors/derive-key", { token: auditor, body: { registrationId: "sensor-9" } }))
        .status,
    ).toBe(403);
    expect((await t.request("GET", "/v1/scopes/0ne00API1/groups", { token: auditor })).json.items).toHaveLength(2);

    // A device registers; the registration shows up.
    const dps = t.services.dps.registrations;
    const device = await dps.admit({
      idScope: "0ne00API1",
      registrationId: "dev-1",
      authorization: dpsToken("0ne00API1", "dev-1", rotated.json.keys.primaryKey),
      clientCertificates: [],
      sourceAddress: "10.0.0.1",
    });
    await dps.register(device, {}, newOperationId());
    const regs = await t.request("GET", "/v1/scopes/0ne00API1/registrations?status=assigned&hub=eu-1.example.net", { token: auditor });
    expect(regs.status, regs.text).toBe(200);
    expect(regs.json.items).toHaveLength(1);
    expect(regs.json.items[0]).toMatchObject({
      registrationId: "dev-1",
      assignedHub: "eu-1.example.net",
      enrollment: { kind: "individual", id: "dev-1" },
    });
    expect((await t.request("GET", "/v1/scopes/0ne00API1/registrations/DEV-1", { token: auditor })).json.registrationId).toBe("dev-1");
    expect((await t.request("GET", "/v1/scopes/0ne00API1/registrations?status=weird", { token: auditor })).status).toBe(400);

    expect((await t.request("DELETE", "/v1/scopes/0ne00API1/hubs/eu-1", { token: operator })).status).toBe(409);
    expect((await t.request("DELETE", "/v1/scopes/0ne00API1/registrations/dev-1", { token: operator })).status).toBe(204);
    expect((await t.request("DELETE", "/v1/scopes/0ne00API1", { token: admin })).status).toBe(409);
    const detail = await t.request("GET", "/v1/scopes/0ne00API1", { token: auditor });
    expect(detail.json).toMatchObject({ hubs: 1, enrollments: 1, groups: 2, registrations: 0 });

    const audit = await t.services.audit.list({ action: "dps.enrollment.update" }, null, 10);
    expect(audit.items[0]!.details).toMatchObject({ keysRegenerated: true });
    expect(JSON.stringify(audit.items)).not.toContain(rotated.json.keys.primaryKey);
  });

  it("confines a scoped token to its scope", async () => {
    const { admin } = t.tokens;
    await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: "0ne00MINE" } });
    await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: "0ne00THEIRS" } });
    await t.request("POST", "/v1/scopes/0ne00THEIRS/hubs", { token: admin, body: { name: "secret", hostName: "secret.example.net" } });
    const scoped = (await t.services.tokens.create({ role: "operator", name: "mine-op", scope: "0ne00MINE" }, "test")).secret;
    const list = await t.request("GET", "/v1/scopes", { token: scoped });
    expect(list.json.map((s: { idScope: string }) => s.idScope)).toEqual(["0ne00MINE"]);
    expect((await t.request("GET", "/v1/scopes/0ne00THEIRS", { token: scoped })).status).toBe(404);
    expect((await t.request("GET", "/v1/scopes/0ne00THEIRS/hubs", { token: scoped })).status).toBe(404);
    expect(
      (await t.request("POST", "/v1/scopes/0ne00THEIRS/hubs", { token: scoped, body: { name: "x", hostName: "x.example.net" } })).status,
    ).toBe(404);
    expect(
      (await t.request("POST", "/v1/scopes/0ne00MINE/hubs", { token: scoped, body: { name: "x", hostName: "x.example.net" } })).status,
    ).toBe(201);
    expect((await t.request("GET", "/v1/scopes/0ne00mine/hubs", { token: scoped })).json).toHaveLength(1);
  });

  it("the CLI prints the same with --server as locally", async () => {
    const env = { DPKI_HOME: `${t.dir}/data`, DPKI_PASSPHRASE: "test-passphrase" };
    const remote = ["--server", t.url, "--token", t.tokens.admin, "--ca-file", t.rootPemFile];
    const made = await dpkiAsync(["hub", "add", "cli-hub", "--host-name", "cli.example.net", "--scope", "0ne00API1", ...remote, "--json"], {
      env,
    });
    expect(made.status, made.stderr).toBe(0);
    const [viaServer, local] = await Promise.all([
      dpkiAsync(["hub", "list", "--scope", "0ne00API1", "--json", ...remote], { env }),
      dpkiAsync(["hub", "list", "--scope", "0ne00API1", "--json"], { env }),
    ]);
    expect(viaServer.status, viaServer.stderr).toBe(0);
    expect(viaServer.stdout).toBe(local.stdout);
    expect(JSON.parse(viaServer.stdout).map((h: { name: string }) => h.name)).toEqual(["cli-hub", "eu-1"]);
    const missing = await dpkiAsync(["enrollment", "show", "nobody", "--scope", "0ne00API1", ...remote], { env });
    expect(missing.status).toBe(66);
    const sensors = await dpkiAsync(["group", "derive-key", "sensors", "sensor-9", "--scope", "0ne00API1", "--json", ...remote], { env });
    expect(JSON.parse(sensors.stdout).registrationId).toBe("sensor-9");
  });
});
