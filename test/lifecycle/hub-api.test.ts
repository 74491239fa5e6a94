/**
 * The hub-facing API and the symmetric-key lifecycle against the real server: hub policies,
 * key rotation (the rotation scenario), SAS tokens minted from stored keys, device-auth for SAS
 * tokens and certificate chains, enrollment and group revocation cascades, hub isolation and
 * the change feed. Devices register through the real DPS device listener.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSasToken, deriveDeviceKey, encodeUriComponentStrict } from "../../src/core/sas/sas.js";
import { dpkiAsync } from "../helpers/cli.js";
import { startTestServer, type TestServer } from "../http/harness.js";
import { deviceCall, deviceCsr, dpsToken, startListener } from "../dps/helpers.js";

const SCOPE = "0ne00HUBS1";
const HUB1 = "hub-1.hubs.example.net";
const HUB2 = "hub-2.hubs.example.net";
let t: TestServer;
let listener: { host: string; port: number; ca: string };
let hub2Token: string;
let scopedHub1Token: string;

const hour = () => Math.floor(Date.now() / 1000) + 3600;

async function api(method: string, path: string, token: string, body?: unknown) {
  return t.request(method, path, { token, ...(body === undefined ? {} : { body }) });
}

/** Registers a device through the DPS listener with a SAS token (and a CSR when given). */
async function register(registrationId: string, key: string, csr?: string) {
  const res = await deviceCall(listener, {
    path: `/${SCOPE}/registrations/${registrationId}/register?api-version=2025-07-01-preview`,
    body: JSON.stringify({ registrationId, ...(csr ? { csr } : {}) }),
    headers: { authorization: dpsToken(SCOPE, registrationId, key) },
  });
  expect(res.status, res.text).toBe(200);
  return res.json;
}

function deviceToken(host: string, deviceId: string, key: string, expiry = hour(), keyName: string | null = null) {
  return createSasToken({ resourceUri: encodeUriComponentStrict(`${host}/devices/${deviceId}`), key, keyName, expiry });
}

function auth(hub: string, body: unknown, token = t.tokens.hub) {
  return api("POST", `/v1/hubs/${hub}/device-auth`, token, body);
}

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), "dpki-hubapi-"));
  mkdirSync(join(base, "data"), { recursive: true });
  writeFileSync(join(base, "data", "config.json"), JSON.stringify({ renewalGrace: "1h" }));
  t = await startTestServer({ dir: base });
  const admin = t.tokens.admin;
  expect((await api("POST", "/v1/scopes", admin, { idScope: SCOPE, description: "hub API tests" })).status).toBe(201);
  expect((await api("POST", `/v1/scopes/${SCOPE}/hubs`, admin, { name: "hub-1", hostName: HUB1 })).status).toBe(201);
  expect((await api("POST", `/v1/scopes/${SCOPE}/hubs`, admin, { name: "hub-2", hostName: HUB2 })).status).toBe(201);
  hub2Token = (await t.services.tokens.create({ role: "hub", name: "hub-2-token", hub: "hub-2", scope: SCOPE }, "test")).secret;
  scopedHub1Token = (await t.services.tokens.create({ role: "hub", name: "hub-1-scoped", hub: HUB1, scope: SCOPE }, "test")).secret;
  const l = await startListener(t.services);
  listener = { host: l.host, port: l.port, ca: t.rootPem };
});
afterAll(() => t?.close());

