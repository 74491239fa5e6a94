import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Store } from "../../src/store/store.js";
import type { AuditInput, CaRecord, CertificateRecord } from "../../src/store/records.js";
import { AppError } from "../../src/errors.js";
import { verifyChain } from "../../src/store/audit-chain.js";

/**
 * The behaviour every Store implementation must show. A new backend (PostgreSQL) runs this
 * same suite: `describeStoreContract("postgres", () => openPostgresStore(...))`.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  const t0 = new Date("2026-01-01T00:00:00.000Z");

  const ca = (id = "int-1"): CaRecord => ({
    id,
    kind: "intermediate",
    parentId: null,
    keyRef: "k-" + id,
    keyAlgorithm: "P-256",
    certDer: new Uint8Array(randomBytes(64)),
    subject: "CN=Test CA",
    subjectKeyId: "aa",
    notBefore: t0,
    notAfter: new Date("2036-01-01T00:00:00Z"),
    status: "active",
    createdAt: t0,
  });

  const cert = (overrides: Partial<CertificateRecord> = {}): CertificateRecord => ({
    serial: randomBytes(16).toString("hex"),
    sha256: randomBytes(32).toString("hex"),
    issuerCaId: "int-1",
    subject: "CN=dev",
    commonName: "dev",
    subjectAltNames: ["dns:dev.example"],
    notBefore: t0,
    notAfter: new Date("2027-01-01T00:00:00Z"),
    profile: "device",
    requester: "tester",
    scope: null,
    status: "good",
    revokedAt: null,
    revocationReason: null,
    der: new Uint8Array(randomBytes(300)),
    createdAt: t0,
    ...overrides,
  });

  const audit = (action: string, serial?: string): AuditInput => ({ at: t0, actor: "tester", action, serial });

  async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
    const store = await open();
    try {
      await store.insertCas([ca()], [audit("ca.create")]);
      await fn(store);
    } finally {
      await store.close();
    }
  }

  async function auditCount(store: Store): Promise<number> {
    let n = 0;
    for await (const batch of store.auditEntries()) n += batch.length;
    return n;
  }

  describe(`Store contract: ${name}`, () => {
    it("stores a certificate with its audit entry and reads it back by serial and thumbprint", () =>
      withStore(async (store) => {
        const c = cert();
        await store.insertCertificates([{ cert: c, audit: audit("cert.issue", c.serial) }]);
        expect(await store.getCertificate({ serial: c.serial })).toEqual(c);
        expect(await store.getCertificate({ sha256: c.sha256 })).toEqual(c);
        expect(await store.getCertificate({ serial: "00" })).toBeNull();
        const page = await store.listAudit({ serial: c.serial }, { limit: 10 });
        expect(page.items.map((e) => e.action)).toEqual(["cert.issue"]);
      }));

    it("refuses a duplicate serial, inserting nothing of the batch", () =>
      withStore(async (store) => {
        const a = cert();
        await store.insertCertificates([{ cert: a, audit: audit("cert.issue") }]);
        const before = await auditCount(store);
        const fresh = cert();
        const clash = cert({ serial: a.serial });
        await expect(
          store.insertCertificates([
            { cert: fresh, audit: audit("cert.issue") },
            { cert: clash, audit: audit("cert.issue") },
          ]),
        ).rejects.toMatchObject({ code: "conflict" });
        expect(await store.getCertificate({ serial: fresh.serial })).toBeNull();
        expect(await auditCount(store)).toBe(before);
      }));

    it("chains the next batch on the last committed entry after a refused one", () =>
      withStore(async (store) => {
        const a = cert();
        await store.insertCertificates([{ cert: a, audit: audit("cert.issue", a.serial) }]);
        const clash = cert({ sha256: a.sha256 });
        await expect(
          store.insertCertificates([cert(), clash].map((c) => ({ cert: c, audit: audit("cert.issue", c.serial) }))),
        ).rejects.toMatchObject({ code: "conflict" });
        const next = [cert(), cert()];
        await store.insertCertificates(next.map((c) => ({ cert: c, audit: audit("cert.issue", c.serial) })));
        expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true, entries: 4 });
      }));

    it("revokes once, refuses a second revocation, and never un-revokes", () =>
      withStore(async (store) => {
        const c = cert();
        await store.insertCertificates([{ cert: c, audit: audit("cert.issue") }]);
        const at = new Date("2026-02-01T00:00:00Z");
        const revoked = await store.revokeCertificate(c.serial, "keyCompromise", at, audit("cert.revoke", c.serial));
        expect(revoked).toMatchObject({ status: "revoked", revocationReason: "keyCompromise", revokedAt: at });
        const before = await auditCount(store);
        const again = store.revokeCertificate(c.serial, "superseded", new Date(), audit("cert.revoke", c.serial));
        await expect(again).rejects.toMatchObject({ code: "already_revoked" });
        expect(await auditCount(store)).toBe(before);
        expect((await store.getCertificate({ serial: c.serial }))!.revocationReason).toBe("keyCompromise");
        await expect(store.revokeCertificate("abcd", "unspecified", at, audit("cert.revoke"))).rejects.toBeInstanceOf(AppError);
      }));

    it("lists with filters and cursor pagination", () =>
      withStore(async (store) => {
        const now = new Date("2026-06-01T00:00:00Z");
        const items = [
          cert({ subject: "CN=alpha", notAfter: new Date("2026-06-10T00:00:00Z") }),
          cert({ subject: "CN=beta", notAfter: new Date("2027-06-10T00:00:00Z") }),
          cert({ subject: "CN=gamma", notAfter: new Date("2026-05-01T00:00:00Z") }),
          cert({ subject: "CN=Alphabet", profile: "gateway" }),
        ];
        await store.insertCertificates(items.map((c) => ({ cert: c, audit: audit("cert.issue") })));
        await store.revokeCertificate(items[1]!.serial, "superseded", now, audit("cert.revoke"));
        const subjects = async (filter: Parameters<Store["listCertificates"]>[0]) =>
          (await store.listCertificates(filter, { limit: 100 }, now)).items.map((c) => c.subject);
        expect(await subjects({ subject: "alpha" })).toEqual(["CN=alpha", "CN=Alphabet"]);
        expect(await subjects({ status: "revoked" })).toEqual(["CN=beta"]);
        expect(await subjects({ status: "expired" })).toEqual(["CN=gamma"]);
        expect(await subjects({ status: "good" })).toEqual(["CN=alpha", "CN=Alphabet"]);
        expect(await subjects({ expiringBefore: new Date("2026-07-01T00:00:00Z") })).toEqual(["CN=alpha"]);
        expect(await subjects({ profile: "gateway" })).toEqual(["CN=Alphabet"]);

        const first = await store.listCertificates({}, { limit: 3 }, now);
        expect(first.items).toHaveLength(3);
        expect(first.nextCursor).not.toBeNull();
        const second = await store.listCertificates({}, { limit: 3, after: first.nextCursor }, now);
        expect(second.items.map((c) => c.subject)).toEqual(["CN=Alphabet"]);
        expect(second.nextCursor).toBeNull();
        await expect(store.listCertificates({}, { limit: 3, after: "bogus!" }, now)).rejects.toMatchObject({ code: "invalid_argument" });
      }));

    it("iterates revoked serials of one issuer in batches", () =>
      withStore(async (store) => {
        const certs = Array.from({ length: 25 }, () => cert());
        await store.insertCertificates(certs.map((c) => ({ cert: c, audit: audit("cert.issue") })));
        for (const c of certs.slice(0, 10)) await store.revokeCertificate(c.serial, "cessationOfOperation", t0, audit("cert.revoke"));
        const seen: string[] = [];
        for await (const batch of store.revokedSerials("int-1")) seen.push(...batch.map((r) => r.serial));
        expect(seen).toEqual(
          certs
            .slice(0, 10)
            .map((c) => c.serial)
            .sort(),
        );
        const none: string[] = [];
        for await (const batch of store.revokedSerials("other")) none.push(...batch.map((r) => r.serial));
        expect(none).toEqual([]);
      }));

    it("keeps CRL numbers strictly increasing", () =>
      withStore(async (store) => {
        const crl = (n: bigint) => ({ issuerCaId: "int-1", number: n, thisUpdate: t0, nextUpdate: t0, entries: 0, der: randomBytes(10) });
        await store.insertCrl(crl(1n), audit("crl.publish"));
        await store.insertCrl(crl(2n), audit("crl.publish"));
        await expect(store.insertCrl(crl(2n), audit("crl.publish"))).rejects.toMatchObject({ code: "conflict" });
        expect((await store.latestCrl("int-1"))!.number).toBe(2n);
        expect(await store.latestCrlNumber("int-1")).toBe(2n);
        expect(await store.latestCrl("nope")).toBeNull();
        expect(await store.latestCrlNumber("nope")).toBeNull();
      }));

    it("chains every audit entry so the log verifies", () =>
      withStore(async (store) => {
        for (let i = 0; i < 5; i++)
          await store.appendAudit({ at: t0, actor: "a", action: "x", details: { i, nested: { b: 1, a: [1, 2] } } });
        const verdict = await verifyChain(store.auditEntries());
        expect(verdict).toMatchObject({ ok: true, entries: 6 });
      }));

    it("switches the active intermediate", () =>
      withStore(async (store) => {
        await store.insertCas([{ ...ca("int-2"), status: "retired" }], [audit("ca.create")]);
        await store.activateCa("int-2", audit("ca.activate"));
        const cas = await store.listCas();
        expect(cas.find((c) => c.id === "int-2")!.status).toBe("active");
        expect(cas.find((c) => c.id === "int-1")!.status).toBe("retired");
        await expect(store.activateCa("missing", audit("ca.activate"))).rejects.toMatchObject({ code: "not_found" });
      }));
  });
}
