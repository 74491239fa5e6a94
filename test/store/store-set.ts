import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { Store } from "../../src/store/store.js";
import type { DpsStore } from "../../src/store/dps-store.js";
import type { LifecycleStore } from "../../src/store/lifecycle-store.js";
import type { TokenStore } from "../../src/store/token-store.js";
import type { LogTreeStore } from "../../src/store/log-tree-store.js";
import type { AuditCheckStore } from "../../src/store/audit-check-store.js";
import type { AuditEntry, AuditInput, CaRecord, CertificateRecord } from "../../src/store/records.js";
import { verifyChain } from "../../src/store/audit-chain.js";

/**
 * One database as a backend exposes it: the six store interfaces over the same state. The
 * contracts of DpsStore, LifecycleStore and TokenStore read the audit log and insert
 * certificates through the Store, since every interface shares one log.
 */
export interface StoreSet {
  store: Store;
  dps: DpsStore;
  lifecycle: LifecycleStore;
  tokens: TokenStore;
  logTree: LogTreeStore;
  auditChecks: AuditCheckStore;
  close(): Promise<void>;
}

export type OpenStoreSet = () => Promise<StoreSet>;

export const t0 = new Date("2026-01-01T00:00:00.000Z");

export const audit = (action: string, extra: Partial<AuditInput> = {}): AuditInput => ({ at: t0, actor: "tester", action, ...extra });

export async function withStores(open: OpenStoreSet, fn: (s: StoreSet) => Promise<void>): Promise<void> {
  const stores = await open();
  try {
    await fn(stores);
  } finally {
    await stores.close();
  }
}

async function entries(store: Store): Promise<AuditEntry[]> {
  const all: AuditEntry[] = [];
  for await (const batch of store.auditEntries()) all.push(...batch);
  return all;
}

/**
 * Runs `change` and checks the log grew by exactly `actions` (in order) and still verifies.
 * Pass `[]` for a change that must append nothing (a refused write, a read, a touch).
 */
export async function expectAudited<T>(store: Store, actions: string[], change: () => Promise<T>): Promise<T> {
  const before = (await entries(store)).length;
  let result: T;
  try {
    result = await change();
  } finally {
    const after = await entries(store);
    expect(after.slice(before).map((e) => e.action)).toEqual(actions);
    expect(await verifyChain(store.auditEntries())).toMatchObject({ ok: true, entries: after.length });
  }
  return result;
}

/** Like expectAudited, for a change that must be refused with `code` and leave the log as it was. */
export async function expectRefused(store: Store, code: string, change: () => Promise<unknown>): Promise<void> {
  await expectAudited(store, [], () => expect(change()).rejects.toMatchObject({ code }));
}

export const caRecord = (id: string, overrides: Partial<CaRecord> = {}): CaRecord => ({
  id,
  kind: "intermediate",
  parentId: null,
  keyRef: "k-" + id,
  keyAlgorithm: "P-256",
  certDer: new Uint8Array(randomBytes(64)),
  subject: `CN=${id}`,
  subjectKeyId: randomBytes(8).toString("hex"),
  notBefore: t0,
  notAfter: new Date("2036-01-01T00:00:00Z"),
  status: "active",
  createdAt: t0,
  ...overrides,
});

export const certRecord = (overrides: Partial<CertificateRecord> = {}): CertificateRecord => ({
  serial: "4" + randomBytes(15).toString("hex"),
  sha256: randomBytes(32).toString("hex"),
  issuerCaId: "int-1",
  subject: "CN=dev",
  commonName: "dev",
  subjectAltNames: [],
  notBefore: t0,
  notAfter: new Date("2027-01-01T00:00:00Z"),
  profile: "device",
  requester: "tester",
  scope: null,
  status: "good",
  revokedAt: null,
  revocationReason: null,
  der: new Uint8Array(randomBytes(100)),
  createdAt: t0,
  ...overrides,
});

/** Inserts certificates through the Store, each with its cert.issue entry. */
export async function issue(store: Store, ...certs: CertificateRecord[]): Promise<CertificateRecord[]> {
  await store.insertCertificates(certs.map((cert) => ({ cert, audit: audit("cert.issue", { serial: cert.serial }) })));
  return certs;
}
