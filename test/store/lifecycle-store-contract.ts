import { describe } from "vitest";
import type { OpenStoreSet } from "./store-set.js";
export function describeLifecycleStoreContract(name: string, open: OpenStoreSet): void {
  describe.skip(`LifecycleStore contract: ${name}`, () => { void open; });
}
