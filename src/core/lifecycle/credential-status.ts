import type { RevocationReason } from "../../../ca/revocation-reason.js";
import type { LifecycleStore } from "../../store/lifecycle-store.js";
import type { CertificateRecord } from "../../store/records.js";

export type CertificateState = { status: "good" } | { status: "revoked"; revokedAt: Date; reason?: RevocationReason; pending?: boolean };

/**
 * The revocation status of a certificate as relying parties must see it, from the live store:
 * revoked in the store, or renewed and past its grace period (superseded at that instant even
 * before the sweeper has written the revocation). `onDue` is told about the latter so the
 * revocation can be persisted (and reach the CRL) soon.
 */
export class CredentialStatus {
  constructor(
    private readonly lifecycle: LifecycleStore,
    private readonly onDue: (serial: string) => void = () => {},
  ) {}

  async of(cert: CertificateRecord, now: Date): Promise<CertificateState> {
    if (cert.status === "revoked") {
      return { status: "revoked", revokedAt: cert.revokedAt ?? cert.createdAt, reason: cert.revocationReason ?? undefined };
    }
    const pending = await this.lifecycle.pendingSupersession(cert.serial);
    if (pending && pending.supersedeAt <= now) {
      this.onDue(cert.serial);
      return { status: "revoked", revokedAt: pending.supersedeAt, reason: "superseded", pending: true };
    }
    return { status: "good" };
  }

  /** When a good certificate stops being good because it was renewed, or null. */
  async supersededAt(cert: CertificateRecord): Promise<Date | null> {
    if (cert.status !== "good") return null;
    return (await this.lifecycle.pendingSupersession(cert.serial))?.supersedeAt ?? null;
  }
}
