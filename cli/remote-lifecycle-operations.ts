import type { CaRevocationResult, CaStatusView, RotationResult } from "../src/core/ca-rotation-service.js";
import type { LifecycleOperations, RenewedView, RenewInput, RotateInput } from "../src/lifecycle-operations.js";
import { ApiClient, seg } from "./api-client.js";
import type { RemoteOptions } from "./remote-operations.js";

/** LifecycleOperations over the HTTP API, so --server prints what local mode prints. */
export class RemoteLifecycleOperations implements LifecycleOperations {
  private readonly api: ApiClient;

  constructor(options: RemoteOptions) {
    this.api = new ApiClient(options);
  }

  close(): void {
    this.api.close();
  }

  caStatus() {
    return this.api.json<CaStatusView[]>("GET", "/v1/ca/status");
  }

  caRotate(input: RotateInput) {
    return this.api.json<RotationResult>("POST", "/v1/ca/rotate", input);
  }

  caRevoke(caId: string, reason: string) {
    return this.api.json<CaRevocationResult>("POST", `/v1/ca/${seg(caId)}/revoke`, { reason });
  }

  async caTrustBundlePem() {
    return (await this.api.call("GET", "/v1/ca/trust-bundle", { accept: "application/pem-certificate-chain" })).toString("utf8");
  }

  certRenew(id: string, input: RenewInput) {
    return this.api.json<RenewedView>("POST", `/v1/certificates/${seg(id)}/renew`, input);
  }
}
