import type { ParsedCsr } from "./csr.js";
import type { ExtendedKeyUsage, KeyUsage, NameAttribute, SubjectAltName } from "./x509-types.js";
import { PkiError } from "./pki-error.js";
import { readRequestedConstraints } from "./requested-extensions.js";

export type ProfileKeyAlgorithm = "P-256" | "P-384" | "RSA" | "Ed25519";

/** A named set of rules for what an issued certificate may look like (policies/profiles.yaml). */
export interface Profile {
  name: string;
  description: string;
  keyAlgorithms: ProfileKeyAlgorithm[];
  minRsaBits: number;
  defaultValidityMs: number;
  maxValidityMs: number;
  subject: {
    commonName: { required: boolean; pattern?: string };
    /** Short names (CN, O, OU, …) a CSR may carry. */
    allowed: string[];
  };
  subjectAltNames: { allowed: Array<SubjectAltName["type"]>; required: boolean };
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
}

/** What the profile grants one CSR: the only inputs the signing path takes from the request. */
export interface Grant {
  subject: NameAttribute[];
  commonName: string | null;
  subjectAltNames: SubjectAltName[];
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  validityMs: number;
}

export interface GrantOptions {
  /** Requested lifetime; the profile's default when absent. */
  validityMs?: number;
  /** When set, the CN must equal this (e.g. the DPS registration id). */
  commonNameMustEqual?: string;
}

/** The absolute floor, whatever a profile file says. */
const MIN_RSA_BITS = 2048;

const OID_SAN = "2.5.29.17";
/** Extensions a CSR may request; their content is checked below. Anything else critical is refused. */
const UNDERSTOOD_EXTENSIONS = new Set([OID_SAN, "2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.14"]);

/**
 * Checks a parsed, signature-verified CSR against a profile and returns what may be issued.
 * Refuses (never trims) anything the profile does not allow, naming the first problem.
 */
export function grantFromProfile(csr: ParsedCsr, profile: Profile, options: GrantOptions = {}): Grant {
  checkKey(csr, profile);

  for (const attr of csr.subject) {
    const name = attr.shortName ?? attr.oid;
    if (!profile.subject.allowed.includes(name)) {
      throw violation(profile, `subject attribute ${name} is not allowed (allowed: ${profile.subject.allowed.join(", ")})`);
    }
  }
  const cns = csr.subject.filter((a) => a.shortName === "CN");
  if (cns.length > 1) throw violation(profile, "subject has more than one CN");
  const commonName = cns[0]?.value ?? null;
  const cnRule = profile.subject.commonName;
  if (commonName === null && cnRule.required) throw violation(profile, "subject CN is required");
  if (commonName !== null && cnRule.pattern && !new RegExp(cnRule.pattern).test(commonName)) {
    throw violation(profile, `subject CN "${commonName}" does not match the pattern ${cnRule.pattern}`);
  }
  if (options.commonNameMustEqual !== undefined && commonName !== options.commonNameMustEqual) {
    throw violation(profile, `subject CN must equal "${options.commonNameMustEqual}"`);
  }

  for (const san of csr.subjectAltNames) {
    if (!profile.subjectAltNames.allowed.includes(san.type)) {
      throw violation(profile, `subject alternative name of type ${san.type} (${san.value}) is not allowed`);
    }
  }
  if (profile.subjectAltNames.required && csr.subjectAltNames.length === 0) {
    throw violation(profile, "at least one subject alternative name is required");
  }
  if (csr.subject.length === 0 && csr.subjectAltNames.length === 0) {
    throw violation(profile, "a certificate needs a subject or a subject alternative name");
  }

  checkRequestedExtensions(csr, profile);

  const validityMs = options.validityMs ?? profile.defaultValidityMs;
  if (validityMs <= 0) throw new PkiError("invalid_argument", "Validity must be positive");
  if (validityMs > profile.maxValidityMs) {
    throw violation(profile, `requested validity ${days(validityMs)} exceeds the maximum of ${days(profile.maxValidityMs)}`);
  }

  return {
    subject: csr.subject,
    commonName,
    subjectAltNames: csr.subjectAltNames,
    keyUsage: profile.keyUsage,
    extendedKeyUsage: profile.extendedKeyUsage,
    validityMs,
  };
}

function checkKey(csr: ParsedCsr, profile: Profile): void {
  const key = csr.publicKey;
  if (key.kind === "rsa") {
    if (key.bits < MIN_RSA_BITS)
      throw new PkiError("weak_key", `RSA key of ${key.bits} bits is too weak: at least ${MIN_RSA_BITS} bits are required`);
    if (!profile.keyAlgorithms.includes("RSA")) throw violation(profile, "RSA keys are not allowed");
    if (key.bits < profile.minRsaBits)
      throw new PkiError("weak_key", `RSA key of ${key.bits} bits is below the profile's minimum of ${profile.minRsaBits}`);
    return;
  }
  if (key.kind === "ec") {
    if (key.curve !== "P-256" && key.curve !== "P-384") {
      throw new PkiError("weak_key", `EC curve ${key.curve} is not accepted: use P-256 or P-384`);
    }
    if (!profile.keyAlgorithms.includes(key.curve)) throw violation(profile, `${key.curve} keys are not allowed`);
    return;
  }
  if (!profile.keyAlgorithms.includes("Ed25519")) throw violation(profile, "Ed25519 keys are not allowed");
}

function checkRequestedExtensions(csr: ParsedCsr, profile: Profile): void {
  for (const ext of csr.requestedExtensions) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.oid)) {
      throw violation(profile, `critical extension ${ext.oid} is not supported`);
    }
  }
  const asked = readRequestedConstraints(csr.requestedExtensions);
  if (asked.ca) throw violation(profile, "the CSR asks for CA:true; device certificates are never CAs");
  const extraKu = asked.keyUsage.filter((u) => !profile.keyUsage.includes(u));
  if (extraKu.length > 0) throw violation(profile, `key usage ${extraKu.join(", ")} is not granted by this profile`);
  const extraEku = asked.extendedKeyUsage.filter((u) => !(profile.extendedKeyUsage as string[]).includes(u));
  if (extraEku.length > 0) throw violation(profile, `extended key usage ${extraEku.join(", ")} is not granted by this profile`);
}

function violation(profile: Profile, reason: string): PkiError {
  return new PkiError("profile_violation", `Profile ${profile.name}: ${reason}`, { profile: profile.name, reason });
}

function days(ms: number): string {
  return `${Math.round((ms / 86_400_000) * 100) / 100} days`;
}
