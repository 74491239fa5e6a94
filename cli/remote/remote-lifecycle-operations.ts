import type { CaRevocationResult, CaStatusView, RotationResult } from "../../src/core/authority/ca-rotation-service.js";
import type { LifecycleOperations, MintInput, RenewedView, RenewInput, RotateInput } from "../../src/operations/lifecycle-operations.js";
import type {
  EnrollmentRevocationResult,
  KeyRotationResult,
  MintedTokenView,
  MintRequest,
  RotationChange,
  RotationTarget,
} from "../../src/core/lifecycle/credential-service.js";
import type { HubPolicyView, HubPolicyWithKeys } from "../../src/core/hub-api/hub-policy-service.js";
import type { EnrollmentKind } from "../../src/store/dps-records.js";
import { seg, type ApiClient } from "./api-client.js";
import type { SasPolicyChange, SasPolicyView } from "../../src/core/dps/sas-on-demand.js";

/** LifecycleOperations over the HTTP API, so --server prints what local mode prints. */
export class RemoteLifecycleOperations implements LifecycleOperations {
  constructor(private readonly api: ApiClient) {}

  caRotate(input: RotateInput) {
    return this.api.json<RotationResult>("POST", "/v1/ca/rotate", input);
  }

  caRevoke(caId: string, reason: string) {
    return this.api.json<CaRevocationResult>("POST", `/v1/ca/${seg(caId)}/revoke`, { reason });
  }

  caRetire(caId: string) {
    return this.api.json<CaStatusView>("POST", `/v1/ca/${seg(caId)}/retire`, {});
  }

  async caTrustBundlePem() {
    return (await this.api.call("GET", "/v1/ca/root.pem", { accept: "application/pem-certificate-chain" })).toString("utf8");
  }

  certRenew(id: string, input: RenewInput) {
    return this.api.json<RenewedView>("POST", `/v1/certificates/${seg(id)}/renew`, input);
  }

  hubPolicyCreate(idScope: string, hub: string, input: { name: string; rights: string[] }) {
    return this.api.json<HubPolicyWithKeys>("POST", policies(idScope, hub), input);
  }

  hubPolicyList(idScope: string, hub: string) {
    return this.api.json<HubPolicyView[]>("GET", policies(idScope, hub));
  }

  hubPolicyGet(idScope: string, hub: string, name: string) {
    return this.api.json<HubPolicyView>("GET", `${policies(idScope, hub)}/${seg(name)}`);
  }

  hubPolicyUpdate(idScope: string, hub: string, name: string, input: { rights: string[] }) {
    return this.api.json<HubPolicyView>("PATCH", `${policies(idScope, hub)}/${seg(name)}`, input);
  }

  async hubPolicyDelete(idScope: string, hub: string, name: string) {
    await this.api.call("DELETE", `${policies(idScope, hub)}/${seg(name)}`);
  }

  keyRotate(target: RotationTarget, change: RotationChange) {
    const path =
      target.kind === "hubPolicy"
        ? `${policies(target.idScope, target.hub)}/${seg(target.policy)}/rotate-keys`
        : target.kind === "group"
          ? `/v1/scopes/${seg(target.idScope)}/groups/${seg(target.groupId)}/rotate-keys`
          : `/v1/scopes/${seg(target.idScope)}/enrollments/${seg(target.registrationId)}/rotate-keys`;
    return this.api.json<KeyRotationResult>("POST", path, change);
  }

  enrollmentRevoke(idScope: string, kind: EnrollmentKind, id: string, reason?: string) {
    const collection = kind === "group" ? "groups" : "enrollments";
    return this.api.json<EnrollmentRevocationResult>(
      "POST",
      `/v1/scopes/${seg(idScope)}/${collection}/${seg(id)}/revoke`,
      reason ? { reason } : {},
    );
  }

  sasMint(idScope: string, request: MintRequest, input: MintInput) {
    return this.api.json<MintedTokenView>("POST", `/v1/scopes/${seg(idScope)}/sas-tokens`, { ...request, ...input });
  }

  sasPolicyGet(idScope: string) {
    return this.api.json<SasPolicyView>("GET", `/v1/scopes/${seg(idScope)}/sas-policy`);
  }

  sasPolicySet(idScope: string, change: SasPolicyChange) {
    return this.api.json<SasPolicyView>("PATCH", `/v1/scopes/${seg(idScope)}/sas-policy`, change);
  }
}

function policies(idScope: string, hub: string): string {
  return `/v1/scopes/${seg(idScope)}/hubs/${seg(hub)}/policies`;
}
