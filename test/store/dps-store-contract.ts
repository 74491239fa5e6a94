import { describe, expect, it } from "vitest";
import type { EnrollmentRecord, HubRecord, RegistrationRecord, ScopeRecord } from "../../src/store/dps-records.js";
import type { DpsStore } from "../../src/store/dps-store.js";
import { audit, expectAudited, expectRefused, t0, withStores, type OpenStoreSet } from "./store-set.js";

export const SCOPE = "0ne000C0FFE";

export const scopeRecord = (idScope = SCOPE): ScopeRecord => ({ idScope, description: "test scope", createdAt: t0 });

export const hubRecord = (name: string, overrides: Partial<HubRecord> = {}): HubRecord => ({
  idScope: SCOPE,
  name,
  hostName: `${name}.azure-devices.net`,
  weight: 10,
  region: null,
  enabled: true,
  createdAt: t0,
  updatedAt: t0,
  ...overrides,
});

export const enrollmentRecord = (
  kind: "individual" | "group",
  id: string,
  overrides: Partial<EnrollmentRecord> = {},
): EnrollmentRecord => ({
  idScope: SCOPE,
  kind,
  id,
  attestation: {
    type: "symmetricKey",
    primaryKey: Buffer.from(`${id} primary`).toString("base64"),
    secondaryKey: Buffer.from(`${id} secondary`).toString("base64"),
  },
  provisioningStatus: "enabled",
  allowlists: { registrationIds: [], hardwareIds: [], sourceCidrs: [] },
  profile: "device",
  allocation: { policy: "hashed", hubs: [], webhookUrl: null, webhookTimeoutMs: 5000, regionNetworks: [] },
  reprovision: { updateHubAssignment: true, migrateDeviceData: true },
  deviceId: null,
  initialTwin: null,
  capabilities: { iotEdge: false },
  etag: `etag-${id}-1`,
  createdAt: t0,
  updatedAt: t0,
  ...overrides,
});

export const registrationRecord = (registrationId: string, overrides: Partial<RegistrationRecord> = {}): RegistrationRecord => ({
  idScope: SCOPE,
  registrationId,
  enrollmentKind: "individual",
  enrollmentId: registrationId,
  status: "assigned",
  substatus: "initialAssignment",
  assignedHub: "hub-a.azure-devices.net",
  initialHub: "hub-a.azure-devices.net",
  deviceId: registrationId,
  attestation: { method: "symmetricKey", keyIndex: 0 },
  etag: `etag-${registrationId}`,
  operationId: `op-${registrationId}`,
  issuedSerial: null,
  errorCode: null,
  errorMessage: null,
  payload: null,
  initialTwin: null,
  iotEdge: false,
  createdAt: t0,
  updatedAt: t0,
  ...overrides,
});

/** The action the services log for a registration, with the details the hub feed reads. */
export const registerAudit = (r: RegistrationRecord) =>
  audit("dps.register", { subject: `${r.idScope}/${r.registrationId}`, details: { idScope: r.idScope, registrationId: r.registrationId } });

async function withScope(dps: DpsStore): Promise<void> {
  await dps.insertScope(scopeRecord(), audit("dps.scope.create"));
}

/**
 * The behaviour every DpsStore implementation must show (run with each backend's StoreSet).
 * A scope is found by its id in any case; the services then pass the stored id to every other
 * method, whose own keys (hub names, enrollment and registration ids, host names) compare
 * case-insensitively.
 */
