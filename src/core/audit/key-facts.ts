import { createHash } from "node:crypto";
import { readCertificateFields } from "../../../ca/certificate-fields.js";
import { readPublicKeyInfo } from "../../../ca/csr.js";
import { PkiError } from "../../../ca/pki-error.js";
import type { ProfileKeyAlgorithm } from "../../../ca/profile.js";
import type { AuditCheckStore, KeyFacts } from "../../store/audit-check-store.js";

const BATCH = 2_000;

/** What a certificate's key is, from its DER; an unreadable certificate is recorded as such rather than retried. */
export function keyFactsOf(certDer: Uint8Array): KeyFacts {
  let spki: Uint8Array;
  try {
    spki = readCertificateFields(certDer).spki;
  } catch {
    return { spkiSha256: null, algorithm: "unreadable", rsaBits: null };
  }
  return keyFactsOfSpki(spki);
}

export function keyFactsOfSpki(spki: Uint8Array): KeyFacts {
  const spkiSha256 = createHash("sha256").update(spki).digest("hex");
  try {
    const key = readPublicKeyInfo(spki);
    if (key.kind === "rsa") return { spkiSha256, algorithm: "RSA", rsaBits: key.bits };
    if (key.kind === "ec") return { spkiSha256, algorithm: /^P-\d+$/.test(key.curve) ? key.curve : `EC ${key.curve}`, rsaBits: null };
    return { spkiSha256, algorithm: "Ed25519", rsaBits: null };
  } catch (err) {
    if (err instanceof PkiError && typeof err.detail?.oid === "string") return { spkiSha256, algorithm: err.detail.oid, rsaBits: null };
    return { spkiSha256, algorithm: "unreadable", rsaBits: null };
  }
}

/**
 * Records the key facts of every certificate committed since the last catch-up. Each certificate
 * is read once in its life: later checks query the recorded facts.
 */
export async function catchUpKeyFacts(store: AuditCheckStore): Promise<void> {
  for (;;) {
    const pending = await store.certificatesWithoutKeyFacts(BATCH);
    if (pending.length === 0) return;
    await store.recordKeyFacts(pending.map((c) => ({ serial: c.serial, ...keyFactsOf(c.der) })));
    if (pending.length < BATCH) return;
  }
}

/** Keys dpki itself accepts; anything else found on a certificate is a weak or foreign key. */
const ACCEPTED = new Set(["P-256", "P-384", "P-521", "Ed25519"]);
const MIN_RSA_BITS = 2048;

/** Why a key is weak, or null when it is not. */
export function keyWeakness(key: KeyFacts): string | null {
  if (key.algorithm === "RSA") {
    return key.rsaBits !== null && key.rsaBits < MIN_RSA_BITS ? `RSA key of ${key.rsaBits} bits (at least ${MIN_RSA_BITS} needed)` : null;
  }
  if (ACCEPTED.has(key.algorithm)) return null;
  if (key.algorithm === "unreadable") return "a public key that cannot be read";
  if (key.algorithm.startsWith("EC ")) return `an EC key on curve ${key.algorithm.slice(3)} (use P-256 or P-384)`;
  return `a key of algorithm ${key.algorithm}, which dpki does not accept`;
}

/** The profile vocabulary's name for a key (P-256, P-384, RSA, Ed25519), or null for keys no profile can allow. */
export function profileKeyAlgorithm(key: KeyFacts): ProfileKeyAlgorithm | null {
  return key.algorithm === "RSA" || key.algorithm === "P-256" || key.algorithm === "P-384" || key.algorithm === "Ed25519"
    ? key.algorithm
    : null;
}

/** A key as people name it: "RSA-2048", "P-256". */
export function keyName(key: KeyFacts): string {
  return key.algorithm === "RSA" ? `RSA-${key.rsaBits}` : key.algorithm;
}
