/** Allocation policies and reprovisioning: hashed spread and stability, static, geoLatency, the custom webhook. */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { pickHashed } from "../../src/core/allocation/hashed.js";
import type { HubRecord } from "../../src/store/dps-records.js";
import { issueListenerCertificate } from "../../src/dps/listener-certificate.js";
import type { DpsService } from "../../src/core/dps/dps-service.js";
import { newOperationId } from "../../src/core/dps/dps-service.js";
import { ACTOR, dpsFixture, dpsToken, registrationService } from "./helpers.js";

function hub(name: string, weight: number, region: string | null = null): HubRecord {
  const now = new Date();
  return { idScope: "s", name, hostName: `${name}.example.net`, weight, region, enabled: true, createdAt: now, updatedAt: now };
}

describe("hashed allocation (weighted rendezvous)", () => {
  const hubs = [hub("north", 1), hub("south", 3), hub("east", 6)];
  const ids = Array.from({ length: 10_000 }, (_, i) => `device-${i.toString(36)}-${(i * 7919) % 10007}`);

  it("spreads 10,000 registration ids within 2% of the weights", () => {
    const counts = new Map<string, number>();
    for (const id of ids) {
      const h = pickHashed(id, hubs)!;
      counts.set(h.name, (counts.get(h.name) ?? 0) + 1);
    }
    for (const h of hubs) expect(Math.abs(counts.get(h.name)! / ids.length - h.weight / 10)).toBeLessThan(0.02);
  });

  it("is stable: the same id always lands on the same hub, whatever the hub order", () => {
    const reversed = [...hubs].reverse();
    for (const id of ids.slice(0, 2000)) expect(pickHashed(id, reversed)!.name).toBe(pickHashed(id, hubs)!.name);
    expect(pickHashed("Device-ABC", hubs)!.name).toBe(pickHashed("device-abc", hubs)!.name);
  });

  it("moves only the devices a new hub takes", () => {
    const grown = [...hubs, hub("west", 2)];
    let moved = 0;
    for (const id of ids) {
      const before = pickHashed(id, hubs)!.name;
      const after = pickHashed(id, grown)!.name;
      if (before !== after) {
        expect(after).toBe("west");
        moved++;
      }
    }
    expect(Math.abs(moved / ids.length - 2 / 12)).toBeLessThan(0.02);
  });
});

