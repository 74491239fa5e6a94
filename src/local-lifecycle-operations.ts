import { pemEncode } from "../ca/pem.js";
import { isKeyAlgorithm, KEY_ALGORITHMS } from "../ca/key-algorithm.js";
import type { Services } from "./app.js";
import { AppError } from "./errors.js";
import type { LifecycleOperations, RenewedView, RenewInput, RotateInput } from "./lifecycle-operations.js";

/** LifecycleOperations on in-process services, acting as `actor` (the CLI user or an API token). */
export class LocalLifecycleOperations implements LifecycleOperations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
  ) {}

  private get lifecycle() {
    return this.services.lifecycle;
  }

  async caStatus() {
    return this.lifecycle.rotation.status();
  }

  async caRotate(input: RotateInput) {
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
    return this.lifecycle.rotation.revoke(caId, reason, this.actor);
  }

  async caTrustBundlePem() {
    return (await this.lifecycle.rotation.trustBundle()).map((der) => pemEncode("CERTIFICATE", der)).join("");
  }

  async certRenew(id: string, input: RenewInput): Promise<RenewedView> {
    const result = await this.lifecycle.renewals.renew({
      id,
      csr: csrInput(input.csr),
      proof: input.proof === undefined ? undefined : base64(input.proof, "proof"),
      actor: this.actor,
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
