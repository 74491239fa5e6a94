/**
 * Every state change is a log entry in its own transaction: this walks the store interfaces
 * (read from their source, so a method added later is caught) and calls every write method on
 * one database as app.ts builds it, checking each appends its entries — with the policy hash in
 * force and the source filled in by the appender, though no caller passed them. Methods that
 * change nothing an auditor asks about are exempt, each for a reason written here.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyChain } from "../../src/store/audit-chain.js";
import type { AuditDefaults } from "../../src/store/audit-defaults.js";
import type { AuditEntry, AuditInput, CertificateRecord } from "../../src/store/records.js";
import { PassphraseSecretBox } from "../../src/store/secret-box.js";
import { SqliteDb } from "../../src/store/sqlite/sqlite-db.js";
import { SqliteDpsStore } from "../../src/store/sqlite/sqlite-dps-store.js";
import { SqliteLifecycleStore } from "../../src/store/sqlite/sqlite-lifecycle-store.js";
import { SqliteLogTreeStore } from "../../src/store/sqlite/sqlite-log-tree-store.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { SqliteTokenStore } from "../../src/store/sqlite/sqlite-token-store.js";
import { SqliteWriter } from "../../src/store/sqlite/sqlite-writer.js";
import { PgDb } from "../../src/store/postgres/pg-db.js";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import { PgDpsStore } from "../../src/store/postgres/pg-dps-store.js";
import { PgLifecycleStore } from "../../src/store/postgres/pg-lifecycle-store.js";
import { PgTokenStore } from "../../src/store/postgres/pg-token-store.js";
import { PgLogTreeStore } from "../../src/store/postgres/pg-log-tree-store.js";
import type { DpsStore } from "../../src/store/dps-store.js";
import type { LifecycleStore } from "../../src/store/lifecycle-store.js";
import type { TokenStore } from "../../src/store/token-store.js";
import type { LogTreeStore } from "../../src/store/log-tree-store.js";
import { createDatabase, describePg, PG_DISABLED } from "../helpers/postgres.js";
import { WriterThreadStore } from "../../src/store/sqlite/writer-thread-store.js";
import type { Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/temp-dir.js";
import { SCOPE, enrollmentRecord, hubRecord, registrationRecord, scopeRecord } from "./dps-store-contract.js";
import { caRecord, certRecord, t0 } from "./store-set.js";

const STORE_DIR = resolve(import.meta.dirname, "..", "..", "src", "store");
const INTERFACES = {
  Store: "store.ts",
  DpsStore: "dps-store.ts",
  LifecycleStore: "lifecycle-store.ts",
  TokenStore: "token-store.ts",
  LogTreeStore: "log-tree-store.ts",
  AuditCheckStore: "audit-check-store.ts",
} as const;

/** Methods that read, or manage the connection. */
const READS = new Set([
  "close",
  "probe",
  "listCas",
  "getCertificate",
  "listCertificates",
  "revokedSerials",
  "countCertificates",
  "countRevoked",
  "latestCrl",
  "latestCrlNumber",
  "listAudit",
  "auditEntries",
  "getScope",
  "listScopes",
  "scopeContents",
  "getHub",
  "listHubs",
  "getEnrollment",
  "listEnrollments",
  "groupsByAttestation",
  "getRegistration",
  "listRegistrations",
  "listCrossCertificates",
  "lastCertificateExpiry",
  "caRevocations",
  "latestOcspSigner",
  "pendingSupersession",
  "dueSupersessions",
  "getHubPolicy",
  "listHubPolicies",
  "getSasPolicy",
  "registrationByDevice",
  "registration",
  "deviceCertificates",
  "isDeviceCertificate",
  "enrollmentBlock",
  "hubChanges",
  "lastHubChange",
  "getToken",
  "listTokens",
  "getOperator",
  "listOperators",
  "logKey",
  "logKeyCertificates",
  "treeSize",
  "subtreeHash",
  "subtreeHashes",
  "latestCheckpoint",
  "certificatesWithoutKeyFacts",
  "liveCertificates",
  "sharedKeys",
  "assignedWithRevokedCertificate",
  "entriesAboutSerials",
  "entriesAboutSubjects",
  "entriesByDetail",
]);