describe("allocation through the registration flow", async () => {
  const fx = await dpsFixture("0ne00ALLOC");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  for (const [name, weight, region] of [
    ["h1", 1, "eu"],
    ["h2", 1, "us"],
    ["h3", 2, "us"],
  ] as const) {
    await admin.createHub(idScope, { name, hostName: `${name}.example.net`, weight, region }, ACTOR);
  }

  // A loopback HTTPS webhook whose behaviour each test sets.
  let behaviour: (body: any, res: ServerResponse) => void = () => {};
  const seen: any[] = [];
  const cert = await issueListenerCertificate(services.issuance, ["127.0.0.1"], ACTOR);
  const webhook: Server = createServer({ key: cert.key, cert: cert.cert }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      seen.push({ body, headers: req.headers });
      behaviour(body, res);
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  afterAll(() => {
    webhook.closeAllConnections();
    return new Promise<void>((resolve) => webhook.close(() => resolve()));
  });
  const webhookUrl = `https://127.0.0.1:${(webhook.address() as { port: number }).port}/allocate?code=secret`;
  const dps: DpsService = registrationService(services, { ca: async () => [fx.rootPem] });

  const group = await admin.createEnrollment(idScope, "group", "fleet", { attestation: { type: "symmetricKey" } }, ACTOR);

  async function register(groupId: string, key: string, id: string, opts: { payload?: unknown; source?: string } = {}) {
    const derived = (await admin.deriveKey(idScope, groupId, id)).primaryKey;
    const device = await dps.admit(
      {
        idScope,
        registrationId: id,
        authorization: dpsToken(idScope, id, derived),
        clientCertificates: [],
        sourceAddress: opts.source ?? "10.1.2.3",
      },
      { payload: opts.payload },
    );
    expect(device.attestation.enrollment.id).toBe(groupId);
    return dps.register(device, { payload: opts.payload }, newOperationId());
  }

  it("hashed via the service: re-registration keeps each device on its hub", async () => {
    const first = new Map<string, string>();
    for (let i = 0; i < 60; i++)
      first.set(`dev-${i}`, (await register("fleet", group.keys!.primaryKey, `dev-${i}`)).registrationState.assignedHub as string);
    expect(new Set(first.values()).size).toBe(3);
    for (const [id, hubName] of first) {
      const again = await register("fleet", group.keys!.primaryKey, id);
      expect(again.registrationState).toMatchObject({ assignedHub: hubName, substatus: "initialAssignment" });
    }
  });

  it("static: the enrollment's hub", async () => {
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "static",
      { attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: ["h2"] } },
      ACTOR,
    );
    for (let i = 0; i < 5; i++)
      expect((await register("static", g.keys!.primaryKey, `st-${i}`)).registrationState.assignedHub).toBe("h2.example.net");
  });

  it("geoLatency: payload region first, then source network, hashed among ties", async () => {
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "geo",
      {
        attestation: { type: "symmetricKey" },
        allocation: { policy: "geoLatency", regionNetworks: [{ cidr: "192.0.2.0/24", region: "eu" }] },
      },
      ACTOR,
    );
    const k = g.keys!.primaryKey;
    expect((await register("geo", k, "geo-1", { payload: { region: "eu" } })).registrationState.assignedHub).toBe("h1.example.net");
    expect((await register("geo", k, "geo-2", { source: "192.0.2.77" })).registrationState.assignedHub).toBe("h1.example.net");
    const us = new Set<unknown>();
    for (let i = 0; i < 20; i++)
      us.add((await register("geo", k, `geo-us-${i}`, { payload: { region: "us" } })).registrationState.assignedHub);
    expect([...us].sort()).toEqual(["h2.example.net", "h3.example.net"]);
    expect(["h1.example.net", "h2.example.net", "h3.example.net"]).toContain(
      (await register("geo", k, "geo-x", { payload: { region: "mars" } })).registrationState.assignedHub,
    );
  });

  const custom = await admin.createEnrollment(
    idScope,
    "group",
    "custom",
    {
      attestation: { type: "symmetricKey" },
      allocation: { policy: "custom", webhookUrl, webhookTimeoutMs: 300, hubs: ["h1", "h3"] },
      initialTwin: { tags: { a: 1 } },
    },
    ACTOR,
  );

  it("custom: the webhook gets the DPS AllocationRequest and its answer assigns the device", async () => {
    behaviour = (body, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          iotHubHostName: "H3.example.net",
          initialTwin: { properties: { desired: { rate: 5 } } },
          payload: { hello: body.deviceRuntimeContext.registrationId },
        }),
      );
    };
    seen.length = 0;
    const out = await register("custom", custom.keys!.primaryKey, "cu-1", { payload: { modelId: "m" } });
    expect(out.status).toBe("assigned");
    expect(out.registrationState).toMatchObject({ assignedHub: "h3.example.net", payload: { hello: "cu-1" } });
    const request = seen[0].body;
    expect(request.enrollmentGroup).toMatchObject({
      enrollmentGroupId: "custom",
      attestation: { type: "symmetricKey" },
      allocationPolicy: "custom",
    });
    expect(JSON.stringify(request)).not.toContain(custom.keys!.primaryKey);
    expect(request.deviceRuntimeContext).toEqual({ registrationId: "cu-1", symmetricKey: {}, payload: { modelId: "m" } });
    expect(request.linkedHubs).toEqual(["h1.example.net", "h3.example.net"]);
    expect(seen[0].headers["content-type"]).toContain("application/json");
    const reg = await admin.getRegistration(idScope, "cu-1");
    expect(reg.initialTwin).toEqual({ properties: { desired: { rate: 5 } } });
    // On re-registration the webhook learns the current hub.
    await register("custom", custom.keys!.primaryKey, "cu-1");
    expect(seen[1].body.deviceRuntimeContext).toMatchObject({ currentIotHubHostName: "h3.example.net", currentDeviceId: "cu-1" });
  });

  const failures: Array<[string, (body: any, res: ServerResponse) => void, string]> = [
    ["a timeout", () => {}, "did not answer within 300 ms"],
    ["garbage", (_b, res) => (res.writeHead(200, { "content-type": "application/json" }), res.end("<html>not json")), "not JSON"],
    ["a JSON answer without a hub", (_b, res) => (res.writeHead(200), res.end('{"payload":1}')), "no iotHubHostName"],
    [
      "a hub that is not linked",
      (_b, res) => (res.writeHead(200), res.end('{"iotHubHostName":"h2.example.net"}')),
      "not a linked, enabled hub",
    ],
    ["an error status", (_b, res) => (res.writeHead(500), res.end("{}")), "status code: 500"],
    [
      "an oversize answer",
      (_b, res) => (res.writeHead(200), res.end(JSON.stringify({ iotHubHostName: "h1.example.net", pad: "x".repeat(100_000) }))),
      "exceeds",
    ],
  ];
  for (const [what, how, message] of failures) {
    it(`custom: ${what} gives a failed registration (400209), not a crash`, async () => {
      behaviour = how;
      const out = await register("custom", custom.keys!.primaryKey, "cu-fail");
      expect(out.status).toBe("failed");
      expect(out.registrationState).toMatchObject({ status: "failed", errorCode: 400209 });
      expect(out.registrationState.errorMessage).toContain(message);
      expect(out.registrationState.assignedHub).toBeUndefined();
      const reg = await admin.getRegistration(idScope, "cu-fail");
      expect(reg).toMatchObject({ status: "failed", errorCode: 400209 });
    });
  }

  it("custom: an unreachable webhook fails the registration too", async () => {
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "custom-down",
      { attestation: { type: "symmetricKey" }, allocation: { policy: "custom", webhookUrl: "https://127.0.0.1:1/x" } },
      ACTOR,
    );
    const out = await register("custom-down", g.keys!.primaryKey, "down-1");
    expect(out.registrationState).toMatchObject({ status: "failed", errorCode: 400209 });
    expect(out.registrationState.errorMessage).toContain("ECONNREFUSED");
  });

  it("no enabled hub gives a failed registration (400207)", async () => {
    await admin.createHub(idScope, { name: "off", hostName: "off.example.net", enabled: false }, ACTOR);
    const g = await admin.createEnrollment(
      idScope,
      "group",
      "nohub",
      { attestation: { type: "symmetricKey" }, allocation: { hubs: ["off"] } },
      ACTOR,
    );
    const out = await register("nohub", g.keys!.primaryKey, "lonely-1");
    expect(out.registrationState).toMatchObject({ status: "failed", errorCode: 400207 });
  });
});

