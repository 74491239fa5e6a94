import { normaliseSerialHex } from "../../../ca/serial.js";
import { isRevocationReason, REVOCATION_REASONS, type RevocationReason } from "../../../ca/revocation-reason.js";
import type { CertificateFilter, Page, Store } from "../../store/store.js";
import type { AuditInput, CertificateRecord } from "../../store/records.js";
import { pageLimit } from "../page-limit.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { certificateView, type CertificateView } from "./certificate-view.js";

export interface ListCertificatesQuery {
  status?: "good" | "revoked" | "expired";
  subject?: string;
  profile?: string;
  /** Only good certificates expiring within this many milliseconds. */
  expiringWithinMs?: number;
  after?: string | null;
  limit?: number;
  /** Only certificates of this ID scope. */
  scope?: string | null;
}

/** Looking certificates up, listing them, and revoking them. */
export class CertificateService {
  /** Called after every revocation so caches (the CRL) can refresh. */
  onRevoked: Array<(cert: CertificateRecord) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Finds a certificate by serial (hex, colons allowed) or SHA-256 thumbprint (64 hex). */
  /**
   * A certificate by serial or thumbprint. With `scope`, only one of that ID scope: any other
   * answers not_found exactly as a missing one, so a scoped caller learns nothing of it.
   */
  async find(id: string, scope: string | null = null): Promise<CertificateRecord> {
    const text = id.trim().toLowerCase().replace(/:/g, "");
    let cert: CertificateRecord | null = null;
    if (/^[0-9a-f]{64}$/.test(text)) cert = await this.store.getCertificate({ sha256: text });
    if (!cert) {
      const serial = normaliseSerialHex(text);
      if (!serial) throw new AppError("invalid_argument", `"${id}" is neither a hex serial number nor a SHA-256 thumbprint`);
      cert = await this.store.getCertificate({ serial });
    }
    if (!cert || (scope !== null && cert.scope?.toLowerCase() !== scope.toLowerCase())) {
      throw new AppError("not_found", `No certificate with serial or thumbprint ${id}`);
    }
    return cert;
  }

  async get(id: string, scope: string | null = null): Promise<CertificateView> {
    return certificateView(await this.find(id, scope), this.clock.now());
  }

  async list(query: ListCertificatesQuery): Promise<Page<CertificateView>> {
    const now = this.clock.now();
    const limit = pageLimit(query.limit);
    const filter: CertificateFilter = {
      status: query.status,
      subject: query.subject,
      profile: query.profile,
      scope: query.scope ?? undefined,
      expiringBefore: query.expiringWithinMs !== undefined ? new Date(now.getTime() + query.expiringWithinMs) : undefined,
    };
    const page = await this.store.listCertificates(filter, { after: query.after, limit }, now);
    return { items: page.items.map((c) => certificateView(c, now)), nextCursor: page.nextCursor };
  }

  async revoke(id: string, reason: string, actor: string, scope: string | null = null): Promise<CertificateView> {
    if (!isRevocationReason(reason)) {
      throw new AppError(
        "invalid_argument",
        `Unknown revocation reason "${reason}" (one of: ${Object.keys(REVOCATION_REASONS).join(", ")})`,
      );
    }
    const cert = await this.find(id, scope);
    const now = this.clock.now();
    const revoked = await this.store.revokeCertificate(
      cert.serial,
      reason as RevocationReason,
      now,
      certRevokedAudit(cert, reason, actor, now),
    );
    for (const listener of this.onRevoked) listener(revoked);
    return certificateView(revoked, now);
  }
}

/** The log entry of one certificate's revocation; cascades name their cause in `details`. */
export function certRevokedAudit(
  cert: Pick<CertificateRecord, "serial" | "sha256" | "subject" | "profile">,
  reason: string,
  actor: string,
  at: Date,
  details: Record<string, unknown> = {},
): AuditInput {
  return {
    at,
    actor,
    action: "cert.revoke",
    subject: cert.subject,
    serial: cert.serial,
    profile: cert.profile,
    details: { reason, sha256: cert.sha256, ...details },
  };
}