describe("hub shared access policies", () => {
  it("are created with both keys shown once, listed without keys, updated, rotated and removed, all logged", async () => {
    const op = t.tokens.operator;
    const created = await api("POST", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, op, {
      name: "iothubowner",
      rights: ["DeviceConnect", "RegistryRead"],
    });
    expect(created.status, created.text).toBe(201);
    expect(created.headers["cache-control"]).toBe("no-store");
    expect(created.json.policy).toMatchObject({
      hub: "hub-1",
      name: "iothubowner",
      rights: ["RegistryRead", "DeviceConnect"],
      rotatedAt: null,
    });
    expect(Buffer.from(created.json.keys.primaryKey, "base64")).toHaveLength(32);
    expect(
      (await api("POST", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, op, { name: "iothubowner", rights: ["ServiceConnect"] })).status,
    ).toBe(409);
    expect((await api("POST", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, op, { name: "bad", rights: ["Everything"] })).status).toBe(400);
    expect((await api("POST", `/v1/scopes/${SCOPE}/hubs/nope/policies`, op, { name: "x", rights: ["ServiceConnect"] })).status).toBe(404);
    expect(
      (await api("POST", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, t.tokens.hub, { name: "x", rights: ["ServiceConnect"] })).status,
    ).toBe(403);

    const list = await api("GET", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, t.tokens.auditor);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.json)).not.toContain(created.json.keys.primaryKey);
    const shown = await api("GET", `/v1/scopes/${SCOPE}/hubs/hub-1/policies/IOTHUBOWNER`, t.tokens.auditor);
    expect(shown.json).not.toHaveProperty("keys");
    const updated = await api("PATCH", `/v1/scopes/${SCOPE}/hubs/hub-1/policies/iothubowner`, op, {
      rights: ["ServiceConnect", "DeviceConnect"],
    });
    expect(updated.json.rights).toEqual(["ServiceConnect", "DeviceConnect"]);

    const temp = await api("POST", `/v1/scopes/${SCOPE}/hubs/hub-1/policies`, op, { name: "temp", rights: ["ServiceConnect"] });
    expect(temp.status).toBe(201);
    expect((await api("DELETE", `/v1/scopes/${SCOPE}/hubs/hub-1/policies/temp`, op)).status).toBe(204);
    expect((await api("GET", `/v1/scopes/${SCOPE}/hubs/hub-1/policies/temp`, op)).status).toBe(404);
    const log = await api("GET", "/v1/audit?action=hub.policy.create", t.tokens.auditor);
    expect(log.json.items.length).toBe(2);
    expect(JSON.stringify(log.json)).not.toContain(created.json.keys.primaryKey);
  });
});