describe("reprovision policies", async () => {
  const fx = await dpsFixture("0ne00REPRO");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  for (const name of ["a", "b", "c"]) await admin.createHub(idScope, { name, hostName: `${name}.example.net` }, ACTOR);
  const dps = services.dps.registrations;

  async function setup(id: string, reprovision: { updateHubAssignment: boolean; migrateDeviceData: boolean }) {
    const e = await admin.createEnrollment(
      idScope,
      "individual",
      id,
      { attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: ["a"] }, reprovision },
      ACTOR,
    );
    const register = async () => {
      const device = await dps.admit({
        idScope,
        registrationId: id,
        authorization: dpsToken(idScope, id, e.keys!.primaryKey),
        clientCertificates: [],
        sourceAddress: "10.0.0.1",
      });
      return (await dps.register(device, {}, newOperationId())).registrationState;
    };
    const moveTo = (hubName: string) => admin.updateEnrollment(idScope, "individual", id, { allocation: { hubs: [hubName] } }, {}, ACTOR);
    return { register, moveTo };
  }

  it("re-provision and migrate data: deviceDataMigrated, back to the first hub: reprovisionedToInitialAssignment", async () => {
    const d = await setup("mig-1", { updateHubAssignment: true, migrateDeviceData: true });
    expect(await d.register()).toMatchObject({ assignedHub: "a.example.net", substatus: "initialAssignment" });
    expect(await d.register()).toMatchObject({ assignedHub: "a.example.net", substatus: "initialAssignment" });
    await d.moveTo("b");
    expect(await d.register()).toMatchObject({ assignedHub: "b.example.net", substatus: "deviceDataMigrated" });
    await d.moveTo("a");
    expect(await d.register()).toMatchObject({ assignedHub: "a.example.net", substatus: "reprovisionedToInitialAssignment" });
  });

  it("re-provision and reset to initial config: deviceDataReset", async () => {
    const d = await setup("reset-1", { updateHubAssignment: true, migrateDeviceData: false });
    await d.register();
    await d.moveTo("c");
    expect(await d.register()).toMatchObject({ assignedHub: "c.example.net", substatus: "deviceDataReset" });
  });

  it("never re-provision: the device stays on its hub", async () => {
    const d = await setup("stay-1", { updateHubAssignment: false, migrateDeviceData: true });
    await d.register();
    await d.moveTo("b");
    expect(await d.register()).toMatchObject({ assignedHub: "a.example.net", substatus: "initialAssignment" });
  });
});
