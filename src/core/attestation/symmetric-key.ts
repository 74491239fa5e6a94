import { deriveDeviceKey, keyFingerprint, parseSasToken, verifySasToken, type SasVerification } from "../sas/sas.js";
import type { EnrollmentRecord } from "../../store/dps-records.js";
import { AppError } from "../../errors.js";
import { AttestationError, type Attestation, type AttestationContext, type Attestor } from "./attestor.js";

export interface SymmetricKeyAttestorOptions {
  /** Tolerated clock difference when checking a token's expiry. */
  skewSeconds: number;
}

/**
 * SAS-token attestation as DPS does it: the token in Authorization is verified over `sr` exactly
 * as sent (raw or url-encoded), must name key `registration`, must be for
 * `{idScope}/registrations/{registrationId}` (case-insensitive) and must not have expired.
 * Individual enrollments hold the device keys; groups hold group keys from which each device's
 * key is derived from the registration id as sent.
 */
export class SymmetricKeyAttestor implements Attestor {
  readonly method = "symmetricKey" as const;

  constructor(private readonly options: SymmetricKeyAttestorOptions) {}

  applies(context: AttestationContext): boolean {
    return context.authorization !== null;
  }

  async attest(context: AttestationContext): Promise<Attestation> {
    const token = context.authorization ?? "";
    try {
      parseSasToken(token);
    } catch (err) {
      throw new AttestationError("malformed", err instanceof AppError ? err.message : "Cannot parse SAS token");
    }
    const individual = context.enrollments.individual;
    if (individual) {
      if (individual.attestation.type !== "symmetricKey") {
        throw new AttestationError("wrong_method", `Individual enrollment ${individual.id} takes X.509 attestation, not a SAS token`);
      }
      const keys = [individual.attestation.primaryKey, individual.attestation.secondaryKey];
      const result = this.verify(token, context, keys);
      if (!result.ok) throw refusal(result);
      return { enrollment: individual, used: used(keys, result.keyIndex) };
    }

    let firstRefusal: SasVerification | null = null;
    for (const group of await context.enrollments.groups("symmetricKey")) {
      const match = this.verifyGroup(token, context, group);
      if (match.ok) return { enrollment: group, used: used(storedKeys(group), match.keyIndex) };
      // A signature made with this group's key but refused for another reason (expired, wrong
      // resource) is the answer; a mere signature mismatch means "try the next group".
      if (match.reason !== "signature") throw refusal(match);
      firstRefusal ??= match;
    }
    if (firstRefusal) throw refusal(firstRefusal);
    throw new AttestationError("no_enrollment", `No enrollment in scope ${context.idScope} for registration ${context.registrationId}`);
  }

  private verifyGroup(token: string, context: AttestationContext, group: EnrollmentRecord): SasVerification {
    if (group.attestation.type !== "symmetricKey") return { ok: false, reason: "signature", message: "not a symmetric-key group" };
    const keys = [group.attestation.primaryKey, group.attestation.secondaryKey].map((k) => deriveDeviceKey(k, context.registrationId));
    return this.verify(token, context, keys);
  }

  private verify(token: string, context: AttestationContext, keys: string[]): SasVerification {
    return verifySasToken(token, {
      keys,
      resource: `${context.idScope}/registrations/${context.registrationId}`,
      keyName: "registration",
      now: context.now,
      skewSeconds: this.options.skewSeconds,
      caseInsensitiveResource: true,
    });
  }
}

function storedKeys(e: EnrollmentRecord): string[] {
  return e.attestation.type === "symmetricKey" ? [e.attestation.primaryKey, e.attestation.secondaryKey] : [];
}

function used(storedKeys: string[], keyIndex: number): Attestation["used"] {
  return { method: "symmetricKey", keyIndex, keyId: keyFingerprint(storedKeys[keyIndex]!) };
}

function refusal(result: SasVerification & { ok: false }): AttestationError {
  const message = result.reason === "signature" ? "SAS token signature does not match the enrollment's keys" : result.message;
  return new AttestationError(result.reason, message);
}
