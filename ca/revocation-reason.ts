/** RFC 5280 §5.3.1 CRLReason. 7 is unused; removeFromCRL only makes sense in delta CRLs. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(value: string): value is RevocationReason {
  return Object.prototype.hasOwnProperty.call(REVOCATION_REASONS, value);
}
