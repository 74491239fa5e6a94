import { noHub, type AllocationPolicy, type AllocationRequest, type AllocationResult } from "./allocation-policy.js";

/** The enrollment's hub: the first linked hub that is enabled (DPS "static configuration"). */
export class StaticAllocation implements AllocationPolicy {
  readonly name = "static" as const;

  async allocate(request: AllocationRequest): Promise<AllocationResult> {
    const hub = request.hubs[0];
    if (!hub) throw noHub(request);
    return { hub };
  }
}