/** Writes without an entry of their own, and why none is needed. */
const EXEMPT: Record<string, string> = {
  claimTotpStep: "marks a one-time password used; the action it allows is logged, and a refused code is logged as auth.deny",
  touchToken: "a token's last-used time is informational and written at most once a minute; the requests it made are logged",
  consumeQuota: "a factory token's daily count; a request refused for it is logged as cert.refuse",
  releaseQuota: "gives back a count taken for an issuance that then failed",
  appendLeaves: "the Merkle tree is derived from the log's entries and rebuilt from them",
  insertCheckpoint: "a checkpoint signs the log itself; auditors keep and compare them",
  catchUpHubFeed: "the hub change feed is derived from the log's entries",
  recordKeyFacts: "facts the audit checks read out of certificates already logged, recomputable from their DER",
};

/** Each interface's methods, and whether their parameters carry a log entry. */
function interfaceMethods(): Array<{ iface: string; name: string; takesAudit: boolean }> {
  const out: Array<{ iface: string; name: string; takesAudit: boolean }> = [];
  for (const [iface, file] of Object.entries(INTERFACES)) {
    const text = readFileSync(join(STORE_DIR, file), "utf8");
    const start = text.indexOf(`export interface ${iface} {`);
    expect(start, `${iface} in ${file}`).toBeGreaterThanOrEqual(0);
    const body = text.slice(start, text.indexOf("\n}", start));
    for (const m of body.matchAll(/^ {2}(\w+)\(([\s\S]*?)\):\s/gm)) {
      out.push({ iface, name: m[1]!, takesAudit: /\baudit\b|AuditInput|CaRotation/.test(m[2]!) });
    }
  }
  return out;
}

const POLICY = "a".repeat(64);
const at = (ms: number) => new Date(t0.getTime() + ms);
const entry = (action: string, extra: Partial<AuditInput> = {}): AuditInput => ({ at: t0, actor: "tester", action, ...extra });
const certAudit = (cert: Pick<CertificateRecord, "serial">) => entry("cert.revoke", { serial: cert.serial });

describe("audit coverage of the store interfaces", () => {
  it("knows every method of every store interface: a read, an exempt write, or a write that must append", () => {
    const methods = interfaceMethods();
    expect(methods.length).toBeGreaterThan(60);
    const unclassified = methods.filter((m) => !READS.has(m.name) && !(m.name in EXEMPT) && !WRITES.has(m.name));
    expect(unclassified.map((m) => `${m.iface}.${m.name}`)).toEqual([]);
    // A method given a log entry is never waved through as a read or an exemption.
    expect(methods.filter((m) => m.takesAudit && !WRITES.has(m.name)).map((m) => m.name)).toEqual([]);
    expect(methods.filter((m) => WRITES.has(m.name) && !m.takesAudit).map((m) => m.name)).toEqual([]);
  });

  it("appends the entries of every write, each with the policy hash in force and its source", async () => {
    const file = join(tempDir(), "walk.db");
    const sqlite = new SqliteDb(file, { auditDefaults: walkDefaults, announcePolicyChanges: true });
    const plain = new SqliteStore(sqlite);
    await walkWrites({
      // Certificates commit on the writer thread, as `dpki serve` does: the defaults must reach it too.
      store: new WriterThreadStore(plain, new SqliteWriter(file, { announcePolicyChanges: true }), walkDefaults),
      dps: new SqliteDpsStore(sqlite, walkSecrets),
      lifecycle: new SqliteLifecycleStore(sqlite, walkSecrets),
      tokens: new SqliteTokenStore(sqlite),
      logTree: new SqliteLogTreeStore(sqlite),
    });
  }, 30_000);
});

describePg("audit coverage of the store interfaces on PostgreSQL", () => {
  it("appends the entries of every write, each with the policy hash in force and its source", async () => {
    const pg = new PgDb(await createDatabase(), { auditDefaults: walkDefaults, announcePolicyChanges: true });
    await walkWrites({
      store: new PgStore(pg),
      dps: new PgDpsStore(pg, walkSecrets),
      lifecycle: new PgLifecycleStore(pg, walkSecrets),
      tokens: new PgTokenStore(pg),
      logTree: new PgLogTreeStore(pg),
    });
  }, 60_000);
});

const walkDefaults = (): AuditDefaults => ({ policyHash: POLICY, source: "local" });
const walkSecrets = new PassphraseSecretBox(
  () => "walk",
  () => Buffer.alloc(16, 3),
);

