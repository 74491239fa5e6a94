import { pemEncode } from "../../ca/pem.js";
import { isKeyAlgorithm, KEY_ALGORITHMS } from "../../ca/key-algorithm.js";
import type { Services } from "../app.js";
import { AppError } from "../errors.js";
import type { LifecycleOperations, MintInput, RenewedView, RenewInput, RotateInput } from "./lifecycle-operations.js";
import type { MintRequest, RotationChange, RotationTarget } from "../core/lifecycle/credential-service.js";
import type { EnrollmentKind } from "../store/dps-records.js";
import { parseDuration } from "../duration.js";
import type { SasPolicyChange } from "../core/dps/sas-on-demand.js";

/**
 * LifecycleOperations on in-process services, acting as `actor` (the CLI user or an API token).
 * `scope` confines the scope-bound operations to one ID scope (an API token's), as for DPS management.
 */
export class LocalLifecycleOperations implements LifecycleOperations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
    private readonly scope: string | null = null,
  ) {}

  /** The scope as asked, when this caller may see it; not_found otherwise (its existence is not revealed). */
  private allowed(idScope: string): string {
    if (this.scope !== null && this.scope.toLowerCase() !== idScope.toLowerCase())
      throw new AppError("not_found", `No ID scope ${idScope.slice(0, 64)}`);
    return idScope;
  }

  private get lifecycle() {
    return this.services.lifecycle;
  }

  /** CA-wide operations reach every scope's devices: not for a scoped caller. */
  private unscoped(what: string): void {
    if (this.scope !== null) throw new AppError("forbidden", `${what} affects every scope: it needs an unscoped token`);
  }

  async caRotate(input: RotateInput) {
    this.unscoped("A CA rotation");
    if (input.algorithm !== undefined && !isKeyAlgorithm(input.algorithm)) {
      throw new AppError("invalid_argument", `Unknown key algorithm "${input.algorithm}" (one of: ${KEY_ALGORITHMS.join(", ")})`);
    }
    return this.lifecycle.rotation.rotate({
      newRoot: input.newRoot,
      algorithm: input.algorithm as never,
      actor: this.actor,
    });
  }

  async caRevoke(caId: string, reason: string) {
    this.unscoped("Revoking a CA");
    return this.lifecycle.rotation.revoke(caId, reason, this.actor);
  }

  async caRetire(caId: string) {
    return this.lifecycle.rotation.retireRoot(caId, this.actor);
  }

  async caTrustBundlePem() {
    return (await this.lifecycle.rotation.trustBundle()).map((der) => pemEncode("CERTIFICATE", der)).join("");
  }

  async hubPolicyCreate(idScope: string, hub: string, input: { name: string; rights: string[] }) {
    return this.lifecycle.hubPolicies.createPolicy(this.allowed(idScope), hub, input, this.actor);
  }

  async hubPolicyList(idScope: string, hub: string) {
    return this.lifecycle.hubPolicies.listPolicies(this.allowed(idScope), hub);
  }

  async hubPolicyGet(idScope: string, hub: string, name: string) {
    return this.lifecycle.hubPolicies.getPolicy(this.allowed(idScope), hub, name);
  }

  async hubPolicyUpdate(idScope: string, hub: string, name: string, input: { rights: string[] }) {
    return this.lifecycle.hubPolicies.updatePolicy(this.allowed(idScope), hub, name, input, this.actor);
  }

  async hubPolicyDelete(idScope: string, hub: string, name: string) {
    await this.lifecycle.hubPolicies.deletePolicy(this.allowed(idScope), hub, name, this.actor);
  }

  async keyRotate(target: RotationTarget, change: RotationChange) {
    this.allowed(target.idScope);
    return this.lifecycle.credentials.rotate(target, change, this.actor);
  }

  async enrollmentRevoke(idScope: string, kind: EnrollmentKind, id: string, reason?: string) {
    return this.lifecycle.credentials.revokeEnrollment(this.allowed(idScope), kind, id, reason ?? "privilegeWithdrawn", this.actor);
  }

  async sasMint(idScope: string, request: MintRequest, input: MintInput) {
    if (input.ttl !== undefined && input.expiry !== undefined) throw new AppError("invalid_argument", "Give ttl or expiry, not both");
    const expiry =
      input.expiry ?? Math.floor(this.services.clock.now().getTime() / 1000) + Math.ceil(parseDuration(input.ttl ?? "1h") / 1000);
    return this.lifecycle.credentials.mint(this.allowed(idScope), request, { expiry, secondary: input.secondary }, this.actor);
  }

  async sasPolicyGet(idScope: string) {
    return this.services.dps.sas.policy(this.allowed(idScope));
  }

  async sasPolicySet(idScope: string, change: SasPolicyChange) {
    return this.services.dps.sas.setPolicy(this.allowed(idScope), change, this.actor);
  }

  async certRenew(id: string, input: RenewInput): Promise<RenewedView> {
    const result = await this.lifecycle.renewals.renew({
      id,
      csr: csrInput(input.csr),
      proof: input.proof === undefined ? undefined : base64(input.proof, "proof"),
      actor: this.actor,
      scope: this.scope,
    });
    return {
      certificate: result.issued.certificate,
      pem: pemEncode("CERTIFICATE", result.issued.der),
      chainPem: result.issued.chain.map((der) => pemEncode("CERTIFICATE", der)).join(""),
      previous: result.previous,
      expiredRenewal: result.expiredRenewal,
    };
  }
}

/** CSRs travel as PEM or as base64 DER, as on the issue endpoint. */
export function csrInput(text: string): string | Uint8Array {
  if (text.includes("-----BEGIN")) return text;
  return base64(text, "csr");
}

function base64(text: string, field: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new AppError("bad_encoding", `Cannot parse ${field}: not base64`);
  return Buffer.from(compact, "base64");
}
