import type { DpsStore } from "../../store/dps-store.js";
import type { HubRecord } from "../../store/dps-records.js";
import { HUB_RIGHTS, type HubPolicyRecord, type HubRight, type LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { changeKeys, makeSymmetricKey, type KeyChange } from "../sas/sas.js";
import { clip } from "../clip.js";

export interface HubPolicyView {
  idScope: string;
  hub: string;
  name: string;
  rights: HubRight[];
  createdAt: string;
  updatedAt: string;
  rotatedAt: string | null;
}

/** Returned once, when a policy is created (both keys) or its keys rotated (the new secondary). */
export interface HubPolicyWithKeys {
  policy: HubPolicyView;
  keys: { primaryKey?: string; secondaryKey?: string };
}

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9._ ()!*'-]{0,63}$/;

/**
 * A hub's shared access policies, as IoT Hub has them: named rights with a primary and a
 * secondary key, managed by operators. Tokens minted from them authenticate the hub's
 * services; the keys are returned once and stored sealed.
 */
export class HubPolicyService {
  constructor(private readonly deps: { dps: DpsStore; lifecycle: LifecycleStore; clock: Clock }) {}

  async createPolicy(
    idScope: string,
    hubName: string,
    input: { name: string; rights: string[] },
    actor: string,
  ): Promise<HubPolicyWithKeys> {
    const hub = await this.hubByName(idScope, hubName);
    const name = policyName(input.name);
    const rights = checkRights(input.rights);
    const now = this.deps.clock.now();
    const record: HubPolicyRecord = {
      idScope: hub.idScope,
      hub: hub.name,
      name,
      rights,
      primaryKey: makeSymmetricKey(32),
      secondaryKey: makeSymmetricKey(32),
      createdAt: now,
      updatedAt: now,
      rotatedAt: null,
    };
    await this.deps.lifecycle.insertHubPolicy(record, {
      at: now,
      actor,
      action: "hub.policy.create",
      subject: `${hub.idScope}/${hub.name}/${name}`,
      details: { idScope: hub.idScope, hub: hub.name, policy: name, rights },
    });
    return { policy: policyView(record), keys: { primaryKey: record.primaryKey, secondaryKey: record.secondaryKey } };
  }

  async listPolicies(idScope: string, hubName: string): Promise<HubPolicyView[]> {
    const hub = await this.hubByName(idScope, hubName);
    return (await this.deps.lifecycle.listHubPolicies(hub.idScope, hub.name)).map(policyView);
  }

  async getPolicy(idScope: string, hubName: string, name: string): Promise<HubPolicyView> {
    return policyView(await this.policy(idScope, hubName, name));
  }

  async updatePolicy(idScope: string, hubName: string, name: string, input: { rights: string[] }, actor: string): Promise<HubPolicyView> {
    const current = await this.policy(idScope, hubName, name);
    const rights = checkRights(input.rights);
    const now = this.deps.clock.now();
    const next = { ...current, rights, updatedAt: now };
    await this.deps.lifecycle.replaceHubPolicy(next, {
      at: now,
      actor,
      action: "hub.policy.update",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { idScope: current.idScope, hub: current.hub, policy: current.name, rights: { from: current.rights, to: rights } },
    });
    return policyView(next);
  }

  async deletePolicy(idScope: string, hubName: string, name: string, actor: string): Promise<void> {
    const current = await this.policy(idScope, hubName, name);
    const now = this.deps.clock.now();
    await this.deps.lifecycle.deleteHubPolicy(current.idScope, current.hub, current.name, {
      at: now,
      actor,
      action: "hub.policy.delete",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { idScope: current.idScope, hub: current.hub, policy: current.name },
    });
  }

  /** Regenerates one key (returned once; tokens of the other stay valid) or swaps them. Logged. */
  async rotatePolicyKeys(idScope: string, hubName: string, name: string, change: KeyChange, actor: string): Promise<HubPolicyWithKeys> {
    const current = await this.policy(idScope, hubName, name);
    const now = this.deps.clock.now();
    const next: HubPolicyRecord = { ...changeKeys(current, change, 32), updatedAt: now, rotatedAt: now };
    await this.deps.lifecycle.replaceHubPolicy(next, {
      at: now,
      actor,
      action: "key.rotate",
      subject: `${current.idScope}/${current.hub}/${current.name}`,
      details: { target: "hubPolicy", idScope: current.idScope, hub: current.hub, policy: current.name, key: change },
    });
    const keys = change === "primary" ? { primaryKey: next.primaryKey } : change === "secondary" ? { secondaryKey: next.secondaryKey } : {};
    return { policy: policyView(next), keys };
  }

  /** The policy record with its keys, for minting tokens (never shown). */
  async policy(idScope: string, hubName: string, name: string): Promise<HubPolicyRecord> {
    const hub = await this.hubByName(idScope, hubName);
    const policy = await this.deps.lifecycle.getHubPolicy(hub.idScope, hub.name, name);
    if (!policy) throw new AppError("not_found", `Hub ${hub.name} has no policy named ${clip(name)}`);
    return policy;
  }

  private async hubByName(idScope: string, name: string): Promise<HubRecord> {
    const hub = await this.deps.dps.getHub(idScope, name);
    if (!hub) throw new AppError("not_found", `No hub ${clip(name)} in scope ${clip(idScope)}`);
    return hub;
  }
}

export function policyView(p: HubPolicyRecord): HubPolicyView {
  return {
    idScope: p.idScope,
    hub: p.hub,
    name: p.name,
    rights: p.rights,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    rotatedAt: p.rotatedAt?.toISOString() ?? null,
  };
}

function policyName(name: string): string {
  if (typeof name !== "string" || !POLICY_NAME.test(name)) {
    throw new AppError(
      "invalid_argument",
      `Policy name "${clip(String(name))}" is invalid: 1-64 letters, digits and . _ - ( ) ! * ' space, starting with a letter or digit`,
    );
  }
  return name;
}

function checkRights(rights: string[]): HubRight[] {
  if (!Array.isArray(rights) || rights.length === 0)
    throw new AppError("invalid_argument", `A policy needs at least one right (${HUB_RIGHTS.join(", ")})`);
  const unknown = rights.filter((r) => !(HUB_RIGHTS as readonly string[]).includes(r));
  if (unknown.length)
    throw new AppError("invalid_argument", `Unknown right ${unknown.map(clip).join(", ")} (known: ${HUB_RIGHTS.join(", ")})`);
  return HUB_RIGHTS.filter((r) => rights.includes(r));
}
