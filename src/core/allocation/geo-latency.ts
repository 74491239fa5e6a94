import { cidrContains } from "../dps/cidr.js";
import { noHub, type AllocationPolicy, type AllocationRequest, type AllocationResult } from "./allocation-policy.js";
import { pickHashed } from "./hashed.js";

/**
 * Lowest latency, approximated by region: the device's region is the `region` string of its
 * payload when it sends one, else the region of the first of the enrollment's regionNetworks
 * that contains its source address. Hubs in that region are candidates (all hubs when none
 * is, or the region is unknown) and ties are broken by weighted hashing, so a device stays put.
 */
export class GeoLatencyAllocation implements AllocationPolicy {
  readonly name = "geoLatency" as const;

  async allocate(request: AllocationRequest): Promise<AllocationResult> {
    if (request.hubs.length === 0) throw noHub(request);
    const region = deviceRegion(request);
    const local = region === null ? [] : request.hubs.filter((h) => h.region !== null && h.region.toLowerCase() === region.toLowerCase());
    const hub = pickHashed(request.registrationId, local.length > 0 ? local : request.hubs);
    if (!hub) throw noHub(request);
    return { hub };
  }
}

export function deviceRegion(request: AllocationRequest): string | null {
  const payload = request.payload;
  if (payload !== null && typeof payload === "object" && !Array.isArray(payload)) {
    const hint = (payload as Record<string, unknown>).region;
    if (typeof hint === "string" && hint.length > 0) return hint;
  }
  const address = request.sourceAddress;
  for (const { cidr, region } of request.enrollment.allocation.regionNetworks) {
    if (cidrContains(cidr, address)) return region;
  }
  return null;
}