describe("key rotation: one named key regenerated, the other keeps working, swap, confirmation before refusing devices", () => {
  it("for an individual enrollment, through DPS registration and the hub API alike", async () => {
    const op = t.tokens.operator;
    const created = await api("POST", `/v1/scopes/${SCOPE}/enrollments`, op, {
      registrationId: "rot-dev",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    expect(created.status, created.text).toBe(201);
    const { primaryKey: p1, secondaryKey: s1 } = created.json.keys;
    await register("rot-dev", p1);
    const withPrimary = deviceToken(HUB1, "rot-dev", p1);
    const withSecondary = deviceToken(HUB1, "rot-dev", s1);
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withPrimary })).json).toMatchObject({ allow: true, reason: "ok" });
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withSecondary })).json.credential.keyIndex).toBe(1);
    const rotate = (body?: unknown) => api("POST", `/v1/scopes/${SCOPE}/enrollments/rot-dev/rotate-keys`, op, body);

    expect([400, 415]).toContain((await rotate()).status); // which key is never guessed
    const first = await rotate({ key: "secondary" });
    expect(first.status, first.text).toBe(200);
    expect(first.headers["cache-control"]).toBe("no-store");
    expect(first.json).toMatchObject({ key: "secondary", registrationsRefused: 0 });
    expect(first.json.primaryKey).toBeUndefined();
    const s2 = first.json.secondaryKey as string;
    expect([p1, s1]).not.toContain(s2);
    // The primary is untouched: its tokens (old ones included) stay valid; the new secondary works too.
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withPrimary })).json).toMatchObject({
      allow: true,
      credential: { keyIndex: 0 },
    });
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: deviceToken(HUB1, "rot-dev", s2) })).json).toMatchObject({
      allow: true,
      credential: { keyIndex: 1 },
    });
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withSecondary })).json).toMatchObject({
      allow: false,
      reason: "signature",
    });
    await register("rot-dev", p1);

    // Regenerating the primary would refuse the device that last registered with it: confirm first.
    const unconfirmed = await rotate({ key: "primary" });
    expect(unconfirmed.status).toBe(409);
    expect(unconfirmed.json).toMatchObject({ code: "confirmation_required", context: { registrationsRefused: 1, key: "primary" } });
    expect(unconfirmed.json.detail).toMatch(/^Individual enrollment rot-dev.*: 1 registration last authenticated with its primary key/);
    await register("rot-dev", p1); // nothing changed

    // Swap: both keep working; the device's key is now the secondary, and is still counted as in use.
    const swapped = await rotate({ key: "swap" });
    expect(swapped.status, swapped.text).toBe(200);
    expect(swapped.json.primaryKey ?? swapped.json.secondaryKey).toBeUndefined();
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withPrimary })).json).toMatchObject({
      allow: true,
      credential: { keyIndex: 1 },
    });
    expect((await rotate({ key: "secondary" })).json.context).toEqual({ registrationsRefused: 1, key: "secondary" });

    // Once the device registers with the new primary, the old key goes without confirmation.
    await register("rot-dev", s2);
    const retired = await rotate({ key: "secondary" });
    expect(retired.status, retired.text).toBe(200);
    expect(retired.json.registrationsRefused).toBe(0);
    expect((await auth("hub-1", { deviceId: "rot-dev", sasToken: withPrimary })).json).toMatchObject({ allow: false, reason: "signature" });
    const refused = await deviceCall(listener, {
      path: `/${SCOPE}/registrations/rot-dev/register?api-version=2019-03-31`,
      body: JSON.stringify({ registrationId: "rot-dev" }),
      headers: { authorization: dpsToken(SCOPE, "rot-dev", p1) },
    });
    expect(refused.status).toBe(401);

    // Logged, and the keys are never shown again.
    const log = await api("GET", "/v1/audit?action=key.rotate", t.tokens.auditor);
    const entries = log.json.items.filter((e: { subject: string }) => e.subject === `${SCOPE}/rot-dev`);
    expect(entries.map((e: { details: { key: string } }) => e.details.key)).toEqual(["secondary", "swap", "secondary"]);
    const shown = await api("GET", `/v1/scopes/${SCOPE}/enrollments/rot-dev`, op);
    expect(JSON.stringify(shown.json)).not.toContain(s2);
    for (const key of [p1, s1, s2, retired.json.secondaryKey]) expect(JSON.stringify(log.json)).not.toContain(key);
  });

  it("for a group, from the CLI: a device on the old primary keeps registering until the primary is regenerated with --yes", async () => {
    const cli = (...args: string[]) =>
      dpkiAsync(["--server", t.url, "--token", t.tokens.operator, "--ca-file", t.rootPemFile, ...args], { env: { DPKI_SCOPE: SCOPE } });
    const group = await api("POST", `/v1/scopes/${SCOPE}/groups`, t.tokens.operator, {
      groupId: "rot-fleet",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    expect(group.status, group.text).toBe(201);
    const deviceKey = (id: string) => deriveDeviceKey(group.json.keys.primaryKey, id);
    await register("fleet-1", deviceKey("fleet-1"));
    await register("fleet-2", deviceKey("fleet-2"));

    const secondary = await cli("key", "rotate", "--group", "rot-fleet", "--key", "secondary");
    expect(secondary.status, secondary.stderr).toBe(0);
    expect(secondary.stdout).toMatch(/new secondary key/);
    await register("fleet-1", deviceKey("fleet-1")); // the old primary still works

    const unconfirmed = await cli("key", "rotate", "--group", "rot-fleet", "--key", "primary");
    expect(unconfirmed.status).toBe(64);
    expect(unconfirmed.stderr).toMatch(
      /Enrollment group rot-fleet.*: 2 registrations last authenticated with its primary key.*\(pass --yes\)/,
    );
    await register("fleet-2", deviceKey("fleet-2"));

    const confirmed = await cli("--json", "key", "rotate", "--group", "rot-fleet", "--key", "primary", "--yes");
    expect(confirmed.status, confirmed.stderr).toBe(0);
    expect(JSON.parse(confirmed.stdout)).toMatchObject({ key: "primary", registrationsRefused: 2 });
    const refused = await deviceCall(listener, {
      path: `/${SCOPE}/registrations/fleet-1/register?api-version=2019-03-31`,
      body: JSON.stringify({ registrationId: "fleet-1" }),
      headers: { authorization: dpsToken(SCOPE, "fleet-1", deviceKey("fleet-1")) },
    });
    expect(refused.status).toBe(401);
    await register("fleet-4", deriveDeviceKey(JSON.parse(confirmed.stdout).primaryKey, "fleet-4"));
    expect((await cli("key", "swap", "--group", "rot-fleet")).status).toBe(0);
    await register("fleet-4", deriveDeviceKey(JSON.parse(confirmed.stdout).primaryKey, "fleet-4"));
  });

  it("for a hub policy, from the CLI (dpki hub policy add, dpki key rotate, dpki sas mint) against the server", async () => {
    const cli = (...args: string[]) =>
      dpkiAsync(["--json", "--server", t.url, "--token", t.tokens.operator, "--ca-file", t.rootPemFile, ...args], {
        env: { DPKI_SCOPE: SCOPE },
      });
    const added = await cli("hub", "policy", "add", "hub-2", "device-gw", "--rights", "DeviceConnect");
    expect(added.status, added.stderr).toBe(0);
    const keys = JSON.parse(added.stdout).keys;
    // A device on hub-2 for the policy to act for.
    const e = await api("POST", `/v1/scopes/${SCOPE}/enrollments`, t.tokens.operator, {
      registrationId: "gw-dev",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-2"] },
    });
    await register("gw-dev", e.json.keys.primaryKey);
    const policyToken = (key: string) => deviceToken(HUB2, "gw-dev", key, hour(), "device-gw");
    const oldToken = policyToken(keys.secondaryKey);
    expect((await auth("hub-2", { deviceId: "gw-dev", sasToken: oldToken }, hub2Token)).json.allow).toBe(true);

    const r1 = await cli("key", "swap", "--hub", "hub-2", "--policy", "device-gw");
    expect(r1.status, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout).target).toEqual({ kind: "hubPolicy", idScope: SCOPE, hub: "hub-2", policy: "device-gw" });
    expect((await auth("hub-2", { deviceId: "gw-dev", sasToken: oldToken }, hub2Token)).json.allow).toBe(true);
    const minted = await cli("sas", "mint", "--hub", "hub-2", "--policy", "device-gw", "--device", "gw-dev", "--secondary", "--ttl", "1h");
    expect(minted.status, minted.stderr).toBe(0);
    expect(JSON.parse(minted.stdout)).toMatchObject({ keyName: "device-gw", resource: encodeUriComponentStrict(`${HUB2}/devices/gw-dev`) });
    expect((await auth("hub-2", { deviceId: "gw-dev", sasToken: JSON.parse(minted.stdout).token }, hub2Token)).json.allow).toBe(true);

    expect((await cli("key", "rotate", "--hub", "hub-2", "--policy", "device-gw", "--key", "primary")).status).toBe(0);
    expect((await auth("hub-2", { deviceId: "gw-dev", sasToken: oldToken }, hub2Token)).json).toMatchObject({
      allow: false,
      reason: "signature",
    });

    // A policy without DeviceConnect cannot connect devices.
    await cli("hub", "policy", "update", "hub-2", "device-gw", "--rights", "ServiceConnect");
    expect((await auth("hub-2", { deviceId: "gw-dev", sasToken: JSON.parse(minted.stdout).token }, hub2Token)).json.reason).toMatch(
      /^(rights|signature)$/,
    );
  });
});

