import { encodeCrl } from "../../../ca/crl.js";
import { readCertificateFields } from "../../../ca/certificate-fields.js";
import type { RevokedEntry } from "../../../ca/crl.js";
import type { Store } from "../../store/store.js";
import type { CaRecord, CrlRecord } from "../../store/records.js";
import type { LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { CaService } from "./ca-service.js";
import { isOfflineKeyRef } from "../../../ca/offline-key.js";

/** How long a CRL held in memory is served before the store is asked again. */
const RECHECK_MS = 1000;

export interface CrlInfo {
  issuer: string;
  number: string;
  thisUpdate: string;
  nextUpdate: string;
  entries: number;
}

/**
 * Publishes CRLs: an intermediate's lists the revoked certificates it issued; a root's (its
 * ARL, RFC 5280 §5 "authority revocation list") lists the revoked intermediates below it, so
 * `openssl verify -crl_check_all` can check every link of a chain. The latest signed CRL is kept in the store and served as is until a
 * revocation makes it stale or its nextUpdate draws near; CRL numbers only ever go up.
 * Staleness is read from the store (revoked count vs. the CRL's entries, and the latest CRL
 * number), so a revocation or a CRL made by another process or API node is seen too; the
 * current CRL is kept in memory and the store asked at most once a second, so serving a CRL
 * does not read a large blob and count every revocation per request.
 */
export class CrlService {
  private building = new Map<string, Promise<CrlRecord>>();
  private held = new Map<string, { crl: CrlRecord; checkedAt: number }>();

  constructor(
    private readonly store: Store,
    private readonly lifecycle: Pick<LifecycleStore, "caRevocations">,
    private readonly ca: CaService,
    private readonly clock: Clock,
    private readonly validityMs: number,
    private readonly refreshBeforeMs: number,
    private readonly options: {
      /** Validity of a CRL signed with an offline root's key (in the ceremony): until the next ceremony. */
      offlineValidityMs?: number;
    } = {},
  ) {}

  /** The current CRL of the active issuer (or of the CA `issuerCaId`, root or intermediate), building a new one when needed. */
  async current(actor: string, issuerCaId?: string): Promise<CrlRecord> {
    const id = issuerCaId ?? (await this.ca.activeIssuer()).ca.id;
    const now = this.clock.now().getTime();
    const held = this.held.get(id);
    const fresh = (crl: CrlRecord) => crl.nextUpdate.getTime() - now > this.refreshBeforeMs;
    if (held && now - held.checkedAt < RECHECK_MS && fresh(held.crl)) return held.crl;

    let latest = held?.crl ?? null;
    if (!latest || (await this.store.latestCrlNumber(id)) !== latest.number) latest = await this.store.latestCrl(id);
    const ca = (await this.store.listCas()).find((c) => c.id === id);
    if (ca && isOfflineKeyRef(ca.keyRef)) return this.offlineCrl(ca, latest, now);
    if (latest && fresh(latest) && latest.entries === (await this.revokedCount(id))) {
      this.held.set(id, { crl: latest, checkedAt: now });
      return latest;
    }
    return this.publish(actor, id);
  }

  /**
   * An offline root's CRL is signed in the ceremony only: the latest one is served until its
   * nextUpdate, even when an intermediate was revoked since (it lists that revocation once the
   * next ceremony signs a new one).
   */
  private offlineCrl(ca: CaRecord, latest: CrlRecord | null, now: number): CrlRecord {
    if (latest && latest.nextUpdate.getTime() > now) {
      this.held.set(ca.id, { crl: latest, checkedAt: now });
      return latest;
    }
    throw new AppError(
      "key_offline",
      `The CRL of root ${ca.id} ${latest ? `expired at ${latest.nextUpdate.toISOString()}` : "was never signed"}, and its key is offline: sign a new one in the ceremony (\`dpki ca request-crl\` here, \`dpki ca sign-crl\` on the offline machine, \`dpki ca import-crl\` here)`,
      { caId: ca.id },
    );
  }

  /** Stores a CRL signed elsewhere (an offline root's, from the ceremony); its signature and number were checked by the caller. */
  async importCrl(crl: CrlRecord, actor: string, subject: string): Promise<void> {
    await this.store.insertCrl(crl, {
      at: this.clock.now(),
      actor,
      action: "crl.import",
      subject,
      details: { issuer: crl.issuerCaId, number: crl.number.toString(), entries: crl.entries, nextUpdate: crl.nextUpdate.toISOString() },
    });
    this.held.delete(crl.issuerCaId);
  }

  /** A revocation in this process: the next request checks the store at once (all CAs' CRLs when none is named). */
  revoked(issuerCaId?: string): void {
    if (issuerCaId === undefined) this.held.clear();
    else this.held.delete(issuerCaId);
  }

  /** Signs and stores a fresh CRL now. Concurrent callers share one build. */
  publish(actor: string, issuerCaId: string): Promise<CrlRecord> {
    let build = this.building.get(issuerCaId);
    if (!build) {
      build = this.build(actor, issuerCaId).finally(() => this.building.delete(issuerCaId));
      this.building.set(issuerCaId, build);
    }
    return build;
  }

  private async build(actor: string, issuerCaId: string): Promise<CrlRecord> {
    const issuer = await this.ca.issuer(issuerCaId);
    const entries = issuer.ca.kind === "root" ? await this.revokedBelow(issuerCaId) : await this.revokedLeaves(issuerCaId);
    for (let attempt = 0; ; attempt++) {
      const latest = await this.store.latestCrl(issuerCaId);
      const thisUpdate = this.clock.now();
      const validityMs = isOfflineKeyRef(issuer.ca.keyRef) ? (this.options.offlineValidityMs ?? this.validityMs) : this.validityMs;
      const crl: CrlRecord = {
        issuerCaId,
        number: (latest?.number ?? 0n) + 1n,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + validityMs),
        entries: entries.length,
        der: new Uint8Array(),
      };
      crl.der = await encodeCrl(
        {
          issuer: issuer.name,
          thisUpdate: crl.thisUpdate,
          nextUpdate: crl.nextUpdate,
          crlNumber: crl.number,
          authorityKeyIdentifier: issuer.keyId,
          entries,
        },
        issuer.signer,
      );
      try {
        await this.store.insertCrl(crl, {
          at: thisUpdate,
          actor,
          action: "crl.publish",
          subject: issuer.ca.subject,
          details: { issuer: issuerCaId, number: crl.number.toString(), entries: crl.entries, nextUpdate: crl.nextUpdate.toISOString() },
        });
        this.held.set(issuerCaId, { crl, checkedAt: this.clock.now().getTime() });
        return crl;
      } catch (err) {
        // Another process published the same number first: sign again with the next one.
        if (err instanceof AppError && err.code === "conflict" && attempt < 3) continue;
        throw err;
      }
    }
  }

  private async revokedLeaves(issuerCaId: string): Promise<RevokedEntry[]> {
    const entries: RevokedEntry[] = [];
    for await (const batch of this.store.revokedSerials(issuerCaId)) {
      for (const r of batch) {
        entries.push({ serial: Buffer.from(r.serial, "hex"), revokedAt: r.revokedAt, reason: r.reason ?? undefined });
      }
    }
    return entries;
  }

  /** The revoked intermediates a root signed. */
  async revokedBelow(rootId: string): Promise<RevokedEntry[]> {
    const [cas, revocations] = await Promise.all([this.store.listCas(), this.lifecycle.caRevocations()]);
    const below = new Map(cas.filter((c) => c.parentId === rootId).map((c) => [c.id, c]));
    return revocations.flatMap((r) => {
      const ca = below.get(r.caId);
      return ca ? [{ serial: caSerialBytes(ca), revokedAt: r.revokedAt, reason: r.reason }] : [];
    });
  }

  private async revokedCount(caId: string): Promise<number> {
    const ca = (await this.store.listCas()).find((c) => c.id === caId);
    return ca?.kind === "root" ? (await this.revokedBelow(caId)).length : this.store.countRevoked(caId);
  }
}

function caSerialBytes(ca: CaRecord): Uint8Array {
  return Buffer.from(readCertificateFields(ca.certDer, "CA certificate").serial, "hex");
}

export function crlInfo(crl: CrlRecord): CrlInfo {
  return {
    issuer: crl.issuerCaId,
    number: crl.number.toString(),
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate.toISOString(),
    entries: crl.entries,
  };
}