export function describeDpsStoreContract(name: string, open: OpenStoreSet): void {
  describe(`DpsStore contract: ${name}`, () => {
    it("stores scopes with their audit entry, finds them case-insensitively and refuses a duplicate", () =>
      withStores(open, async ({ store, dps }) => {
        await expectAudited(store, ["dps.scope.create"], () => dps.insertScope(scopeRecord(), audit("dps.scope.create")));
        const other = { ...scopeRecord("0ne000BEEF0"), createdAt: new Date(t0.getTime() + 1) };
        await dps.insertScope(other, audit("dps.scope.create"));
        expect(await dps.getScope(SCOPE)).toEqual(scopeRecord());
        expect(await dps.getScope(SCOPE.toLowerCase())).toEqual(scopeRecord());
        expect(await dps.getScope("0ne0000000")).toBeNull();
        expect((await dps.listScopes()).map((s) => s.idScope)).toEqual([SCOPE, other.idScope]);
        await expectRefused(store, "already_exists", () => dps.insertScope(scopeRecord(SCOPE.toLowerCase()), audit("dps.scope.create")));
        await expectRefused(store, "not_found", () => dps.deleteScope("0ne0000000", audit("dps.scope.delete")));
        expect(await dps.scopeContents(SCOPE)).toEqual({ hubs: 0, enrollments: 0, groups: 0, registrations: 0 });
      }));

    it("stores, replaces and deletes hubs; names and host names are unique within a scope", () =>
      withStores(open, async ({ store, dps }) => {
        await expectRefused(store, "not_found", () => dps.insertHub(hubRecord("hub-a"), audit("dps.hub.create")));
        await withScope(dps);
        await expectAudited(store, ["dps.hub.create"], () => dps.insertHub(hubRecord("hub-b"), audit("dps.hub.create")));
        await dps.insertHub(hubRecord("hub-a", { region: "westeurope", weight: 3 }), audit("dps.hub.create"));
        expect(await dps.getHub(SCOPE, "HUB-A")).toEqual(hubRecord("hub-a", { region: "westeurope", weight: 3 }));
        expect(await dps.getHub(SCOPE, "hub-z")).toBeNull();
        expect((await dps.listHubs(SCOPE)).map((h) => h.name)).toEqual(["hub-a", "hub-b"]);
        await expectRefused(store, "already_exists", () =>
          dps.insertHub(hubRecord("Hub-A", { hostName: "new.example" }), audit("dps.hub.create")),
        );
        await expectRefused(store, "already_exists", () =>
          dps.insertHub(hubRecord("hub-c", { hostName: "HUB-B.azure-devices.net" }), audit("dps.hub.create")),
        );

        const changed = hubRecord("hub-a", { enabled: false, weight: 7, region: null, updatedAt: new Date("2026-02-01T00:00:00Z") });
        await expectAudited(store, ["dps.hub.update"], () => dps.replaceHub(changed, audit("dps.hub.update")));
        expect(await dps.getHub(SCOPE, "hub-a")).toEqual(changed);
        // Cached reads see the change at once.
        expect((await dps.listHubs(SCOPE)).find((h) => h.name === "hub-a")).toEqual(changed);
        await expectRefused(store, "already_exists", () =>
          dps.replaceHub({ ...changed, hostName: "hub-b.azure-devices.net" }, audit("dps.hub.update")),
        );
        expect(await dps.getHub(SCOPE, "hub-a")).toEqual(changed);
        await expectRefused(store, "not_found", () => dps.replaceHub(hubRecord("hub-z"), audit("dps.hub.update")));

        await expectAudited(store, ["dps.hub.delete"], () => dps.deleteHub(SCOPE, "hub-a", audit("dps.hub.delete")));
        expect(await dps.getHub(SCOPE, "hub-a")).toBeNull();
        expect((await dps.listHubs(SCOPE)).map((h) => h.name)).toEqual(["hub-b"]);
        await expectRefused(store, "not_found", () => dps.deleteHub(SCOPE, "hub-a", audit("dps.hub.delete")));
      }));

    it("stores enrollments and groups with their keys readable, and replaces them only with the current etag", () =>
      withStores(open, async ({ store, dps }) => {
        const one = enrollmentRecord("individual", "device-1", { deviceId: "dev-1", initialTwin: { tags: { a: 1 } } });
        await expectRefused(store, "not_found", () => dps.insertEnrollment(one, audit("dps.enrollment.create")));
        await withScope(dps);
        await expectAudited(store, ["dps.enrollment.create"], () => dps.insertEnrollment(one, audit("dps.enrollment.create")));
        const group = enrollmentRecord("group", "device-1", {
          attestation: { type: "x509", caCertificates: ["-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"] },
        });
        await dps.insertEnrollment(group, audit("dps.group.create"));
        expect(await dps.getEnrollment(SCOPE, "individual", "DEVICE-1")).toEqual(one);
        expect(await dps.getEnrollment(SCOPE, "group", "device-1")).toEqual(group);
        expect(await dps.getEnrollment(SCOPE, "group", "device-2")).toBeNull();
        await expectRefused(store, "already_exists", () =>
          dps.insertEnrollment({ ...one, id: "Device-1" }, audit("dps.enrollment.create")),
        );

        const next = {
          ...one,
          provisioningStatus: "disabled" as const,
          etag: "etag-device-1-2",
          updatedAt: new Date("2026-02-01T00:00:00Z"),
        };
        await expectRefused(store, "conflict", () => dps.replaceEnrollment(next, "stale", audit("dps.enrollment.update")));
        expect(await dps.getEnrollment(SCOPE, "individual", "device-1")).toEqual(one);
        await expectAudited(store, ["dps.enrollment.update"], () => dps.replaceEnrollment(next, one.etag, audit("dps.enrollment.update")));
        expect(await dps.getEnrollment(SCOPE, "individual", "device-1")).toEqual(next);
        // The etag just replaced is stale now.
        await expectRefused(store, "conflict", () =>
          dps.replaceEnrollment({ ...next, etag: "etag-3" }, one.etag, audit("dps.enrollment.update")),
        );
        await expectRefused(store, "not_found", () =>
          dps.replaceEnrollment(enrollmentRecord("individual", "device-9"), "any", audit("dps.enrollment.update")),
        );

        await expectAudited(store, ["dps.enrollment.delete"], () =>
          dps.deleteEnrollment(SCOPE, "individual", "device-1", audit("dps.enrollment.delete")),
        );
        expect(await dps.getEnrollment(SCOPE, "individual", "device-1")).toBeNull();
        expect(await dps.getEnrollment(SCOPE, "group", "device-1")).toEqual(group);
        await expectRefused(store, "not_found", () =>
          dps.deleteEnrollment(SCOPE, "individual", "device-1", audit("dps.enrollment.delete")),
        );
      }));

    it("lets exactly one of concurrent replacements with the same etag win, and one of concurrent inserts", () =>
      withStores(open, async ({ store, dps }) => {
        const inserts = await expectAudited(store, ["dps.scope.create"], () =>
          Promise.allSettled(Array.from({ length: 5 }, () => dps.insertScope(scopeRecord(), audit("dps.scope.create")))),
        );
        expect(inserts.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(inserts.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
          Array(4).fill("already_exists"),
        );
        const one = enrollmentRecord("individual", "device-1");
        await dps.insertEnrollment(one, audit("dps.enrollment.create"));
        const writers = Array.from({ length: 5 }, (_, i) => ({ ...one, profile: `profile-${i}`, etag: `etag-writer-${i}` }));
        const results = await expectAudited(store, ["dps.enrollment.update"], () =>
          Promise.allSettled(writers.map((w) => dps.replaceEnrollment(w, one.etag, audit("dps.enrollment.update")))),
        );
        const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [writers[i]!] : []));
        expect(winners).toHaveLength(1);
        expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
          Array(4).fill("conflict"),
        );
        expect(await dps.getEnrollment(SCOPE, "individual", "device-1")).toEqual(winners[0]);
      }));

    it("pages enrollments of one kind in insertion order and finds groups by attestation type", () =>
      withStores(open, async ({ store, dps }) => {
        await withScope(dps);
        const ids = ["e-3", "e-1", "e-5", "e-2", "e-4"];
        for (const id of ids) await dps.insertEnrollment(enrollmentRecord("individual", id), audit("dps.enrollment.create"));
        const x509 = enrollmentRecord("group", "g-x509", { attestation: { type: "x509", caCertificates: [] } });
        await dps.insertEnrollment(enrollmentRecord("group", "g-sym"), audit("dps.group.create"));
        await dps.insertEnrollment(x509, audit("dps.group.create"));

        const seen: string[] = [];
        let after: string | null = null;
        const sizes: number[] = [];
        do {
          const page = await dps.listEnrollments(SCOPE, "individual", { limit: 2, after });
          seen.push(...page.items.map((e) => e.id));
          sizes.push(page.items.length);
          after = page.nextCursor;
        } while (after);
        expect(seen).toEqual(ids);
        expect(sizes).toEqual([2, 2, 1]);
        const all = await dps.listEnrollments(SCOPE, "group", { limit: 10 });
        expect(all).toEqual({ items: [enrollmentRecord("group", "g-sym"), x509], nextCursor: null });
        expect((await dps.listEnrollments("0ne0000000", "individual", { limit: 10 })).items).toEqual([]);
        await expectRefused(store, "invalid_argument", () => dps.listEnrollments(SCOPE, "individual", { limit: 2, after: "bogus!" }));

        expect((await dps.groupsByAttestation(SCOPE, "x509")).map((g) => g.id)).toEqual(["g-x509"]);
        expect((await dps.groupsByAttestation(SCOPE, "symmetricKey")).map((g) => g.id)).toEqual(["g-sym"]);
        // Cached reads see a new group at once.
        await dps.insertEnrollment(enrollmentRecord("group", "g-sym-2"), audit("dps.group.create"));
        expect((await dps.groupsByAttestation(SCOPE, "symmetricKey")).map((g) => g.id)).toEqual(["g-sym", "g-sym-2"]);
      }));

    it("saves registrations in one transaction with one entry each, upserts them, and refuses a whole batch on an unknown scope", () =>
      withStores(open, async ({ store, dps }) => {
        await withScope(dps);
        const a = registrationRecord("dev-a", { payload: { hello: "world" }, initialTwin: { tags: {} }, iotEdge: true });
        const b = registrationRecord("dev-b", {
          status: "failed",
          substatus: null,
          assignedHub: null,
          deviceId: null,
          errorCode: 401002,
          errorMessage: "Unauthorized",
        });
        await expectAudited(store, ["dps.register", "dps.register"], () =>
          dps.saveRegistrations([a, b].map((r) => ({ registration: r, audit: registerAudit(r) }))),
        );
        expect(await dps.getRegistration(SCOPE, "DEV-A")).toEqual(a);
        expect(await dps.getRegistration(SCOPE, "dev-b")).toEqual(b);
        expect(await dps.getRegistration(SCOPE, "dev-c")).toBeNull();

        const again = {
          ...a,
          etag: "etag-2",
          issuedSerial: "4abc",
          attestation: { method: "symmetricKey" as const, keyIndex: 1 },
          updatedAt: new Date("2026-03-01T00:00:00Z"),
        };
        await expectAudited(store, ["dps.register"], () => dps.saveRegistrations([{ registration: again, audit: registerAudit(again) }]));
        expect(await dps.getRegistration(SCOPE, "dev-a")).toEqual(again);

        const c = registrationRecord("dev-c");
        const stray = registrationRecord("dev-d", { idScope: "0ne0000000" });
        await expectRefused(store, "not_found", () =>
          dps.saveRegistrations([c, stray].map((r) => ({ registration: r, audit: registerAudit(r) }))),
        );
        expect(await dps.getRegistration(SCOPE, "dev-c")).toBeNull();

        await expectAudited(store, ["dps.registration.delete"], () =>
          dps.deleteRegistration(SCOPE, "Dev-B", audit("dps.registration.delete")),
        );
        expect(await dps.getRegistration(SCOPE, "dev-b")).toBeNull();
        await expectRefused(store, "not_found", () => dps.deleteRegistration(SCOPE, "dev-b", audit("dps.registration.delete")));
      }));

    it("lists registrations by status, hub, enrollment and kind, paging with cursors", () =>
      withStores(open, async ({ store, dps }) => {
        await withScope(dps);
        const regs = [
          registrationRecord("r-1", { enrollmentKind: "group", enrollmentId: "line-1" }),
          registrationRecord("r-2", { assignedHub: "hub-b.azure-devices.net", enrollmentKind: "group", enrollmentId: "line-1" }),
          registrationRecord("r-3", { status: "disabled" }),
          registrationRecord("r-4", { enrollmentKind: "group", enrollmentId: "line-2" }),
          registrationRecord("r-5", { status: "failed", assignedHub: null }),
        ];
        await dps.saveRegistrations(regs.map((r) => ({ registration: r, audit: registerAudit(r) })));
        const ids = async (filter: Parameters<DpsStore["listRegistrations"]>[1]) =>
          (await dps.listRegistrations(SCOPE, filter, { limit: 100 })).items.map((r) => r.registrationId);
        expect(await ids({})).toEqual(["r-1", "r-2", "r-3", "r-4", "r-5"]);
        expect(await ids({ status: "assigned" })).toEqual(["r-1", "r-2", "r-4"]);
        expect(await ids({ assignedHub: "HUB-B.azure-devices.net" })).toEqual(["r-2"]);
        expect(await ids({ enrollmentKind: "group" })).toEqual(["r-1", "r-2", "r-4"]);
        expect(await ids({ enrollmentId: "LINE-1" })).toEqual(["r-1", "r-2"]);
        expect(await ids({ enrollmentKind: "individual", status: "failed" })).toEqual(["r-5"]);
        expect((await dps.listRegistrations("0ne0000000", {}, { limit: 100 })).items).toEqual([]);

        const first = await dps.listRegistrations(SCOPE, { enrollmentKind: "group" }, { limit: 2 });
        expect(first.items.map((r) => r.registrationId)).toEqual(["r-1", "r-2"]);
        expect(first.nextCursor).not.toBeNull();
        const second = await dps.listRegistrations(SCOPE, { enrollmentKind: "group" }, { limit: 2, after: first.nextCursor });
        expect(second).toEqual({ items: [regs[3]], nextCursor: null });
        await expectRefused(store, "invalid_argument", () => dps.listRegistrations(SCOPE, {}, { limit: 2, after: "bogus!" }));
      }));

    it("counts what a scope holds and deletes it with everything in it, logging one entry", () =>
      withStores(open, async ({ store, dps }) => {
        await withScope(dps);
        await dps.insertScope(scopeRecord("0ne000BEEF0"), audit("dps.scope.create"));
        await dps.insertHub(hubRecord("hub-a"), audit("dps.hub.create"));
        await dps.insertHub(hubRecord("hub-b"), audit("dps.hub.create"));
        await dps.insertHub(hubRecord("hub-a", { idScope: "0ne000BEEF0" }), audit("dps.hub.create"));
        await dps.insertEnrollment(enrollmentRecord("individual", "dev-a"), audit("dps.enrollment.create"));
        await dps.insertEnrollment(enrollmentRecord("group", "line-1"), audit("dps.group.create"));
        await dps.insertEnrollment(enrollmentRecord("group", "line-2"), audit("dps.group.create"));
        const reg = registrationRecord("dev-a");
        await dps.saveRegistrations([{ registration: reg, audit: registerAudit(reg) }]);
        expect(await dps.scopeContents(SCOPE)).toEqual({ hubs: 2, enrollments: 1, groups: 2, registrations: 1 });
        expect(await dps.listHubs(SCOPE)).toHaveLength(2);
        expect(await dps.groupsByAttestation(SCOPE, "symmetricKey")).toHaveLength(2);

        await expectAudited(store, ["dps.scope.delete"], () => dps.deleteScope(SCOPE, audit("dps.scope.delete", { subject: SCOPE })));
        expect(await dps.getScope(SCOPE)).toBeNull();
        expect(await dps.scopeContents(SCOPE)).toEqual({ hubs: 0, enrollments: 0, groups: 0, registrations: 0 });
        expect(await dps.getHub(SCOPE, "hub-a")).toBeNull();
        expect(await dps.listHubs(SCOPE)).toEqual([]);
        expect(await dps.getEnrollment(SCOPE, "group", "line-1")).toBeNull();
        expect(await dps.groupsByAttestation(SCOPE, "symmetricKey")).toEqual([]);
        expect(await dps.getRegistration(SCOPE, "dev-a")).toBeNull();
        // The other scope keeps what it holds; the deleted one can be made again, empty.
        expect(await dps.getHub("0ne000BEEF0", "hub-a")).not.toBeNull();
        await dps.insertScope(scopeRecord(), audit("dps.scope.create"));
        expect(await dps.scopeContents(SCOPE)).toEqual({ hubs: 0, enrollments: 0, groups: 0, registrations: 0 });
      }));
  });
}