/** Calls every write method once on one database, checking each appends its entries with the defaults filled in. */
async function walkWrites(s: { store: Store; dps: DpsStore; lifecycle: LifecycleStore; tokens: TokenStore; logTree: LogTreeStore }) {
  {
    const { store, dps, lifecycle, tokens, logTree } = s;
    const called = new Set<string>();
    const all = async (): Promise<AuditEntry[]> => {
      const out: AuditEntry[] = [];
      for await (const batch of store.auditEntries()) out.push(...batch);
      return out;
    };
    const step = async (method: string, actions: string[], change: () => Promise<unknown>) => {
      const before = (await all()).length;
      await change();
      const added = (await all()).slice(before);
      expect(
        added.map((e) => e.action),
        method,
      ).toEqual(actions);
      for (const e of added) {
        expect(e.policyHash, `${method}: ${e.action}`).toBe(POLICY);
        expect(e.details.source, `${method}: ${e.action}`).toBe("local");
      }
      called.add(method);
    };
    try {
      await step("insertCas", ["ca.create", "ca.create"], () =>
        store.insertCas(
          [caRecord("root-1", { kind: "root" }), caRecord("int-1", { parentId: "root-1" })],
          [entry("ca.create"), entry("ca.create")],
        ),
      );
      await step("activateCa", ["ca.activate"], () => store.activateCa("int-1", entry("ca.activate")));
      const [c1, c2, c3, c4] = Array.from({ length: 4 }, () => certRecord({ requester: `dps:${SCOPE}/dev-1` }));
      await step("insertCertificates", ["cert.issue", "cert.issue", "cert.issue", "cert.issue"], () =>
        store.insertCertificates([c1!, c2!, c3!, c4!].map((cert) => ({ cert, audit: entry("cert.issue", { serial: cert.serial }) }))),
      );
      await step("revokeCertificate", ["cert.revoke"], () =>
        store.revokeCertificate(c1!.serial, "keyCompromise", t0, entry("cert.revoke")),
      );
      await step("insertCrl", ["crl.publish"], () =>
        store.insertCrl(
          { issuerCaId: "int-1", number: 1n, thisUpdate: t0, nextUpdate: at(3_600_000), entries: 1, der: new Uint8Array(8) },
          entry("crl.publish"),
        ),
      );
      await step("appendAudit", ["note"], () => store.appendAudit(entry("note")));

      await step("insertScope", ["dps.scope.create"], () => dps.insertScope(scopeRecord(), entry("dps.scope.create")));
      await step("insertHub", ["dps.hub.create"], () => dps.insertHub(hubRecord("hub-a"), entry("dps.hub.create")));
      await step("replaceHub", ["dps.hub.update"], () => dps.replaceHub(hubRecord("hub-a", { weight: 5 }), entry("dps.hub.update")));
      const group = enrollmentRecord("group", "line-1");
      await step("insertEnrollment", ["dps.enrollment.create"], () => dps.insertEnrollment(group, entry("dps.enrollment.create")));
      await step("replaceEnrollment", ["dps.enrollment.update"], () =>
        dps.replaceEnrollment({ ...group, etag: "etag-2" }, group.etag, entry("dps.enrollment.update")),
      );
      const registration = registrationRecord("dev-1", { enrollmentKind: "group", enrollmentId: "line-1" });
      await step("saveRegistrations", ["dps.register"], () =>
        dps.saveRegistrations([{ registration, audit: entry("dps.register", { details: { idScope: SCOPE, registrationId: "dev-1" } }) }]),
      );

      const policy = {
        idScope: SCOPE,
        hub: "hub-a",
        name: "service",
        rights: ["ServiceConnect" as const],
        primaryKey: randomBytes(32).toString("base64"),
        secondaryKey: randomBytes(32).toString("base64"),
        createdAt: t0,
        updatedAt: t0,
        rotatedAt: null,
      };
      await step("insertHubPolicy", ["hub.policy.create"], () => lifecycle.insertHubPolicy(policy, entry("hub.policy.create")));
      await step("replaceHubPolicy", ["key.rotate"], () =>
        lifecycle.replaceHubPolicy({ ...policy, primaryKey: randomBytes(32).toString("base64"), rotatedAt: at(1) }, entry("key.rotate")),
      );
      await step("deleteHubPolicy", ["hub.policy.delete"], () =>
        lifecycle.deleteHubPolicy(SCOPE, "hub-a", "service", entry("hub.policy.delete")),
      );
      await step("putSasPolicy", ["sas.policy.set"], () =>
        lifecycle.putSasPolicy(
          { idScope: SCOPE, maxTtlSeconds: 3600, defaultTtlSeconds: 600, deviceKeys: false, signingPolicy: "devices", updatedAt: t0, updatedBy: "test" },
          entry("sas.policy.set"),
        ),
      );
      await step("insertOcspSigner", ["ocsp.signer.issue"], () =>
        lifecycle.insertOcspSigner(
          {
            serial: "4d01",
            issuerCaId: "int-1",
            keyRef: "ocsp-1",
            certDer: new Uint8Array(8),
            notBefore: t0,
            notAfter: at(9e6),
            createdAt: t0,
          },
          entry("ocsp.signer.issue"),
        ),
      );
      await step("scheduleSupersession", ["cert.renew"], () =>
        lifecycle.scheduleSupersession(
          { oldSerial: c2!.serial, newSerial: c3!.serial, supersedeAt: at(1000), doneAt: null, createdAt: t0 },
          entry("cert.renew"),
        ),
      );
      await step("completeSupersession", ["cert.supersede"], () =>
        lifecycle.completeSupersession(c2!.serial, at(2000), (cert) => entry("cert.supersede", { serial: cert.serial })),
      );
      const root2 = caRecord("root-2", { kind: "root" });
      const int2 = caRecord("int-2", { parentId: "root-2" });
      await step("rotateCa", ["ca.create", "ca.rotate"], () =>
        lifecycle.rotateCa({
          cas: [root2, int2],
          crossCertificates: [],
          activate: "int-2",
          audit: [entry("ca.create"), entry("ca.rotate")],
        }),
      );
      await step("retireRoot", ["ca.retire"], () => lifecycle.retireRoot("root-1", entry("ca.retire")));
      // The device's two good certificates (the others were revoked and superseded above).
      await step("revokeEnrollment", ["cert.revoke", "cert.revoke", "enrollment.revoke"], () =>
        lifecycle.revokeEnrollment(
          { idScope: SCOPE, kind: "group", id: "line-1", blockedAt: at(3000), reason: "cessationOfOperation", blockedBy: "tester" },
          entry("enrollment.revoke"),
          certAudit,
        ),
      );
      await step("revokeCa", ["ca.revoke"], () =>
        lifecycle.revokeCa(
          { caId: "int-1", revokedAt: at(4000), reason: "cACompromise", revokedBy: "tester" },
          entry("ca.revoke"),
          certAudit,
        ),
      );

      const token = {
        id: randomBytes(8).toString("hex"),
        name: "line-1",
        role: "factory" as const,
        secretHash: randomBytes(32).toString("hex"),
        profiles: ["device"],
        quotaPerDay: null,
        scope: null,
        hub: null,
        operator: "alice",
        createdAt: t0,
        createdBy: "tester",
        expiresAt: null,
        revokedAt: null,
        revokedBy: null,
        lastUsedAt: null,
      };
      await step("insertOperator", ["operator.create"], () =>
        tokens.insertOperator(
          {
            name: "alice",
            createdAt: t0,
            createdBy: "tester",
            disabledAt: null,
            disabledBy: null,
            totpSecret: null,
            totpEnrolledAt: null,
            totpLastStep: null,
          },
          entry("operator.create"),
        ),
      );
      await step("insertToken", ["token.create"], () => tokens.insertToken(token, entry("token.create")));
      await step("revokeToken", ["token.revoke"], () => tokens.revokeToken(token.id, at(5000), "tester", entry("token.revoke")));
      await step("setOperatorTotp", ["operator.totp.enroll"], () =>
        tokens.setOperatorTotp("alice", "sealed:v1:x", at(5500), entry("operator.totp.enroll")),
      );
      await step("disableOperator", ["operator.disable"], () =>
        tokens.disableOperator("alice", at(6000), "tester", () => entry("operator.disable")),
      );
      await step("insertLogKey", ["log.key.create"], () =>
        logTree.insertLogKey({ keyRef: "log-1", spki: new Uint8Array(44), createdAt: t0 }, entry("log.key.create")),
      );
      await step("insertLogKeyCertificate", ["log.key.certify"], () =>
        logTree.insertLogKeyCertificate({ rootId: "root-1", der: new Uint8Array(8), createdAt: t0 }, entry("log.key.certify")),
      );

      await step("deleteRegistration", ["dps.registration.delete"], () =>
        dps.deleteRegistration(SCOPE, "dev-1", entry("dps.registration.delete")),
      );
      await step("deleteEnrollment", ["dps.enrollment.delete"], () =>
        dps.deleteEnrollment(SCOPE, "group", "line-1", entry("dps.enrollment.delete")),
      );
      await step("deleteHub", ["dps.hub.delete"], () => dps.deleteHub(SCOPE, "hub-a", entry("dps.hub.delete")));
      await step("deleteScope", ["dps.scope.delete"], () => dps.deleteScope(SCOPE, entry("dps.scope.delete")));

      expect([...WRITES].filter((m) => !called.has(m))).toEqual([]);
      expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
  }
}

const WRITES = new Set([
  "insertCas",
  "activateCa",
  "insertCertificates",
  "revokeCertificate",
  "insertCrl",
  "appendAudit",
  "insertScope",
  "deleteScope",
  "insertHub",
  "replaceHub",
  "deleteHub",
  "insertEnrollment",
  "replaceEnrollment",
  "deleteEnrollment",
  "saveRegistrations",
  "deleteRegistration",
  "rotateCa",
  "retireRoot",
  "revokeCa",
  "insertOcspSigner",
  "scheduleSupersession",
  "completeSupersession",
  "insertHubPolicy",
  "replaceHubPolicy",
  "deleteHubPolicy",
  "putSasPolicy",
  "revokeEnrollment",
  "insertToken",
  "revokeToken",
  "insertOperator",
  "disableOperator",
  "setOperatorTotp",
  "insertLogKey",
  "insertLogKeyCertificate",
]);

const file = join(tempDir(), "defaults.db");
describeDefaults(
  "the appender's defaults",
  async (policyHash: string) =>
    new SqliteStore(new SqliteDb(file, { auditDefaults: () => ({ policyHash, source: "local" }), announcePolicyChanges: true })),
);

let pgDefaults: Promise<string> | undefined;
if (!PG_DISABLED) {
  describeDefaults("the appender's defaults on PostgreSQL", async (policyHash: string) => {
    pgDefaults ??= createDatabase();
    return new PgStore(new PgDb(await pgDefaults, { auditDefaults: () => ({ policyHash, source: "local" }), announcePolicyChanges: true }));
  });
}

/** The defaults and policy announcements, on one database that each `open` opens anew with another policy in force. */
function describeDefaults(name: string, open: (policyHash: string) => Promise<Store>) {
  describe(name, () => {
    it("keeps a source or policy hash the caller gave, and leaves none where the caller said null", async () => {
      const store = await open(POLICY);
      try {
        const given = await store.appendAudit(entry("a", { source: "203.0.113.5", policyHash: "b".repeat(64) }));
        expect(given).toMatchObject({ policyHash: "b".repeat(64), details: { source: "203.0.113.5" } });
        const inDetails = await store.appendAudit(entry("b", { details: { source: "192.0.2.1" } }));
        expect(inDetails.details).toEqual({ source: "192.0.2.1" });
        const none = await store.appendAudit(entry("c", { source: null, policyHash: null }));
        expect(none.details).toEqual({});
      } finally {
        await store.close();
      }
    });

    it("logs a policy change before the first entry made under other profiles, once", async () => {
      const other = "c".repeat(64);
      const store = await open(other);
      try {
        await store.appendAudit(entry("d"));
        await store.appendAudit(entry("e"));
        const tail = (await store.listAudit({}, { limit: 100 })).items.slice(-3);
        expect(tail.map((e) => e.action)).toEqual(["policy.change", "d", "e"]);
        // The last entry with a hash was "b", under POLICY: the entry after it, with none, says nothing of the policy.
        expect(tail[0]).toMatchObject({ actor: "system:policy", policyHash: other, details: { previousPolicyHash: POLICY } });
        expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true });
      } finally {
        await store.close();
      }
    });

    it("logs a policy change before certificates issued under other profiles, in the same commit", async () => {
      const first = await open("d".repeat(64));
      try {
        await first.insertCas([caRecord("int-defaults")], [entry("ca.create")]);
      } finally {
        await first.close();
      }
      const store = await open("e".repeat(64));
      try {
        const certs = [certRecord({ issuerCaId: "int-defaults" }), certRecord({ issuerCaId: "int-defaults" })];
        await store.insertCertificates(certs.map((cert) => ({ cert, audit: entry("cert.issue", { serial: cert.serial }) })));
        await store.insertCertificates([{ cert: certRecord({ issuerCaId: "int-defaults" }), audit: entry("cert.issue") }]);
        const tail = (await store.listAudit({}, { limit: 100 })).items.slice(-4);
        expect(tail.map((e) => [e.action, e.policyHash])).toEqual([
          ["policy.change", "e".repeat(64)],
          ["cert.issue", "e".repeat(64)],
          ["cert.issue", "e".repeat(64)],
          ["cert.issue", "e".repeat(64)],
        ]);
        expect(tail[0]!.details).toEqual({ previousPolicyHash: "d".repeat(64) });
        expect(tail[1]!.details).toMatchObject({ source: "local" });
        expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true });
      } finally {
        await store.close();
      }
    });
  });
}
