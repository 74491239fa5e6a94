import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { KeyFacts, LiveCertificate } from "../../src/store/audit-check-store.js";
import { registrationRecord, scopeRecord, SCOPE } from "./dps-store-contract.js";
import { audit, caRecord, certRecord, issue, t0, withStores, type OpenStoreSet, type StoreSet } from "./store-set.js";

const now = new Date("2026-06-01T00:00:00.000Z");
const expired = new Date("2026-03-01T00:00:00.000Z");

const key = (spkiSha256: string | null = randomBytes(32).toString("hex")): KeyFacts => ({ spkiSha256, algorithm: "P-256", rsaBits: null });

async function withCa(s: StoreSet): Promise<void> {
  await s.store.insertCas([caRecord("root-1", { kind: "root" }), caRecord("int-1", { parentId: "root-1" })], [audit("ca.create")]);
}

async function live(s: StoreSet): Promise<LiveCertificate[]> {
  const all: LiveCertificate[] = [];
  for await (const batch of s.auditChecks.liveCertificates(now)) all.push(...batch);
  return all;
}

/** What every AuditCheckStore must answer: derived key facts caught up in commit order, and the checks' queries. */
export function describeAuditCheckStoreContract(name: string, open: OpenStoreSet): void {
  describe(`AuditCheckStore contract: ${name}`, () => {
    it("hands out certificates without key facts in commit order, until their facts are recorded (once)", () =>
      withStores(open, async (s) => {
        await withCa(s);
        const certs = await issue(s.store, certRecord(), certRecord(), certRecord());
        const first = await s.auditChecks.certificatesWithoutKeyFacts(2);
        expect(first.map((c) => c.serial)).toEqual(certs.slice(0, 2).map((c) => c.serial));
        expect(first[0]!.der).toEqual(certs[0]!.der);
        const facts = key();
        await s.auditChecks.recordKeyFacts(first.map((c) => ({ serial: c.serial, ...facts })));
        await s.auditChecks.recordKeyFacts([{ serial: certs[0]!.serial, ...key(), algorithm: "RSA", rsaBits: 1024 }]);
        expect((await s.auditChecks.certificatesWithoutKeyFacts(10)).map((c) => c.serial)).toEqual([certs[2]!.serial]);
        expect((await live(s)).map((c) => c.key)).toEqual([facts, facts, null]);
      }));

    it("lists good, unexpired certificates with what the checks judge", () =>
      withStores(open, async (s) => {
        await withCa(s);
        const [good, , revoked] = await issue(
          s.store,
          certRecord({ commonName: "dev-1", subjectAltNames: ["dns:dev-1.example.net"], profile: "gateway" }),
          certRecord({ notAfter: expired }),
          certRecord(),
        );
        await s.store.revokeCertificate(revoked!.serial, "keyCompromise", t0, audit("cert.revoke", { serial: revoked!.serial }));
        expect(await live(s)).toEqual([
          {
            serial: good!.serial,
            profile: "gateway",
            notBefore: good!.notBefore,
            notAfter: good!.notAfter,
            commonName: "dev-1",
            subjectAltNames: ["dns:dev-1.example.net"],
            key: null,
          },
        ]);
      }));

    it("finds keys shared by good, unexpired certificates, leaving aside those awaiting supersession and unreadable keys", () =>
      withStores(open, async (s) => {
        await withCa(s);
        const certs = await issue(s.store, ...Array.from({ length: 9 }, () => certRecord()), certRecord({ notAfter: expired }));
        const [a, b, c] = [key(), key(), key()];
        const facts = [a, a, b, b, c, c, key(null), key(null), a, a];
        await s.auditChecks.recordKeyFacts(certs.map((cert, i) => ({ serial: cert.serial, ...facts[i]! })));
        // b: one of the two revoked; c: one renewed, its supersession pending; the expired holder of a is left out.
        await s.store.revokeCertificate(certs[3]!.serial, "superseded", t0, audit("cert.revoke"));
        await s.lifecycle.scheduleSupersession(
          { oldSerial: certs[5]!.serial, newSerial: certs[4]!.serial, supersedeAt: now, doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );
        const shared = await s.auditChecks.sharedKeys(now, 10);
        expect(shared).toEqual({
          total: 1,
          keys: [{ spkiSha256: a.spkiSha256, serials: [certs[0]!.serial, certs[1]!.serial, certs[8]!.serial] }],
        });
        expect(await s.auditChecks.sharedKeys(now, 0)).toEqual({ total: 1, keys: [] });
      }));

    it("finds registrations still assigned with a revoked certificate, unless it was superseded by a renewal", () =>
      withStores(open, async (s) => {
        await withCa(s);
        await s.dps.insertScope(scopeRecord(), audit("dps.scope.create"));
        const [kept, renewed, successor, disabled] = await issue(s.store, certRecord(), certRecord(), certRecord(), certRecord());
        await s.lifecycle.scheduleSupersession(
          { oldSerial: renewed!.serial, newSerial: successor!.serial, supersedeAt: t0, doneAt: null, createdAt: t0 },
          audit("cert.renew"),
        );
        for (const [cert, reason] of [
          [kept!, "keyCompromise"],
          [renewed!, "superseded"],
          [disabled!, "keyCompromise"],
        ] as const) {
          await s.store.revokeCertificate(cert.serial, reason, t0, audit("cert.revoke"));
        }
        const regs = [
          registrationRecord("dev-1", { issuedSerial: kept!.serial }),
          registrationRecord("dev-2", { issuedSerial: renewed!.serial }),
          registrationRecord("dev-3", { issuedSerial: disabled!.serial, status: "disabled" }),
        ];
        await s.dps.saveRegistrations(regs.map((registration) => ({ registration, audit: audit("dps.register") })));
        expect(await s.auditChecks.assignedWithRevokedCertificate(10)).toEqual({
          total: 1,
          items: [
            {
              idScope: SCOPE,
              registrationId: "dev-1",
              assignedHub: "hub-a.azure-devices.net",
              deviceId: "dev-1",
              serial: kept!.serial,
              revokedAt: t0,
              revocationReason: "keyCompromise",
            },
          ],
        });
      }));

    it("points at the log entries about serials, subjects (any case) and detail values", () =>
      withStores(open, async (s) => {
        await withCa(s);
        const [cert] = await issue(s.store, certRecord());
        await s.store.appendAudit(audit("token.create", { subject: "token:a", details: { tokenId: "aaaa" } }));
        await s.store.appendAudit(audit("token.create", { subject: "token:b", details: { tokenId: "bbbb" } }));
        await s.store.appendAudit(audit("dps.group.create", { subject: `${SCOPE}/Line-1` }));
        await s.store.appendAudit(audit("dps.group.update", { subject: `${SCOPE}/line-1` }));
        await s.store.revokeCertificate(cert!.serial, "keyCompromise", t0, audit("cert.revoke", { serial: cert!.serial }));
        const entries = await s.auditChecks.entriesAboutSerials([cert!.serial, "4ffff"]);
        expect(entries.map((e) => [e.action, e.serial])).toEqual([
          ["cert.issue", cert!.serial],
          ["cert.revoke", cert!.serial],
        ]);
        const groups = await s.auditChecks.entriesAboutSubjects(
          ["dps.group.create", "dps.group.update"],
          [`${SCOPE.toLowerCase()}/LINE-1`],
        );
        expect(groups.map((e) => e.action)).toEqual(["dps.group.create", "dps.group.update"]);
        const tokens = await s.auditChecks.entriesByDetail("token.create", "tokenId", ["bbbb", "cccc"]);
        expect(tokens.map((e) => [e.subject, e.value])).toEqual([["token:b", "bbbb"]]);
        expect(entries[0]!.seq).toBeLessThan(tokens[0]!.seq);
        expect(await s.auditChecks.entriesAboutSerials([])).toEqual([]);
      }));
  });
}
