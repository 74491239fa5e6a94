import { parseCsr } from "../../../ca/csr.js";
import { certsOnlyPkcs7 } from "../../../ca/pkcs7.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { AttestationError } from "../attestation/attestor.js";
import type { CaService } from "../authority/ca-service.js";
import { createSasToken } from "../sas/sas.js";
import type { DpsStore } from "../../store/dps-store.js";
import { newOperationId, type DeviceRequest, type DpsService } from "./dps-service.js";

/** One EST request as the device listener received it (RFC 7030 §3.2, §4.2). */
export interface EstEnrollRequest {
  /** The path label (`/.well-known/est/<label>/…`): the ID scope the device enrolls in. */
  label: string | null;
  /** DER PKCS#10, already base64-decoded. */
  csr: Uint8Array;
  /** `simplereenroll`: the TLS client certificate must be the dpki certificate being renewed. */
  reenroll: boolean;
  /** HTTP Basic credentials, if sent. */
  basic: { username: string; password: string } | null;
  /** DER certificates from the TLS handshake, leaf first. */
  clientCertificates: Uint8Array[];
  sourceAddress: string;
}

export interface EstEnrollment {
  /** certs-only PKCS#7 with the issued certificate (DER). */
  pkcs7: Uint8Array;
}

export interface EstEnrollmentOptions {
  registrations: DpsService;
  dps: DpsStore;
  ca: CaService;
  clock: Clock;
}

/** How long the SAS token minted from a Basic password is valid: only for this one request. */
const BASIC_TOKEN_SECONDS = 60;

/**
 * EST as a second enrollment protocol over the DPS registration flow: one policy, two
 * protocols. The CSR's common name is the registration id; the label names the ID scope; the
 * credential is a TLS client certificate (a dpki certificate to renew, or a bootstrap
 * certificate under an X.509 enrollment group's CA) or HTTP Basic with the device's
 * symmetric key (individual or group-derived) as password. The request then runs exactly the
 * DPS path — attestation, allowlists, enabled check, allocation, profile, quotas, issuance and
 * its log entries, refusal entries — so nothing about issuance is decided here.
 */
export class EstEnrollmentService {
  constructor(private readonly options: EstEnrollmentOptions) {}

  /** The CA certificates a device should trust (RFC 7030 §4.1): the issuing chain and the root. */
  async caCertificates(): Promise<Uint8Array> {
    const { ca } = this.options;
    const [issuer, root] = await Promise.all([ca.activeIssuer(), ca.root()]);
    return certsOnlyPkcs7([...issuer.chain, root.certDer]);
  }

  /** The ID scope a label names; without a label, the only scope there is. */
  async scopeFor(label: string | null): Promise<string> {
    if (label !== null) {
      const scope = await this.options.dps.getScope(label);
      if (!scope) throw new AppError("not_found", `Unknown EST label ${label.slice(0, 64)}: use an ID scope as the label`);
      return scope.idScope;
    }
    const scopes = await this.options.dps.listScopes();
    if (scopes.length !== 1) {
      throw new AppError(
        "not_found",
        scopes.length === 0 ? "No ID scope exists yet" : "Several ID scopes exist: enroll under /.well-known/est/<idScope>/",
      );
    }
    return scopes[0]!.idScope;
  }

  async enroll(request: EstEnrollRequest): Promise<EstEnrollment> {
    const idScope = await this.scopeFor(request.label);
    const registrationId = commonName(request.csr);
    const device: DeviceRequest = {
      idScope,
      registrationId,
      authorization: null,
      clientCertificates: request.clientCertificates,
      sourceAddress: request.sourceAddress,
    };
    const refuse = async (err: AppError) => {
      await this.options.registrations.refused(device, { code: err.code, message: err.message, reason: "est" }, "est");
      return err;
    };
    if (request.reenroll && request.clientCertificates.length === 0) {
      throw await refuse(new AttestationError("no_credential", "simplereenroll needs the current certificate as TLS client certificate"));
    }
    if (request.basic && request.clientCertificates.length === 0) {
      if (request.basic.username !== registrationId) {
        throw await refuse(new AttestationError("subject", "The Basic user name must be the registration id (the common name of the CSR)"));
      }
      device.authorization = this.tokenFromPassword(idScope, registrationId, request.basic.password);
    }
    if (!device.authorization && request.clientCertificates.length === 0) {
      throw await refuse(new AttestationError("no_credential", "No credential: use HTTP Basic or a TLS client certificate"));
    }
    const body = { csr: Buffer.from(request.csr).toString("base64") };
    const admitted = await this.options.registrations.admit(device, body);
    if (request.reenroll && !admitted.attestation.used.renewal) {
      throw await refuse(
        new AttestationError(
          "wrong_method",
          "simplereenroll needs the dpki certificate being renewed; use simpleenroll with a bootstrap certificate",
        ),
      );
    }
    const outcome = await this.options.registrations.register(admitted, body, newOperationId());
    const chain = outcome.registrationState.issuedCertificateChain as string[] | undefined;
    if (outcome.status !== "assigned" || !chain) {
      const state = outcome.registrationState;
      const why =
        outcome.status === "disabled" ? "the enrollment is disabled" : String(state.errorMessage ?? "it could not be assigned to a hub");
      throw new AppError("forbidden", `Enrollment of ${registrationId} refused: ${why}`);
    }
    return { pkcs7: certsOnlyPkcs7([Buffer.from(chain[0]!, "base64")]) };
  }

  /**
   * The password is the device's symmetric key (or a DPS SAS token): a key becomes a
   * short-lived token for this registration, so the symmetric-key attestor checks it exactly as
   * on the DPS path (both keys, group derivation, constant-time comparison).
   */
  private tokenFromPassword(idScope: string, registrationId: string, password: string): string {
    if (password.startsWith("SharedAccessSignature ")) return password;
    try {
      return createSasToken({
        resourceUri: `${idScope}/registrations/${registrationId}`,
        key: password,
        keyName: "registration",
        expiry: Math.floor(this.options.clock.now().getTime() / 1000) + BASIC_TOKEN_SECONDS,
      });
    } catch {
      throw new AttestationError("malformed", "The Basic password is not a device key");
    }
  }
}

/** The registration id an EST CSR asks for: its subject's common name. */
function commonName(csr: Uint8Array): string {
  const parsed = parseCsr(csr);
  const cn = parsed.subject.find((a) => a.oid === "2.5.4.3");
  if (!cn) throw new AppError("invalid_argument", "Cannot enroll: the CSR's subject has no common name (the registration id)");
  return cn.value;
}