describe("SAS tokens minted from stored keys", () => {
  it("match what the SDK would make from the same keys: device (individual and group-derived), DPS registration, policy", async () => {
    const op = t.tokens.operator;
    const group = await api("POST", `/v1/scopes/${SCOPE}/groups`, op, {
      groupId: "mint-grp",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    expect(group.status, group.text).toBe(201);
    const derived = deriveDeviceKey(group.json.keys.primaryKey, "Mint:Dev-1");
    await register("Mint:Dev-1", derived);
    const expiry = 1893456000;
    const device = await api("POST", `/v1/scopes/${SCOPE}/sas-tokens`, op, { kind: "device", registrationId: "Mint:Dev-1", expiry });
    expect(device.status, device.text).toBe(200);
    expect(device.json.token).toBe(deviceToken(HUB1, "Mint:Dev-1", derived, expiry));
    const registration = await api("POST", `/v1/scopes/${SCOPE}/sas-tokens`, op, {
      kind: "registration",
      registrationId: "Mint:Dev-1",
      groupId: "mint-grp",
      expiry,
    });
    expect(registration.json.token).toBe(dpsToken(SCOPE, "Mint:Dev-1", derived, expiry));
    const secondary = await api("POST", `/v1/scopes/${SCOPE}/sas-tokens`, op, {
      kind: "device",
      registrationId: "Mint:Dev-1",
      expiry,
      secondary: true,
    });
    expect(secondary.json.token).toBe(deviceToken(HUB1, "Mint:Dev-1", deriveDeviceKey(group.json.keys.secondaryKey, "Mint:Dev-1"), expiry));
    expect(
      (await api("POST", `/v1/scopes/${SCOPE}/sas-tokens`, t.tokens.auditor, { kind: "device", registrationId: "Mint:Dev-1" })).status,
    ).toBe(403);
    expect((await api("POST", `/v1/scopes/${SCOPE}/sas-tokens`, op, { kind: "device", registrationId: "nobody" })).status).toBe(404);
    const log = await api("GET", "/v1/audit?action=sas.mint", t.tokens.auditor);
    expect(log.json.items.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(log.json)).not.toContain(device.json.token.split("sig=")[1].split("&")[0]);

    const cli = await dpkiAsync([
      "--server",
      t.url,
      "--token",
      t.tokens.operator,
      "--ca-file",
      t.rootPemFile,
      "sas",
      "mint",
      "--scope",
      SCOPE,
      "--registration-id",
      "Mint:Dev-1",
      "--expiry",
      String(expiry),
    ]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(device.json.token + "\n");
  });
});

describe("the hub API", () => {
  it("shows a hub only its own devices, never keys", async () => {
    const e = await api("POST", `/v1/scopes/${SCOPE}/enrollments`, t.tokens.operator, {
      registrationId: "iso-dev-2",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-2"] },
    });
    await register("iso-dev-2", e.json.keys.primaryKey);
    const mine = await api("GET", "/v1/hubs/hub-2/devices/iso-dev-2", hub2Token);
    expect(mine.status, mine.text).toBe(200);
    expect(mine.json).toMatchObject({
      hub: "hub-2",
      hostName: HUB2,
      deviceId: "iso-dev-2",
      enabled: true,
      authentication: { type: "symmetricKey", thumbprints: [] },
    });
    expect(JSON.stringify(mine.json)).not.toContain(e.json.keys.primaryKey);
    // By host name too.
    expect((await api("GET", `/v1/hubs/${HUB2}/devices/iso-dev-2`, hub2Token)).status).toBe(200);

    // hub-1's token: not hub-2's path, and hub-2's device is not on hub-1.
    expect((await api("GET", "/v1/hubs/hub-2/devices/iso-dev-2", t.tokens.hub)).status).toBe(403);
    expect((await api("GET", "/v1/hubs/hub-1/devices/iso-dev-2", t.tokens.hub)).status).toBe(404);
    expect((await api("GET", "/v1/hubs/hub-1/devices/iso-dev-2", scopedHub1Token)).status).toBe(404);
    const sas = deviceToken(HUB2, "iso-dev-2", e.json.keys.primaryKey);
    expect((await auth("hub-2", { deviceId: "iso-dev-2", sasToken: sas }, t.tokens.hub)).status).toBe(403);
    expect((await auth("hub-1", { deviceId: "iso-dev-2", sasToken: sas }, t.tokens.hub)).json).toMatchObject({
      allow: false,
      reason: "unknown_device",
    });
    const feed = await api("GET", "/v1/hubs/hub-1/changes", t.tokens.hub);
    expect(feed.json.items.some((c: { deviceId: string }) => c.deviceId === "iso-dev-2")).toBe(false);
    expect((await api("GET", "/v1/hubs/hub-2/changes", t.tokens.hub)).status).toBe(403);
    // Other roles: factory and auditor tokens cannot use the hub API.
    expect((await api("GET", "/v1/hubs/hub-2/devices/iso-dev-2", t.tokens.factory)).status).toBe(403);
    expect((await api("GET", "/v1/hubs/hub-2/devices/iso-dev-2", t.tokens.auditor)).status).toBe(403);
    expect((await t.request("GET", "/v1/hubs/hub-2/devices/iso-dev-2")).status).toBe(401);
  });

  it("answers device-auth with the reason and a cache lifetime bounded by the credential", async () => {
    const e = await api("POST", `/v1/scopes/${SCOPE}/enrollments`, t.tokens.operator, {
      registrationId: "auth-dev",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    const key = e.json.keys.primaryKey;
    await register("auth-dev", key);
    const soon = Math.floor(Date.now() / 1000) + 20;
    const ok = await auth("hub-1", { deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key, soon) });
    // The token's remaining life when the server answered, which was before now: not "at least 15 s".
    const answeredBy = Math.ceil(Date.now() / 1000);
    expect(ok.json).toMatchObject({ allow: true, reason: "ok", registrationId: "auth-dev", credential: { type: "sas", keyName: null } });
    expect(ok.json.cacheTtlSeconds).toBeGreaterThanOrEqual(soon - answeredBy);
    expect(ok.json.cacheTtlSeconds).toBeLessThanOrEqual(20);
    expect((await auth("hub-1", { deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key) })).json.cacheTtlSeconds).toBe(60);
    const cases: Array<[unknown, string]> = [
      [{ deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key, 1_000_000_000) }, "expired"],
      [{ deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", Buffer.alloc(32, 7).toString("base64")) }, "signature"],
      [{ deviceId: "auth-dev", sasToken: deviceToken(HUB2, "auth-dev", key) }, "resource"],
      [{ deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key, hour(), "nosuchpolicy") }, "key_name"],
      [{ deviceId: "auth-dev", sasToken: "SharedAccessSignature sr=x" }, "malformed"],
      [{ deviceId: "nobody", sasToken: deviceToken(HUB1, "nobody", key) }, "unknown_device"],
      [{ certificateChain: ["bm90IGEgY2VydA=="] }, "malformed"],
    ];
    for (const [body, reason] of cases) {
      const r = await auth("hub-1", body);
      expect(r.status, r.text).toBe(200);
      expect(r.json, JSON.stringify(body)).toMatchObject({ allow: false, reason, cacheTtlSeconds: 0 });
    }
    expect((await auth("hub-1", { sasToken: "x" })).status).toBe(400);
    expect((await auth("hub-1", { deviceId: "auth-dev", sasToken: "x", certificateChain: ["eA=="] })).status).toBe(400);
    expect((await auth("hub-1", { deviceId: "auth-dev", password: "x" })).status).toBe(400);

    // A disabled enrollment is refused at once, and allowed again when re-enabled.
    expect(
      (await api("PATCH", `/v1/scopes/${SCOPE}/enrollments/auth-dev`, t.tokens.operator, { provisioningStatus: "disabled" })).status,
    ).toBe(200);
    expect((await auth("hub-1", { deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key) })).json).toMatchObject({
      allow: false,
      reason: "disabled",
    });
    expect((await api("GET", "/v1/hubs/hub-1/devices/auth-dev", t.tokens.hub)).json).toMatchObject({
      enabled: false,
      disabledReason: "enrollmentDisabled",
    });
    await api("PATCH", `/v1/scopes/${SCOPE}/enrollments/auth-dev`, t.tokens.operator, { provisioningStatus: "enabled" });
    expect((await auth("hub-1", { deviceId: "auth-dev", sasToken: deviceToken(HUB1, "auth-dev", key) })).json.allow).toBe(true);
  });

  it("feeds assignments, moves, disables and revocations, resumable from a cursor", async () => {
    const op = t.tokens.operator;
    const start = (await api("GET", "/v1/hubs/hub-2/changes?limit=1000", hub2Token)).json.nextCursor as string;
    const e = await api("POST", `/v1/scopes/${SCOPE}/enrollments`, op, {
      registrationId: "mover",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    const key = e.json.keys.primaryKey;
    const { csr } = await deviceCsr("mover");
    await register("mover", key, csr);
    await api("PATCH", `/v1/scopes/${SCOPE}/enrollments/mover`, op, { allocation: { policy: "static", hubs: ["hub-2"] } });
    await register("mover", key);
    await api("PATCH", `/v1/scopes/${SCOPE}/enrollments/mover`, op, { provisioningStatus: "disabled" });
    const serial = (await api("GET", `/v1/scopes/${SCOPE}/registrations/mover`, op)).json.issuedSerial;
    await api("POST", `/v1/certificates/${serial}/revoke`, op, { reason: "keyCompromise" });

    const hub1 = await api("GET", "/v1/hubs/hub-1/changes?limit=1000", t.tokens.hub);
    const mine1 = hub1.json.items.filter((c: { registrationId: string }) => c.registrationId === "mover");
    expect(
      mine1.map((c: { kind: string; details: Record<string, unknown> }) => [c.kind, c.details.movedTo ?? c.details.movedFrom ?? null]),
    ).toEqual([
      ["assigned", null],
      ["unassigned", "hub-2"],
    ]);
    const hub2 = await api("GET", `/v1/hubs/hub-2/changes?after=${start}`, hub2Token);
    expect(hub2.json.items.map((c: { kind: string }) => c.kind)).toEqual(["assigned", "disabled", "revoked"]);
    expect(hub2.json.items[0].details).toMatchObject({ movedFrom: "hub-1", enabled: true });
    expect(hub2.json.items[2].details).toMatchObject({ serial, reason: "keyCompromise" });
    // Resume: nothing new after the last cursor, and the cursor comes back unchanged.
    const again = await api("GET", `/v1/hubs/hub-2/changes?after=${hub2.json.nextCursor}`, hub2Token);
    expect(again.json).toEqual({ items: [], nextCursor: hub2.json.nextCursor, more: false });
    const paged = await api("GET", `/v1/hubs/hub-2/changes?after=${start}&limit=1`, hub2Token);
    expect(paged.json.more).toBe(true);
    expect(paged.json.items).toHaveLength(1);
    expect((await api("GET", "/v1/hubs/hub-2/changes?after=%21%21", hub2Token)).status).toBe(400);
  });
});

describe("revocation cascades", () => {
  it("revoking an enrollment group refuses its devices everywhere and revokes their certificates, in one logged operation", async () => {
    const op = t.tokens.operator;
    const group = await api("POST", `/v1/scopes/${SCOPE}/groups`, op, {
      groupId: "doomed",
      attestation: { type: "symmetricKey" },
      allocation: { policy: "static", hubs: ["hub-1"] },
    });
    const chains: Record<string, string[]> = {};
    for (const id of ["doomed-1", "doomed-2"]) {
      const { csr } = await deviceCsr(id);
      const reg = await register(id, deriveDeviceKey(group.json.keys.primaryKey, id), csr);
      chains[id] = reg.registrationState.issuedCertificateChain;
      expect((await auth("hub-1", { certificateChain: chains[id] })).json).toMatchObject({
        allow: true,
        credential: { type: "x509", issuedByDpki: true },
      });
    }
    const auditBefore = (await api("GET", "/v1/audit/verify", t.tokens.auditor)).json.entries as number;
    const revoked = await api("POST", `/v1/scopes/${SCOPE}/groups/doomed/revoke`, op, { reason: "keyCompromise" });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json).toMatchObject({ kind: "group", id: "doomed", devices: 2, certificatesRevoked: 2, reason: "keyCompromise" });
    const auditAfter = (await api("GET", "/v1/audit/verify", t.tokens.auditor)).json;
    expect(auditAfter.ok).toBe(true);
    expect(auditAfter.entries - auditBefore).toBe(3); // two cert.revoke + one enrollment.revoke, one transaction

    const sas = deviceToken(HUB1, "doomed-1", deriveDeviceKey(group.json.keys.primaryKey, "doomed-1"));
    expect((await auth("hub-1", { deviceId: "doomed-1", sasToken: sas })).json).toMatchObject({ allow: false, reason: "revoked" });
    expect((await auth("hub-1", { certificateChain: chains["doomed-2"] })).json).toMatchObject({ allow: false, reason: "revoked" });
    const again = await deviceCall(listener, {
      path: `/${SCOPE}/registrations/doomed-1/register?api-version=2019-03-31`,
      body: JSON.stringify({ registrationId: "doomed-1" }),
      headers: { authorization: dpsToken(SCOPE, "doomed-1", deriveDeviceKey(group.json.keys.primaryKey, "doomed-1")) },
    });
    expect(again.json.status).toBe("disabled");
    expect((await api("GET", `/v1/scopes/${SCOPE}/groups/doomed`, op)).json.provisioningStatus).toBe("disabled");
    expect((await api("POST", `/v1/scopes/${SCOPE}/groups/doomed/revoke`, op, {})).status).toBe(409);
    expect((await api("POST", `/v1/scopes/${SCOPE}/groups/doomed/rotate-keys`, op, { key: "secondary" })).status).toBe(409);
    const feed = await api("GET", "/v1/hubs/hub-1/changes?limit=1000", t.tokens.hub);
    const kinds = feed.json.items
      .filter((c: { registrationId: string }) => c.registrationId === "doomed-1")
      .map((c: { kind: string }) => c.kind);
    expect(kinds).toEqual(["assigned", "revoked", "disabled"]);
  });
});
