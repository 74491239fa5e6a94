import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CertificateRecord } from "../../src/store/records.js";
import type { HubPolicyRecord, OcspSignerRecord, SupersessionRecord } from "../../src/store/lifecycle-store.js";
import {
  audit,
  caRecord,
  certRecord,
  expectAudited,
  expectRefused,
  issue,
  t0,
  withStores,
  type OpenStoreSet,
  type StoreSet,
} from "./store-set.js";
import { SCOPE, enrollmentRecord, hubRecord, registerAudit, registrationRecord, scopeRecord } from "./dps-store-contract.js";

const hour = 3_600_000;
const at = (ms: number) => new Date(t0.getTime() + ms);

/** One log entry per certificate a cascade revokes, as the services write them. */
const certAudit = (cert: Pick<CertificateRecord, "serial" | "subject" | "sha256" | "profile">) =>
  audit("cert.revoke", { serial: cert.serial, subject: cert.subject, profile: cert.profile, details: { sha256: cert.sha256 } });

const requester = (registrationId: string) => `dps:${SCOPE}/${registrationId}`;

/** A root and its active intermediate "int-1". */
async function withCas(s: StoreSet): Promise<void> {
  await s.store.insertCas([caRecord("root-1", { kind: "root" }), caRecord("int-1", { parentId: "root-1" })], [audit("ca.create")]);
}

/** A scope with hubs hub-a and hub-b. */
async function withHubs(s: StoreSet): Promise<void> {
  await s.dps.insertScope(scopeRecord(), audit("dps.scope.create"));
  await s.dps.insertHub(hubRecord("hub-a"), audit("dps.hub.create"));
  await s.dps.insertHub(hubRecord("hub-b"), audit("dps.hub.create"));
}

async function register(s: StoreSet, registrationId: string, overrides: Parameters<typeof registrationRecord>[1] = {}) {
  const reg = registrationRecord(registrationId, overrides);
  await s.dps.saveRegistrations([{ registration: reg, audit: registerAudit(reg) }]);
  return reg;
}

