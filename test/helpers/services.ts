import { join } from "node:path";
import { afterAll } from "vitest";
import { openServices, type Services } from "../../src/app.js";
import type { KeyAlgorithm } from "../../ca/key-algorithm.js";
import type { Clock } from "../../src/clock.js";
import { tempDir } from "./temp-dir.js";
import { REFUSAL_ACTIONS } from "../../src/store/records.js";

export const TEST_PASSPHRASE = "test passphrase, not a secret";

/** Real services on a fresh data directory with a CA, closed after the file's tests. */
export async function servicesWithCa(options: { algorithm?: KeyAlgorithm; clock?: Clock } = {}): Promise<Services> {
  const dir = join(tempDir(), "data");
  const services = openServices({ dataDir: dir, passphrase: TEST_PASSPHRASE, keyIterations: 1000, create: true, clock: options.clock });
  await services.ca.init({ algorithm: options.algorithm ?? "P-256", organization: "Test", actor: "test" });
  afterAll(() => services.close());
  return services;
}

/** Counts that must not move when a request is refused: log entries of changes (refusals have entries of their own). */
export async function stateCounts(services: Services): Promise<{ certificates: number; audit: number }> {
  let audit = 0;
  for await (const batch of services.store.auditEntries()) audit += batch.filter((e) => !isRefusal(e.action)).length;
  return { certificates: await services.store.countCertificates(), audit };
}

/** Whether an entry records a refused attempt rather than a change. */
export function isRefusal(action: string): boolean {
  return (REFUSAL_ACTIONS as readonly string[]).includes(action);
}
