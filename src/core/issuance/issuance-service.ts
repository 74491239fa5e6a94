import { createHash } from "node:crypto";
import type { Store } from "../../store/store.js";
import type { AuditInput, CertificateRecord } from "../../store/records.js";
import type { Clock } from "../../clock.js";
import type { PolicySet } from "../../policy/policy-set.js";
import { getProfile } from "../../policy/policy-set.js";
import { AppError, ERROR_TABLE, toAppError } from "../../errors.js";
import { BatchWriter } from "./batch-writer.js";
import type { CaService } from "../authority/ca-service.js";
import { certificateView, type CertificateView } from "./certificate-view.js";
import type { LeafExecutor } from "./leaf-executor.js";
import type { AuditContext } from "../audit/audit-context.js";
import type { RefusalLog } from "../audit/refusal-log.js";

export interface IssueRequest {
  /** PEM or DER PKCS#10. */
  csr: string | Uint8Array;
  profile: string;
  validityMs?: number;
  actor: string;
  /** Set when the CN must equal a known identity (a DPS registration id). */
  commonNameMustEqual?: string;
  /** Extra facts for the log entry (e.g. the registration that caused the issuance). */
  details?: Record<string, unknown>;
  /** The ID scope the certificate belongs to: its device's, or the scoped token's that asked. */
  scope?: string | null;
  /** Where the request came from (a device's address); the audit context's source when undefined. */
  source?: string | null;
}

export interface IssuedCertificate {
  certificate: CertificateView;
  der: Uint8Array;
  /** Issuer first, root last; the leaf is not included. */
  chain: Uint8Array[];
}

export type BatchItemResult = { ok: true; issued: IssuedCertificate } | { ok: false; error: AppError };

const SERIAL_ATTEMPTS = 3;
const BATCH_IN_FLIGHT = 256;

/**
 * The single signing path: every certificate dpki issues to a subscriber passes through
 * `issue`, which verifies proof of possession, applies the profile, signs, and commits the
 * certificate together with its log entry before answering.
 */
export class IssuanceService {
  private readonly writer: BatchWriter<{ cert: CertificateRecord; audit: AuditInput }>;

  constructor(
    private readonly store: Store,
    private readonly ca: CaService,
    private readonly policies: PolicySet,
    private readonly clock: Clock,
    private readonly executor: LeafExecutor,
    /** Where requests come from, and the log of refused ones (`cert.refuse`). */
    private readonly audit?: { context: AuditContext; refusals: RefusalLog },
  ) {
    this.writer = new BatchWriter((items) => this.store.insertCertificates(items));
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    // Read here, in the caller's context: the batch the entry joins commits in another's.
    const source = request.source !== undefined ? request.source : (this.audit?.context.source() ?? null);
    try {
      return await this.sign(request, source);
    } catch (err) {
      await this.refused(request, source, err);
      throw err;
    }
  }

  private async sign(request: IssueRequest, source: string | null): Promise<IssuedCertificate> {
    const profile = getProfile(this.policies, request.profile);
    const issuer = await this.ca.activeIssuer();

    for (let attempt = 1; ; attempt++) {
      const now = this.clock.now();
      const leaf = await this.executor.build(
        { csr: request.csr, profile, validityMs: request.validityMs, commonNameMustEqual: request.commonNameMustEqual, notBefore: now },
        issuer,
      );
      const cert: CertificateRecord = {
        serial: leaf.serial,
        sha256: leaf.sha256,
        issuerCaId: issuer.ca.id,
        subject: leaf.subject,
        commonName: leaf.commonName,
        subjectAltNames: leaf.subjectAltNames,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
        profile: profile.name,
        requester: request.actor,
        scope: request.scope ?? null,
        status: "good",
        revokedAt: null,
        revocationReason: null,
        der: leaf.der,
        createdAt: now,
      };
      const audit: AuditInput = {
        at: now,
        actor: request.actor,
        action: "cert.issue",
        subject: cert.subject,
        serial: cert.serial,
        profile: profile.name,
        policyHash: this.policies.hash,
        source,
        details: { sha256: cert.sha256, issuer: issuer.ca.id, notAfter: cert.notAfter.toISOString(), ...request.details },
      };
      try {
        await this.writer.write({ cert, audit });
      } catch (err) {
        // Two serials of one millisecond sharing 80 random bits is next to impossible, but uniqueness is checked, not hoped for.
        if (err instanceof AppError && err.code === "conflict" && attempt < SERIAL_ATTEMPTS) continue;
        throw err;
      }
      return { certificate: certificateView(cert, now), der: leaf.der, chain: issuer.chain };
    }
  }

  /** A CSR refused for what it or its request is (not a failure of dpki's own) goes into the log with the reason. */
  private async refused(request: IssueRequest, source: string | null, err: unknown): Promise<void> {
    const error = toAppError(err);
    const status = ERROR_TABLE[error.code].status;
    if (!this.audit || status < 400 || status >= 500 || error.code === "conflict") return;
    const csr = typeof request.csr === "string" ? Buffer.from(request.csr, "utf8") : request.csr;
    await this.audit.refusals.record({
      action: "cert.refuse",
      actor: request.actor,
      source,
      code: error.code,
      message: error.message,
      profile: request.profile,
      details: {
        csrSha256: createHash("sha256").update(csr).digest("hex"),
        ...(request.scope ? { idScope: request.scope } : {}),
        ...request.details,
      },
    });
  }

  /** Issues many CSRs; one failure never stops the rest. Results keep the input order. */
  async issueMany(requests: IssueRequest[], onSettled?: (index: number, result: BatchItemResult) => void): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = new Array(requests.length);
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        try {
          results[i] = { ok: true, issued: await this.issue(requests[i]!) };
        } catch (err) {
          results[i] = { ok: false, error: toAppError(err) };
        }
        onSettled?.(i, results[i]!);
      }
    };
    // A batch knows its whole workload up front: keeping more in flight than interactive
    // callers do sends the leaf workers bigger messages and the group commit bigger batches.
    await Promise.all(Array.from({ length: Math.min(BATCH_IN_FLIGHT, requests.length) }, worker));
    return results;
  }
}
