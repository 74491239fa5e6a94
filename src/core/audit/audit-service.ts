import type { AuditFilter, Page, Store } from "../../store/store.js";
import type { AuditEntry } from "../../store/records.js";
import { verifyChain, type ChainVerdict } from "../../store/audit-chain.js";
import { pageLimit } from "../page-limit.js";
import type { LogService } from "./log-service.js";

/** An issuance-log entry as the API and --json show it: the stored entry with its time as ISO 8601. */
export type AuditEntryView = Omit<AuditEntry, "at"> & { at: string };

/** Reading and verifying the tamper-evident issuance log. */
export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly log?: LogService,
  ) {}

  async list(filter: AuditFilter, after: string | null | undefined, limit = 100): Promise<Page<AuditEntryView>> {
    const page = await this.store.listAudit(filter, { after, limit: pageLimit(limit) });
    return { items: page.items.map(auditEntryView), nextCursor: page.nextCursor };
  }

  /**
   * The hash chain from the first entry, then the entries against the latest signed checkpoint:
   * a chain cannot see its own tail cut off, a checkpoint can.
   */
  async verify(): Promise<ChainVerdict> {
    const chain = await verifyChain(this.store.auditEntries());
    if (!chain.ok || !this.log) return chain;
    const signed = await this.log.checkAgainstCheckpoint();
    if (!signed) return chain;
    if (signed.ok) return { ...chain, checkpoint: { size: signed.size, message: signed.message } };
    const problem = /cut/.test(signed.message) ? "truncated" : "rewritten";
    return { ok: false, entries: chain.entries, seq: Math.min(chain.entries + 1, signed.size), problem, message: signed.message };
  }
}

export function auditEntryView(e: AuditEntry): AuditEntryView {
  return { ...e, at: e.at.toISOString() };
}
