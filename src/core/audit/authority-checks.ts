import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { KeyFacts } from "../../store/audit-check-store.js";
import type { DpsStore } from "../../store/dps-store.js";
import type { CaRecord } from "../../store/records.js";
import type { CaStatusView } from "../authority/ca-rotation-service.js";
import type { CheckResult } from "./finding.js";
import { keyFactsOf, keyFactsOfSpki, keyWeakness } from "./key-facts.js";

const DAY = 86_400_000;

/** A CA certificate an X.509 enrollment group trusts: devices chaining to it are admitted. */
export interface EnrollmentCa {
  /** `<scope>/<group id>`. */
  group: string;
  subject: string;
  notAfter: Date;
  key: KeyFacts;
}

/** Every CA certificate of every X.509 enrollment group. */
export async function enrollmentCas(dps: DpsStore): Promise<EnrollmentCa[]> {
  const out: EnrollmentCa[] = [];
  for (const scope of await dps.listScopes()) {
    for (const group of await dps.groupsByAttestation(scope.idScope, "x509")) {
      if (!("caCertificates" in group.attestation)) continue;
      for (const pem of group.attestation.caCertificates) {
        const cert = ParsedCertificate.parse(pem, `a CA certificate of enrollment group ${group.idScope}/${group.id}`);
        out.push({ group: `${group.idScope}/${group.id}`, subject: cert.subject, notAfter: cert.notAfter, key: keyFactsOfSpki(cert.spki) });
      }
    }
  }
  return out;
}

/** dpki's own CAs and the CAs enrollment groups trust, with weak keys. */
export function caKeyCheck(cas: readonly CaRecord[], groupCas: readonly EnrollmentCa[]): CheckResult {
  const result: CheckResult = { found: 0, findings: [] };
  for (const ca of cas) {
    const weakness = keyWeakness(keyFactsOf(ca.certDer));
    if (!weakness) continue;
    result.found++;
    result.findings.push({ message: `${ca.kind} CA ${ca.id} has ${weakness}`, objects: [{ type: "ca", id: ca.id }] });
  }
  for (const ca of groupCas) {
    const weakness = keyWeakness(ca.key);
    if (!weakness) continue;
    result.found++;
    result.findings.push({
      message: `Enrollment group ${ca.group} trusts CA certificate ${ca.subject}, which has ${weakness}`,
      objects: [{ type: "group", id: ca.group }],
    });
  }
  return result;
}

/**
 * CAs still in service (signing, or answering for the certificates they issued) whose own
 * certificate ends before `before`, and enrollment-group CAs that do (devices chaining to an
 * expired one can no longer register).
 */
export function caExpiryCheck(cas: readonly CaStatusView[], groupCas: readonly EnrollmentCa[], now: Date, before: Date): CheckResult {
  const result: CheckResult = { found: 0, findings: [] };
  for (const ca of cas) {
    if (ca.state !== "active" && ca.state !== "serving") continue;
    const notAfter = new Date(ca.notAfter);
    if (notAfter >= before) continue;
    result.found++;
    result.findings.push({
      message: `${ca.kind} CA ${ca.id} (${ca.state}) ${expiry(notAfter, now)}`,
      objects: [{ type: "ca", id: ca.id }],
    });
  }
  for (const ca of groupCas) {
    if (ca.notAfter >= before) continue;
    result.found++;
    result.findings.push({
      message: `Enrollment group ${ca.group} trusts CA certificate ${ca.subject}, which ${expiry(ca.notAfter, now)}`,
      objects: [{ type: "group", id: ca.group }],
    });
  }
  return result;
}

function expiry(notAfter: Date, now: Date): string {
  const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY);
  const date = notAfter.toISOString();
  return notAfter <= now ? `expired on ${date}` : `expires on ${date}, in ${days} day${days === 1 ? "" : "s"}`;
}
