import type { AuditFilter, Page, Store } from "../store/store.js";
import type { AuditEntry } from "../store/records.js";
import { verifyChain, type ChainVerdict } from "./audit-chain.js";
import { AppError } from "../errors.js";
import { MAX_PAGE } from "./certificate-service.js";

export interface AuditEntryView {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  serial: string | null;
  profile: string | null;
  policyHash: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Reading and verifying the tamper-evident issuance log. */
export class AuditService {
  constructor(private readonly store: Store) {}

  async list(filter: AuditFilter, after: string | null | undefined, limit = 100): Promise<Page<AuditEntryView>> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new AppError("invalid_argument", `limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    const page = await this.store.listAudit(filter, { after, limit });
    return { items: page.items.map(auditEntryView), nextCursor: page.nextCursor };
  }

  verify(): Promise<ChainVerdict> {
    return verifyChain(this.store.auditEntries());
  }
}

export function auditEntryView(e: AuditEntry): AuditEntryView {
  return { ...e, at: e.at.toISOString() };
}
