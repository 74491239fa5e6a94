import type { Profile } from "../../../ca/profile.js";
import type { PolicySet } from "../../policy/policy-set.js";
import type { AuditCheckStore, LiveCertificate } from "../../store/audit-check-store.js";
import type { CheckResult } from "./finding.js";
import { keyName, keyWeakness, profileKeyAlgorithm } from "./key-facts.js";

const DAY = 86_400_000;

/** Good, unexpired certificates holding the same public key: one finding per key. */
export async function sharedKeyCheck(store: AuditCheckStore, now: Date, limit: number): Promise<CheckResult> {
  const { total, keys } = await store.sharedKeys(now, limit);
  return {
    found: total,
    findings: keys.map((k) => ({
      message: `${k.serials.length} good certificates share one public key (SPKI SHA-256 ${k.spkiSha256.slice(0, 16)}…)`,
      objects: k.serials.map((serial) => ({ type: "certificate", id: serial })),
    })),
  };
}

/**
 * Weak keys and profile drift of good, unexpired certificates, in one pass over them: a
 * certificate is judged on what was recorded when it was issued (validity, key, CN, SANs)
 * against the profile as the policy file now defines it, so a tightened rule shows what it left behind.
 */
export async function liveCertificateChecks(
  store: AuditCheckStore,
  policies: PolicySet,
  now: Date,
  limit: number,
): Promise<{ weak: CheckResult; outside: CheckResult }> {
  const weak: CheckResult = { found: 0, findings: [] };
  const outside: CheckResult = { found: 0, findings: [] };
  const patterns = new Map<string, RegExp | null>();
  for await (const batch of store.liveCertificates(now)) {
    for (const cert of batch) {
      const weakness = cert.key && keyWeakness(cert.key);
      if (weakness) {
        weak.found++;
        if (weak.findings.length < limit) {
          weak.findings.push({
            message: `Certificate ${cert.serial} has ${weakness}`,
            objects: [{ type: "certificate", id: cert.serial }],
          });
        }
      }
      const profile = policies.profiles.get(cert.profile);
      const problems = profile ? profileProblems(cert, profile, patterns) : [`its profile ${cert.profile} is no longer defined`];
      if (problems.length > 0) {
        outside.found++;
        if (outside.findings.length < limit) {
          outside.findings.push({
            message: `Certificate ${cert.serial} (profile ${cert.profile}): ${problems.join("; ")}`,
            objects: [{ type: "certificate", id: cert.serial }],
          });
        }
      }
    }
  }
  return { weak, outside };
}

function profileProblems(cert: LiveCertificate, profile: Profile, patterns: Map<string, RegExp | null>): string[] {
  const problems: string[] = [];
  const validity = cert.notAfter.getTime() - cert.notBefore.getTime();
  if (validity > profile.maxValidityMs) {
    problems.push(`valid for ${days(validity)}, the profile now allows at most ${days(profile.maxValidityMs)}`);
  }
  if (cert.key) {
    const algorithm = profileKeyAlgorithm(cert.key);
    if (!algorithm || !profile.keyAlgorithms.includes(algorithm)) {
      problems.push(`${keyName(cert.key)} keys are not allowed (allowed: ${profile.keyAlgorithms.join(", ")})`);
    } else if (algorithm === "RSA" && cert.key.rsaBits !== null && cert.key.rsaBits < profile.minRsaBits) {
      problems.push(`RSA key of ${cert.key.rsaBits} bits, the profile now requires at least ${profile.minRsaBits}`);
    }
  }
  const cnRule = profile.subject.commonName;
  if (cert.commonName === null && cnRule.required) problems.push("no CN, which the profile now requires");
  if (cert.commonName !== null && cnRule.pattern) {
    if (!patterns.has(profile.name)) patterns.set(profile.name, new RegExp(cnRule.pattern));
    if (!patterns.get(profile.name)!.test(cert.commonName)) problems.push(`CN "${cert.commonName}" does not match ${cnRule.pattern}`);
  }
  const sanTypes = [...new Set(cert.subjectAltNames.map((san) => san.slice(0, san.indexOf(":"))))];
  const refused = sanTypes.filter((t) => !(profile.subjectAltNames.allowed as string[]).includes(t));
  if (refused.length > 0) problems.push(`subject alternative names of type ${refused.join(", ")} are not allowed`);
  if (profile.subjectAltNames.required && cert.subjectAltNames.length === 0)
    problems.push("no subject alternative name, which the profile now requires");
  return problems;
}

function days(ms: number): string {
  const d = ms / DAY;
  return `${Number.isInteger(d) ? d : d.toFixed(1)} days`;
}
