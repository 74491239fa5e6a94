/** Key algorithms dpki generates for CAs and accepts in CSRs (subject to profile). */
export const KEY_ALGORITHMS = ["P-256", "P-384", "RSA-2048", "RSA-3072", "RSA-4096", "Ed25519"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** What a public key *is*, as read from a SubjectPublicKeyInfo. */
export type PublicKeyInfo =
  { kind: "ec"; curve: "P-256" | "P-384" | "P-521" | string } | { kind: "rsa"; bits: number } | { kind: "ed25519" };

export function isKeyAlgorithm(value: string): value is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(value);
}
