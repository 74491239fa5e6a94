/**
 * Kinds of data that services cache above the store (the active CA, CRLs, DPS configuration):
 * a backend shared by several processes says when another one changed them, so caches drop
 * their copy at once instead of waiting out their time to live.
 */
export type StoreChange = "ca" | "revocation" | "dps-config";

export const STORE_CHANGES: readonly StoreChange[] = ["ca", "revocation", "dps-config"];

export interface StoreChanges {
  /** Calls `listener` after another process (or node) committed a change of that kind; a lost connection reports every kind. */
  onChange(listener: (change: StoreChange) => void): void;
  close(): Promise<void>;
}
