import { ParsedCertificate } from "../../../ca/x509-certificate.js";
import type { CertificateRecord } from "../../store/records.js";
import { decodeCursor, encodeCursor } from "../../store/cursor.js";
import { AppError } from "../../errors.js";
import { pageLimit } from "../page-limit.js";
import { clip } from "../clip.js";
import { DeviceAuthenticator, type DeviceAuthDeps } from "./device-auth.js";
import { authenticationOf, deviceStanding } from "./device-standing.js";
import type {
  DeviceAuthRequest,
  DeviceAuthVerdict,
  HubCaller,
  HubChangesPage,
  HubChangeView,
  HubDeviceCertificate,
  HubDeviceView,
  HubServiceOptions,
  ResolvedHub,
} from "./hub-api-types.js";

const HUB_CACHE_MS = 2_000;
const FEED_BATCH = 5_000;

/**
 * The hub API, called by a hub with a token bound to it: which hub the caller may act for, what
 * a device's assignment and credentials are, whether a credential it presents is good right
 * now, and a feed of changes to keep a local copy in sync. Everything is read from the live
 * store, so revocations and disabled enrollments take effect at once.
 */
export class HubService {
  private readonly hubCache = new Map<string, { at: number; hubs: Promise<ResolvedHub[]> }>();
  private readonly authenticator: DeviceAuthenticator;

  constructor(
    private readonly deps: DeviceAuthDeps,
    options: HubServiceOptions,
  ) {
    this.authenticator = new DeviceAuthenticator(deps, options);
  }

  /**
   * The hub named in the path, as `caller` may see it: a hub token only its own hub (by name or
   * host name, in its scope if it has one); others any hub whose name or host name is unique.
   */
  async resolve(caller: HubCaller, hubRef: string): Promise<ResolvedHub> {
    const ref = hubRef.toLowerCase();
    if (caller.role === "hub") {
      const own = (caller.hub ?? "").toLowerCase();
      if (own !== ref) {
        const mine = (await this.hubs(caller.scope)).find((h) => h.name.toLowerCase() === own || h.hostName.toLowerCase() === own);
        if (!mine || (mine.name.toLowerCase() !== ref && mine.hostName.toLowerCase() !== ref)) {
          throw new AppError("forbidden", `This hub token acts for hub ${caller.hub}; it cannot see hub ${clip(hubRef)}`);
        }
        return mine;
      }
    }
    const matches = (await this.hubs(caller.scope)).filter((h) => h.name.toLowerCase() === ref || h.hostName.toLowerCase() === ref);
    if (matches.length === 0) throw new AppError("not_found", `No hub ${clip(hubRef)}`);
    if (matches.length > 1) {
      throw new AppError(
        "conflict",
        `Hub ${clip(hubRef)} exists in several ID scopes (${matches.map((h) => h.idScope).join(", ")}); use a token confined to one scope`,
      );
    }
    return matches[0]!;
  }

  /** What the hub may know of one of its devices: assignment, standing, authentication kind and certificate thumbprints. Never keys. */
  async device(hub: ResolvedHub, deviceId: string): Promise<HubDeviceView> {
    const reg = await this.deps.lifecycle.registrationByDevice(hub.idScope, hub.hostName, deviceId);
    if (!reg) throw new AppError("not_found", `No device ${clip(deviceId)} is assigned to hub ${hub.name}`);
    const now = this.deps.clock.now();
    const standing = await deviceStanding(this.deps, reg);
    const certs = await this.deps.lifecycle.deviceCertificates(hub.idScope, reg.registrationId, 20);
    const certificates: HubDeviceCertificate[] = [];
    for (const cert of certs) certificates.push(await this.certificateView(cert, now));
    return {
      hub: hub.name,
      hostName: hub.hostName,
      deviceId: reg.deviceId ?? reg.registrationId,
      registrationId: reg.registrationId,
      enrollment: { kind: reg.enrollmentKind, id: reg.enrollmentId, provisioningStatus: standing.enrollment?.provisioningStatus ?? null },
      status: reg.status,
      enabled: standing.refusal === null,
      disabledReason: standing.refusal,
      authentication: authenticationOf(standing.enrollment, reg),
      certificates,
      assignedAt: reg.createdAt.toISOString(),
      updatedAt: reg.updatedAt.toISOString(),
    };
  }

  /** Whether a device's SAS token or certificate chain is good right now, and for how long the hub may rely on the answer. */
  deviceAuth(hub: ResolvedHub, request: DeviceAuthRequest): Promise<DeviceAuthVerdict> {
    return this.authenticator.check(hub, request);
  }

  /** The changes of one hub after `after` (from the start when absent), oldest first. */
  async changes(hub: ResolvedHub, after: string | undefined, limit = 100): Promise<HubChangesPage> {
    pageLimit(limit);
    // The feed is derived from the issuance log; read what is new first (all of it, in batches).
    while ((await this.deps.lifecycle.catchUpHubFeed(FEED_BATCH)) === FEED_BATCH);
    const afterSeq = after ? decodeCursor(after) : 0;
    const rows = await this.deps.lifecycle.hubChanges(hub.idScope, hub.name, afterSeq, limit + 1);
    const items = rows.slice(0, limit).map((r): HubChangeView => ({
      cursor: encodeCursor(r.seq),
      at: r.at.toISOString(),
      kind: r.kind,
      deviceId: r.deviceId,
      registrationId: r.registrationId,
      details: r.details,
    }));
    return { items, nextCursor: items.length ? items[items.length - 1]!.cursor : encodeCursor(afterSeq), more: rows.length > limit };
  }

  private async certificateView(cert: CertificateRecord, now: Date): Promise<HubDeviceCertificate> {
    const state = await this.deps.status.of(cert, now);
    const supersededAt = state.status === "good" ? await this.deps.status.supersededAt(cert) : null;
    return {
      serial: cert.serial,
      sha256: cert.sha256,
      sha1: ParsedCertificate.parse(cert.der).sha1,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      status: state.status === "revoked" ? "revoked" : cert.notAfter <= now ? "expired" : "good",
      revokedAt: state.status === "revoked" ? state.revokedAt.toISOString() : null,
      revocationReason: state.status === "revoked" ? (state.reason ?? "unspecified") : null,
      supersededAt: supersededAt?.toISOString() ?? null,
    };
  }

  /** Hubs of one scope (or all), cached for a moment: the device-auth hot path resolves one per call. */
  private hubs(scope: string | null): Promise<ResolvedHub[]> {
    const key = scope?.toLowerCase() ?? "*";
    const cached = this.hubCache.get(key);
    if (cached && Date.now() - cached.at < HUB_CACHE_MS) return cached.hubs;
    const hubs = (async () => {
      const scopes = scope ? [scope] : (await this.deps.dps.listScopes()).map((s) => s.idScope);
      const out: ResolvedHub[] = [];
      for (const s of scopes) {
        for (const h of await this.deps.dps.listHubs(s))
          out.push({ idScope: h.idScope, name: h.name, hostName: h.hostName, enabled: h.enabled });
      }
      return out;
    })();
    this.hubCache.set(key, { at: Date.now(), hubs });
    hubs.catch(() => this.hubCache.delete(key));
    return hubs;
  }
}
