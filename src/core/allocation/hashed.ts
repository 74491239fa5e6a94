import { createHash } from "node:crypto";
import type { HubRecord } from "../../store/dps-records.js";
import { noHub, type AllocationPolicy, type AllocationRequest, type AllocationResult } from "./allocation-policy.js";

/**
 * Weighted rendezvous (highest random weight) hashing: every hub draws a pseudo-random score
 * from hash(registration id, hub name) scaled by its weight, and the highest score wins.
 * A hub gets a share of devices equal to its share of the total weight; a device stays on its
 * hub as long as that hub stays linked and enabled, and adding or removing a hub moves only the
 * devices that hub gains or loses.
 */
export class HashedAllocation implements AllocationPolicy {
  readonly name = "hashed" as const;

  async allocate(request: AllocationRequest): Promise<AllocationResult> {
    const hub = pickHashed(request.registrationId, request.hubs);
    if (!hub) throw noHub(request);
    return { hub };
  }
}

/** The hub a key lands on among `hubs` (null when there are none). Case-insensitive on the key. */
export function pickHashed(key: string, hubs: readonly HubRecord[]): HubRecord | null {
  let best: HubRecord | null = null;
  let bestScore = -Infinity;
  const k = key.toLowerCase();
  for (const hub of hubs) {
    if (hub.weight <= 0) continue;
    const digest = createHash("sha256").update(`${k}\n${hub.name.toLowerCase()}`).digest();
    // 53 random bits → u in (0, 1); -w / ln(u) is an exponential race whose winner is hub i with probability w_i / Σw.
    const u = (Number(digest.readBigUInt64BE(0) >> 11n) + 0.5) / 2 ** 53;
    const score = -hub.weight / Math.log(u);
    if (score > bestScore || (score === bestScore && best !== null && hub.name < best.name)) {
      best = hub;
      bestScore = score;
    }
  }
  return best;
}