/** The behaviour every LifecycleStore implementation must show (run with each backend's StoreSet). */
export function describeLifecycleStoreContract(name: string, open: OpenStoreSet): void {
  describe(`LifecycleStore contract: ${name}`, () => {
    it("rotates the CA in one transaction: new CAs, cross certificates, one active intermediate", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        const root2 = caRecord("root-2", { kind: "root" });
        const int2 = caRecord("int-2", { parentId: "root-2", status: "retired" });
        const cross = {
          caId: "root-2",
          issuerCaId: "root-1",
          serial: "4c01",
          certDer: new Uint8Array(randomBytes(50)),
          notBefore: t0,
          notAfter: at(1000 * hour),
          createdAt: t0,
        };
        await expectRefused(store, "not_found", () =>
          lifecycle.rotateCa({ cas: [root2, int2], crossCertificates: [cross], activate: "int-9", audit: [audit("ca.rotate")] }),
        );
        await expectRefused(store, "not_found", () =>
          lifecycle.rotateCa({ cas: [root2, int2], crossCertificates: [], activate: "root-2", audit: [audit("ca.rotate")] }),
        );
        expect((await store.listCas()).map((c) => c.id).sort()).toEqual(["int-1", "root-1"]);
        expect(await lifecycle.listCrossCertificates()).toEqual([]);

        await expectAudited(store, ["ca.create", "ca.rotate"], () =>
          lifecycle.rotateCa({
            cas: [root2, int2],
            crossCertificates: [cross],
            activate: "int-2",
            audit: [audit("ca.create"), audit("ca.rotate")],
          }),
        );
        const status = Object.fromEntries((await store.listCas()).map((c) => [c.id, c.status]));
        expect(status).toEqual({ "root-1": "active", "int-1": "retired", "root-2": "active", "int-2": "active" });
        expect(await lifecycle.listCrossCertificates()).toEqual([cross]);
        await expectRefused(store, "conflict", () =>
          lifecycle.rotateCa({ cas: [caRecord("int-1")], crossCertificates: [], activate: "int-1", audit: [audit("ca.rotate")] }),
        );
        expect((await store.listCas()).find((c) => c.id === "int-1")!.status).toBe("retired");
      }));

    it("answers the last expiry of an issuer's certificates, revoked ones included", () =>
      withStores(open, async (s) => {
        await withCas(s);
        expect(await s.lifecycle.lastCertificateExpiry("int-1")).toBeNull();
        const [late] = await issue(s.store, certRecord({ notAfter: new Date("2030-01-01T00:00:00Z") }), certRecord());
        await s.store.revokeCertificate(late!.serial, "keyCompromise", t0, audit("cert.revoke"));
        expect(await s.lifecycle.lastCertificateExpiry("int-1")).toEqual(new Date("2030-01-01T00:00:00Z"));
        expect(await s.lifecycle.lastCertificateExpiry("root-1")).toBeNull();
      }));

    it("revokes a CA with every good certificate it issued, one entry each, once", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        await store.insertCas([caRecord("int-2", { parentId: "root-1", status: "retired" })], [audit("ca.create")]);
        const good = await issue(store, certRecord(), certRecord(), certRecord());
        const [earlier] = await issue(store, certRecord());
        const [elsewhere] = await issue(store, certRecord({ issuerCaId: "int-2" }));
        await store.revokeCertificate(earlier!.serial, "keyCompromise", t0, audit("cert.revoke"));

        const revocation = { caId: "int-1", revokedAt: at(hour), reason: "cACompromise" as const, revokedBy: "admin" };
        const result = await expectAudited(store, ["cert.revoke", "cert.revoke", "cert.revoke", "ca.revoke"], () =>
          lifecycle.revokeCa(revocation, audit("ca.revoke", { details: { caId: "int-1" } }), certAudit),
        );
        expect(result).toEqual({ revoked: 3 });
        const page = await store.listAudit({ action: "ca.revoke" }, { limit: 10 });
        expect(page.items[0]!.details).toEqual({ caId: "int-1", certificatesRevoked: 3 });
        const logged = (await store.listAudit({ action: "cert.revoke" }, { limit: 10 })).items.map((e) => e.serial);
        expect(logged.slice(1).sort()).toEqual(good.map((c) => c.serial).sort());
        for (const c of good) {
          expect(await store.getCertificate({ serial: c.serial })).toMatchObject({
            status: "revoked",
            revocationReason: "cACompromise",
            revokedAt: at(hour),
          });
        }
        expect(await store.getCertificate({ serial: earlier!.serial })).toMatchObject({ revocationReason: "keyCompromise", revokedAt: t0 });
        expect((await store.getCertificate({ serial: elsewhere!.serial }))!.status).toBe("good");
        expect(await lifecycle.caRevocations()).toEqual([revocation]);

        await expectRefused(store, "already_revoked", () =>
          lifecycle.revokeCa({ ...revocation, revokedAt: at(2 * hour) }, audit("ca.revoke"), certAudit),
        );
        await expectRefused(store, "not_found", () => lifecycle.revokeCa({ ...revocation, caId: "int-9" }, audit("ca.revoke"), certAudit));
        expect(await lifecycle.caRevocations()).toEqual([revocation]);
        // A CA with nothing to revoke still records its own revocation.
        expect(await lifecycle.revokeCa({ ...revocation, caId: "root-1" }, audit("ca.revoke"), certAudit)).toEqual({ revoked: 0 });
      }));

    it("keeps OCSP responder certificates and answers the longest-lived one", () =>
      withStores(open, async (s) => {
        await withCas(s);
        const signer = (serial: string, notAfter: Date): OcspSignerRecord => ({
          serial,
          issuerCaId: "int-1",
          keyRef: `ocsp-${serial}`,
          certDer: new Uint8Array(randomBytes(40)),
          notBefore: t0,
          notAfter,
          createdAt: t0,
        });
        expect(await s.lifecycle.latestOcspSigner("int-1")).toBeNull();
        const long = signer("4d02", at(200 * hour));
        await expectAudited(s.store, ["ocsp.signer.issue"], () =>
          s.lifecycle.insertOcspSigner(signer("4d01", at(100 * hour)), audit("ocsp.signer.issue")),
        );
        await s.lifecycle.insertOcspSigner(long, audit("ocsp.signer.issue"));
        await s.lifecycle.insertOcspSigner(signer("4d03", at(150 * hour)), audit("ocsp.signer.issue"));
        expect(await s.lifecycle.latestOcspSigner("int-1")).toEqual(long);
        expect(await s.lifecycle.latestOcspSigner("root-1")).toBeNull();
      }));

    it("schedules supersessions, answers the due ones oldest first, and completes each once", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        const [old1, new1, old2, new2, old3, new3] = await issue(store, ...Array.from({ length: 6 }, () => certRecord()));
        const record = (oldSerial: string, newSerial: string, supersedeAt: Date): SupersessionRecord => ({
          oldSerial,
          newSerial,
          supersedeAt,
          doneAt: null,
          createdAt: t0,
        });

        await expectAudited(store, ["cert.renew"], () =>
          lifecycle.scheduleSupersession(record(old1!.serial, new1!.serial, at(5 * hour)), audit("cert.renew")),
        );
        // A second renewal of the same certificate replaces the pending supersession.
        const first = record(old1!.serial, new1!.serial, at(2 * hour));
        await lifecycle.scheduleSupersession(first, audit("cert.renew"));
        expect(await lifecycle.pendingSupersession(old1!.serial)).toEqual(first);
        expect(await lifecycle.pendingSupersession(new1!.serial)).toBeNull();
        const second = record(old2!.serial, new2!.serial, at(hour));
        const third = record(old3!.serial, new3!.serial, at(3 * hour));
        await lifecycle.scheduleSupersession(second, audit("cert.renew"));
        await lifecycle.scheduleSupersession(third, audit("cert.renew"));

        expect(await lifecycle.dueSupersessions(at(hour - 1), 10)).toEqual([]);
        expect(await lifecycle.dueSupersessions(at(2 * hour), 10)).toEqual([second, first]);
        expect(await lifecycle.dueSupersessions(at(10 * hour), 1)).toEqual([second]);

        const supersede = (cert: CertificateRecord) => audit("cert.supersede", { serial: cert.serial });
        await expectAudited(store, [], async () =>
          expect(await lifecycle.completeSupersession(old1!.serial, at(hour), supersede)).toBeNull(),
        );
        expect(await lifecycle.pendingSupersession(old1!.serial)).toEqual(first);
        const revoked = await expectAudited(store, ["cert.supersede"], () =>
          lifecycle.completeSupersession(old1!.serial, at(4 * hour), supersede),
        );
        // Revoked as of its supersedeAt, not the moment the sweep got to it.
        expect(revoked).toMatchObject({ serial: old1!.serial, status: "revoked", revocationReason: "superseded", revokedAt: at(2 * hour) });
        expect(await store.getCertificate({ serial: old1!.serial })).toEqual(revoked);
        expect(await lifecycle.pendingSupersession(old1!.serial)).toBeNull();
        expect(await lifecycle.dueSupersessions(at(10 * hour), 10)).toEqual([second, third]);
        await expectAudited(store, [], async () =>
          expect(await lifecycle.completeSupersession(old1!.serial, at(5 * hour), supersede)).toBeNull(),
        );
        await expectRefused(store, "already_revoked", () =>
          lifecycle.scheduleSupersession(record(old1!.serial, new3!.serial, at(9 * hour)), audit("cert.renew")),
        );

        // Revoked meanwhile for another reason: completing only marks the supersession done.
        await store.revokeCertificate(old2!.serial, "keyCompromise", at(30 * 60_000), audit("cert.revoke"));
        await expectAudited(store, [], async () =>
          expect(await lifecycle.completeSupersession(old2!.serial, at(4 * hour), supersede)).toBeNull(),
        );
        expect(await lifecycle.pendingSupersession(old2!.serial)).toBeNull();
        expect(await store.getCertificate({ serial: old2!.serial })).toMatchObject({ revocationReason: "keyCompromise" });
        expect(await lifecycle.dueSupersessions(at(10 * hour), 10)).toEqual([third]);
        expect(await lifecycle.completeSupersession("4fff", at(10 * hour), supersede)).toBeNull();
        expect((await store.getCertificate({ serial: new1!.serial }))!.status).toBe("good");
      }));

    it("completes a supersession once and revokes a CA once, however many callers race", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        const [old, next] = await issue(store, certRecord(), certRecord());
        await lifecycle.scheduleSupersession(
          { oldSerial: old!.serial, newSerial: next!.serial, supersedeAt: at(hour), doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );
        const completions = await expectAudited(store, ["cert.supersede"], () =>
          Promise.all(
            Array.from({ length: 5 }, () =>
              lifecycle.completeSupersession(old!.serial, at(2 * hour), (c) => audit("cert.supersede", { serial: c.serial })),
            ),
          ),
        );
        expect(completions.filter((c) => c !== null).map((c) => c!.serial)).toEqual([old!.serial]);

        await issue(store, certRecord(), certRecord());
        const revocation = { caId: "int-1", revokedAt: at(hour), reason: "cACompromise" as const, revokedBy: "admin" };
        const results = await expectAudited(store, ["cert.revoke", "cert.revoke", "cert.revoke", "ca.revoke"], () =>
          Promise.allSettled(Array.from({ length: 4 }, () => lifecycle.revokeCa(revocation, audit("ca.revoke"), certAudit))),
        );
        expect(results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))).toEqual([{ revoked: 3 }]);
        expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
          Array(3).fill("already_revoked"),
        );
      }));

    it("keeps hub policies with their keys readable, unique per hub, removed with their hub or scope", () =>
      withStores(open, async (s) => {
        const { store, dps, lifecycle } = s;
        const policy = (hub: string, name: string, overrides: Partial<HubPolicyRecord> = {}): HubPolicyRecord => ({
          idScope: SCOPE,
          hub,
          name,
          rights: ["RegistryRead", "ServiceConnect"],
          primaryKey: randomBytes(32).toString("base64"),
          secondaryKey: randomBytes(32).toString("base64"),
          createdAt: t0,
          updatedAt: t0,
          rotatedAt: null,
          ...overrides,
        });
        await expectRefused(store, "not_found", () => lifecycle.insertHubPolicy(policy("hub-a", "service"), audit("hub.policy.create")));
        await withHubs(s);
        const service = policy("hub-a", "service");
        const registry = policy("hub-a", "registryReadWrite", { rights: ["RegistryRead", "RegistryWrite"] });
        await expectAudited(store, ["hub.policy.create"], () => lifecycle.insertHubPolicy(service, audit("hub.policy.create")));
        await lifecycle.insertHubPolicy(registry, audit("hub.policy.create"));
        await lifecycle.insertHubPolicy(policy("hub-b", "service"), audit("hub.policy.create"));
        await expectRefused(store, "not_found", () => lifecycle.insertHubPolicy(policy("hub-z", "service"), audit("hub.policy.create")));
        await expectRefused(store, "already_exists", () =>
          lifecycle.insertHubPolicy(policy("hub-a", "SERVICE"), audit("hub.policy.create")),
        );
        expect(await lifecycle.getHubPolicy(SCOPE, "HUB-A", "Service")).toEqual(service);
        expect(await lifecycle.getHubPolicy(SCOPE, "hub-a", "device")).toBeNull();
        expect(await lifecycle.listHubPolicies(SCOPE, "hub-a")).toEqual([registry, service]);

        const rotated = { ...service, primaryKey: randomBytes(32).toString("base64"), updatedAt: at(hour), rotatedAt: at(hour) };
        await expectAudited(store, ["key.rotate"], () => lifecycle.replaceHubPolicy(rotated, audit("key.rotate")));
        expect(await lifecycle.getHubPolicy(SCOPE, "hub-a", "service")).toEqual(rotated);
        await expectRefused(store, "not_found", () => lifecycle.replaceHubPolicy(policy("hub-a", "device"), audit("hub.policy.update")));
        await expectAudited(store, ["hub.policy.delete"], () =>
          lifecycle.deleteHubPolicy(SCOPE, "hub-a", "registryReadWrite", audit("hub.policy.delete")),
        );
        await expectRefused(store, "not_found", () =>
          lifecycle.deleteHubPolicy(SCOPE, "hub-a", "registryReadWrite", audit("hub.policy.delete")),
        );
        expect(await lifecycle.listHubPolicies(SCOPE, "hub-a")).toEqual([rotated]);

        await dps.deleteHub(SCOPE, "hub-a", audit("dps.hub.delete"));
        expect(await lifecycle.listHubPolicies(SCOPE, "hub-a")).toEqual([]);
        await dps.insertHub(hubRecord("hub-a"), audit("dps.hub.create"));
        expect(await lifecycle.getHubPolicy(SCOPE, "hub-a", "service")).toBeNull();
        await dps.deleteScope(SCOPE, audit("dps.scope.delete", { subject: SCOPE }));
        expect(await lifecycle.listHubPolicies(SCOPE, "hub-b")).toEqual([]);
      }));

    it("keeps a scope's SAS policy, replaced in place with its entry, removed with its scope", () =>
      withStores(open, async (s) => {
        const { store, dps, lifecycle } = s;
        const policy = {
          idScope: SCOPE,
          maxTtlSeconds: 86_400,
          defaultTtlSeconds: 3600,
          deviceKeys: true,
          signingPolicy: null,
          updatedAt: t0,
          updatedBy: "ops",
        };
        await expectRefused(store, "not_found", () => lifecycle.putSasPolicy(policy, audit("sas.policy.set")));
        await withHubs(s);
        expect(await lifecycle.getSasPolicy(SCOPE)).toBeNull();
        await expectAudited(store, ["sas.policy.set"], () => lifecycle.putSasPolicy(policy, audit("sas.policy.set")));
        expect(await lifecycle.getSasPolicy(SCOPE.toLowerCase())).toEqual(policy);
        const tighter = { ...policy, maxTtlSeconds: 900, defaultTtlSeconds: 300, deviceKeys: false, signingPolicy: "devices", updatedAt: at(hour) };
        // The scope as another caller spells it is still the one scope.
        await expectAudited(store, ["sas.policy.set"], () =>
          lifecycle.putSasPolicy({ ...tighter, idScope: SCOPE.toLowerCase() }, audit("sas.policy.set")),
        );
        expect(await lifecycle.getSasPolicy(SCOPE)).toEqual(tighter);
        await dps.deleteScope(SCOPE, audit("dps.scope.delete", { subject: SCOPE }));
        expect(await lifecycle.getSasPolicy(SCOPE)).toBeNull();
      }));

    it("finds a device by hub and device id, and its certificates along the renewal lineage", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        await withHubs(s);
        const reg = await register(s, "dev-a", {
          deviceId: "device-A",
          attestation: { method: "x509", thumbprint: "ab" },
          issuedSerial: "4a01",
        });
        await register(s, "dev-b", { assignedHub: "hub-b.azure-devices.net" });
        expect(await lifecycle.registrationByDevice(SCOPE, "HUB-A.azure-devices.net", "device-A")).toMatchObject({
          registrationId: "dev-a",
          deviceId: "device-A",
          assignedHub: reg.assignedHub,
          status: "assigned",
          attestation: { method: "x509", thumbprint: "ab" },
          issuedSerial: "4a01",
        });
        expect(await lifecycle.registrationByDevice(SCOPE, "hub-b.azure-devices.net", "device-A")).toBeNull();
        expect(await lifecycle.registration(SCOPE, "DEV-B")).toMatchObject({
          registrationId: "dev-b",
          enrollmentKind: "individual",
          enrollmentId: "dev-b",
        });
        expect(await lifecycle.registration(SCOPE, "dev-z")).toBeNull();

        const [c1] = await issue(store, certRecord({ serial: "4a01", requester: requester("dev-a") }));
        const [c2] = await issue(store, certRecord({ serial: "4a02", requester: "token:line" }));
        const [c3] = await issue(store, certRecord({ serial: "4a03", requester: "token:line" }));
        const [other] = await issue(store, certRecord({ serial: "4b01", requester: requester("dev-b") }));
        const [stranger] = await issue(store, certRecord({ serial: "4c01", requester: "token:line" }));
        await lifecycle.scheduleSupersession(
          { oldSerial: c1!.serial, newSerial: c2!.serial, supersedeAt: at(hour), doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );
        await lifecycle.scheduleSupersession(
          { oldSerial: c2!.serial, newSerial: c3!.serial, supersedeAt: at(hour), doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );

        expect((await lifecycle.deviceCertificates(SCOPE, "dev-a", 10)).map((c) => c.serial)).toEqual(["4a03", "4a02", "4a01"]);
        expect((await lifecycle.deviceCertificates(SCOPE, "DEV-A", 2)).map((c) => c.serial)).toEqual(["4a03", "4a02"]);
        expect(await lifecycle.deviceCertificates(SCOPE, "dev-b", 10)).toEqual([other]);
        expect(await lifecycle.deviceCertificates(SCOPE, "dev-z", 10)).toEqual([]);
        expect(await lifecycle.isDeviceCertificate(SCOPE, "dev-a", c3!.serial)).toBe(true);
        expect(await lifecycle.isDeviceCertificate(SCOPE, "dev-a", c1!.serial)).toBe(true);
        expect(await lifecycle.isDeviceCertificate(SCOPE, "dev-a", other!.serial)).toBe(false);
        expect(await lifecycle.isDeviceCertificate(SCOPE, "dev-a", stranger!.serial)).toBe(false);
        expect(await lifecycle.isDeviceCertificate(SCOPE, "dev-a", "4fff")).toBe(false);
      }));

    it("revokes an enrollment in one transaction: block, disable, every device certificate with its entry, once", () =>
      withStores(open, async (s) => {
        const { store, dps, lifecycle } = s;
        await withCas(s);
        await withHubs(s);
        const group = enrollmentRecord("group", "line-1");
        await dps.insertEnrollment(group, audit("dps.group.create"));
        await dps.insertEnrollment(enrollmentRecord("group", "line-2"), audit("dps.group.create"));
        await register(s, "dev-a", { enrollmentKind: "group", enrollmentId: "line-1" });
        await register(s, "dev-b", { enrollmentKind: "group", enrollmentId: "LINE-1" });
        await register(s, "dev-c", { enrollmentKind: "group", enrollmentId: "line-2" });
        const [a1, a2] = await issue(store, certRecord({ requester: requester("dev-a") }), certRecord({ requester: "token:renewal" }));
        await lifecycle.scheduleSupersession(
          { oldSerial: a1!.serial, newSerial: a2!.serial, supersedeAt: at(hour), doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );
        const [b1, b2] = await issue(store, certRecord({ requester: requester("dev-b") }), certRecord({ requester: requester("dev-b") }));
        await store.revokeCertificate(b2!.serial, "keyCompromise", t0, audit("cert.revoke"));
        const [c1] = await issue(store, certRecord({ requester: requester("dev-c") }));

        expect((await dps.groupsByAttestation(SCOPE, "symmetricKey")).map((g) => g.provisioningStatus)).toEqual(["enabled", "enabled"]);
        const block = {
          idScope: SCOPE,
          kind: "group" as const,
          id: "line-1",
          blockedAt: at(hour),
          reason: "cessationOfOperation",
          blockedBy: "admin",
        };
        const result = await expectAudited(store, ["cert.revoke", "cert.revoke", "cert.revoke", "enrollment.revoke"], () =>
          lifecycle.revokeEnrollment(
            block,
            audit("enrollment.revoke", { details: { idScope: SCOPE, kind: "group", id: "line-1" } }),
            certAudit,
          ),
        );
        expect(result).toEqual({ devices: 2, certificatesRevoked: 3 });
        const entry = (await store.listAudit({ action: "enrollment.revoke" }, { limit: 10 })).items[0]!;
        expect(entry.details).toEqual({ idScope: SCOPE, kind: "group", id: "line-1", devices: 2, certificatesRevoked: 3 });
        for (const c of [a1, a2, b1])
          expect(await store.getCertificate({ serial: c!.serial })).toMatchObject({ status: "revoked", revokedAt: at(hour) });
        expect(await store.getCertificate({ serial: b2!.serial })).toMatchObject({ revocationReason: "keyCompromise", revokedAt: t0 });
        expect((await store.getCertificate({ serial: c1!.serial }))!.status).toBe("good");

        const stored = (await dps.getEnrollment(SCOPE, "group", "line-1"))!;
        expect(stored.provisioningStatus).toBe("disabled");
        // A client holding the old etag must re-read before it can change the enrollment.
        expect(stored.etag).not.toBe(group.etag);
        await expect(dps.replaceEnrollment({ ...group, etag: "x" }, group.etag, audit("dps.group.update"))).rejects.toMatchObject({
          code: "conflict",
        });
        // The registration path's (cached) read of the groups sees the disabled group at once.
        expect((await dps.groupsByAttestation(SCOPE, "symmetricKey")).map((g) => [g.id, g.provisioningStatus])).toEqual([
          ["line-1", "disabled"],
          ["line-2", "enabled"],
        ]);
        expect(await lifecycle.enrollmentBlock(SCOPE, "group", "LINE-1")).toEqual(block);
        expect(await lifecycle.enrollmentBlock(SCOPE, "group", "line-2")).toBeNull();
        expect(await lifecycle.enrollmentBlock(SCOPE, "individual", "line-1")).toBeNull();

        await expectRefused(store, "already_revoked", () =>
          lifecycle.revokeEnrollment({ ...block, blockedAt: at(2 * hour) }, audit("enrollment.revoke"), certAudit),
        );
        await expectRefused(store, "not_found", () =>
          lifecycle.revokeEnrollment({ ...block, id: "line-9" }, audit("enrollment.revoke"), certAudit),
        );
        expect(await lifecycle.enrollmentBlock(SCOPE, "group", "line-9")).toBeNull();

        // A revocation is never lifted: not by deleting the group, nor its whole scope.
        await dps.deleteEnrollment(SCOPE, "group", "line-1", audit("dps.group.delete"));
        expect(await lifecycle.enrollmentBlock(SCOPE, "group", "line-1")).toEqual(block);
        await dps.deleteScope(SCOPE, audit("dps.scope.delete", { subject: SCOPE }));
        expect(await lifecycle.enrollmentBlock(SCOPE, "group", "line-1")).toEqual(block);
      }));

    it("derives each hub's change feed from the log, catching up once and paging by seq", () =>
      withStores(open, async (s) => {
        const { store, lifecycle } = s;
        await withCas(s);
        await withHubs(s);
        await s.dps.insertEnrollment(enrollmentRecord("individual", "dev-a"), audit("dps.enrollment.create"));
        await s.dps.insertEnrollment(enrollmentRecord("individual", "dev-b"), audit("dps.enrollment.create"));
        expect(await lifecycle.lastHubChange(SCOPE, "hub-a")).toBe(0);
        // A reader catches up before it reads; each catch-up reads what it has not seen yet, once.
        const step = async (change: () => Promise<unknown>) => {
          await change();
          await expectAudited(store, [], () => lifecycle.catchUpHubFeed(1000));
          expect(await lifecycle.catchUpHubFeed(1000)).toBe(0);
        };
        await step(() => register(s, "dev-a", { deviceId: "device-a" }));
        await step(() => register(s, "dev-b", { deviceId: "device-b" }));
        const [cert] = await issue(store, certRecord({ requester: requester("dev-a") }));
        await step(() => store.revokeCertificate(cert!.serial, "keyCompromise", at(hour), audit("cert.revoke", { serial: cert!.serial })));
        await step(() => register(s, "dev-b", { deviceId: "device-b", assignedHub: "hub-b.azure-devices.net" }));

        const changes = await lifecycle.hubChanges(SCOPE, "hub-a", 0, 100);
        expect(changes.map((c) => [c.kind, c.deviceId, c.registrationId])).toEqual([
          ["assigned", "device-a", "dev-a"],
          ["assigned", "device-b", "dev-b"],
          ["revoked", "device-a", "dev-a"],
          ["unassigned", "device-b", "dev-b"],
        ]);
        expect(changes[2]!.details).toMatchObject({ serial: cert!.serial });
        const seqs = changes.map((c) => c.seq);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(4);
        expect(changes.every((c) => c.idScope === SCOPE && c.hub.toLowerCase() === "hub-a" && c.auditSeq > 0)).toBe(true);
        expect(await lifecycle.lastHubChange(SCOPE, "hub-a")).toBe(seqs[3]);
        expect((await lifecycle.hubChanges(SCOPE, "hub-a", seqs[1]!, 1)).map((c) => c.seq)).toEqual([seqs[2]]);
        expect(await lifecycle.hubChanges(SCOPE, "hub-a", seqs[3]!, 10)).toEqual([]);
        expect((await lifecycle.hubChanges(SCOPE, "hub-b", 0, 10)).map((c) => [c.kind, c.deviceId])).toEqual([["assigned", "device-b"]]);
        expect(await lifecycle.hubChanges("0ne0000000", "hub-a", 0, 10)).toEqual([]);

        // Cascades and key rotations reach the feed too: each revoked certificate, then the disabled device.
        const [certB] = await issue(store, certRecord({ requester: requester("dev-b") }));
        const block = {
          idScope: SCOPE,
          kind: "individual" as const,
          id: "dev-b",
          blockedAt: at(2 * hour),
          reason: "keyCompromise",
          blockedBy: "admin",
        };
        await step(() =>
          lifecycle.revokeEnrollment(
            block,
            audit("enrollment.revoke", { details: { idScope: SCOPE, kind: "individual", id: "dev-b" } }),
            certAudit,
          ),
        );
        await step(() =>
          store.appendAudit(audit("key.rotate", { details: { target: "hubPolicy", idScope: SCOPE, hub: "hub-a", policy: "service" } })),
        );
        const hubB = await lifecycle.hubChanges(SCOPE, "hub-b", 0, 10);
        expect(hubB.map((c) => [c.kind, c.deviceId])).toEqual([
          ["assigned", "device-b"],
          ["revoked", "device-b"],
          ["disabled", "device-b"],
        ]);
        expect(hubB[1]!.details).toMatchObject({ serial: certB!.serial });
        const rotated = await lifecycle.hubChanges(SCOPE, "hub-a", seqs[3]!, 10);
        expect(rotated.map((c) => [c.kind, c.deviceId, c.details])).toEqual([["policyKeysRotated", null, { policy: "service" }]]);

        // Several changes read by one catch-up (at the latest) still leave each hub with the right devices.
        await s.dps.deleteRegistration(SCOPE, "dev-a", audit("dps.registration.delete", { subject: `${SCOPE}/dev-a` }));
        await register(s, "dev-b", { deviceId: "device-b" });
        // Caught up a bounded number of entries at a time, the backlog drains and ends.
        for (let rounds = 0; ; rounds++) {
          expect(rounds).toBeLessThanOrEqual(2);
          const read = await lifecycle.catchUpHubFeed(1);
          expect(read).toBeLessThanOrEqual(1);
          if (read === 0) break;
        }
        const devicesOn = async (hub: string) => {
          const present = new Set<string>();
          for (const c of await lifecycle.hubChanges(SCOPE, hub, 0, 100)) {
            if (c.kind === "assigned") present.add(c.deviceId!);
            if (c.kind === "unassigned") present.delete(c.deviceId!);
          }
          return [...present];
        };
        expect(await devicesOn("hub-a")).toEqual(["device-b"]);
        expect(await devicesOn("hub-b")).toEqual([]);
      }));

    it("tells a hub its devices are gone when the hub or the whole scope is deleted", () =>
      withStores(open, async (s) => {
        const { dps, lifecycle } = s;
        await withHubs(s);
        await register(s, "dev-a", { deviceId: "device-a" });
        await register(s, "dev-b", { deviceId: "device-b", assignedHub: "hub-b.azure-devices.net" });
        await lifecycle.catchUpHubFeed(1000);
        const kinds = async (hub: string) => (await lifecycle.hubChanges(SCOPE, hub, 0, 100)).map((c) => [c.kind, c.deviceId]);

        await dps.deleteHub(SCOPE, "hub-a", audit("dps.hub.delete", { subject: `${SCOPE}/hub-a` }));
        await lifecycle.catchUpHubFeed(1000);
        expect(await kinds("hub-a")).toEqual([
          ["assigned", "device-a"],
          ["unassigned", "device-a"],
        ]);
        expect(await kinds("hub-b")).toEqual([["assigned", "device-b"]]);

        await dps.deleteScope(SCOPE, audit("dps.scope.delete", { subject: SCOPE }));
        await lifecycle.catchUpHubFeed(1000);
        expect(await kinds("hub-b")).toEqual([
          ["assigned", "device-b"],
          ["unassigned", "device-b"],
        ]);
        expect(await kinds("hub-a")).toHaveLength(2);
      }));
  });
}
