import type { AllocationPolicyName } from "../../store/dps-records.js";
import type { AllocationPolicy } from "./allocation-policy.js";
import { CustomAllocation, type CustomAllocationOptions } from "./custom.js";
import { GeoLatencyAllocation } from "./geo-latency.js";
import { HashedAllocation } from "./hashed.js";
import { StaticAllocation } from "./static.js";

export type AllocationPolicies = Readonly<Record<AllocationPolicyName, AllocationPolicy>>;

/** One instance of each policy, looked up by the enrollment's `allocation.policy`. */
export function allocationPolicies(custom: CustomAllocationOptions = {}): AllocationPolicies {
  return {
    hashed: new HashedAllocation(),
    static: new StaticAllocation(),
    geoLatency: new GeoLatencyAllocation(),
    custom: new CustomAllocation(custom),
  };
}
