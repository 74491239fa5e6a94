import type { AuditFilter, Page, Store } from "../store/store.js";
import type { AuditEntry } from "../store/records.js";
import { verifyChain, type ChainVerdict } from "../store/audit-chain.js";
import { pageLimit } from "./page-limit.js";

/** An issuance-log entry as the API and --json show it: the stored entry with its time as ISO 8601. */
export type AuditEntryView = Omit<AuditEntry, "at"> & { at: string };

/** Reading and verifying the tamper-evident issuance log. */
export class AuditService {
  constructor(private readonly store: Store) {}

  async list(filter: AuditFilter, after: string | null | undefined, limit = 100): Promise<Page<AuditEntryView>> {
    const page = await this.store.listAudit(filter, { after, limit: pageLimit(limit) });
    return { items: page.items.map(auditEntryView), nextCursor: page.nextCursor };
  }

  verify(): Promise<ChainVerdict> {
    return verifyChain(this.store.auditEntries());
  }
}

export function auditEntryView(e: AuditEntry): AuditEntryView {
  return { ...e, at: e.at.toISOString() };
}
