import type { AuditCheckStore } from "../../store/audit-check-store.js";
import type { CheckResult } from "./finding.js";

/**
 * Devices whose registration is still assigned to a hub while the certificate it was issued is
 * revoked: the revocation took the credential away but left the device provisioned, so the hub
 * still lists it (a renewal's superseded predecessor is not one: the device holds the successor).
 */
export async function revokedButAssignedCheck(store: AuditCheckStore, limit: number): Promise<CheckResult> {
  const { total, items } = await store.assignedWithRevokedCertificate(limit);
  return {
    found: total,
    findings: items.map((r) => ({
      message:
        `Registration ${r.idScope}/${r.registrationId} is still assigned` +
        `${r.assignedHub ? ` to ${r.assignedHub}` : ""}${r.deviceId ? ` as device ${r.deviceId}` : ""} ` +
        `with certificate ${r.serial}, revoked on ${r.revokedAt.toISOString()}${r.revocationReason ? ` (${r.revocationReason})` : ""}`,
      objects: [
        { type: "registration", id: `${r.idScope}/${r.registrationId}` },
        { type: "certificate", id: r.serial },
      ],
    })),
  };
}
