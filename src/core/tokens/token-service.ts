import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { TOKEN_ROLES, type TokenRecord, type TokenRole, type TokenStore } from "../../store/token-store.js";

/** A token as the API and the CLI show it: never the secret, never its hash. */
export interface TokenView {
  id: string;
  name: string | null;
  role: TokenRole;
  profiles: string[];
  quotaPerDay: number | null;
  scope: string | null;
  hub: string | null;
  /** The operator the token was minted for, or null. */
  operator: string | null;
  status: "active" | "expired" | "revoked";
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface CreateTokenInput {
  role: TokenRole;
  name?: string;
  /** Factory tokens: profiles they may issue under (required for factory, refused otherwise). */
  profiles?: string[];
  /** Factory tokens: certificates per UTC day. */
  quotaPerDay?: number;
  scope?: string;
  /** Hub tokens: the hub they act for (required for hub, refused otherwise). */
  hub?: string;
  /** The operator (`dpki operator add`) the token is minted for: the log then names them. */
  operator?: string;
  /** Lifetime in milliseconds; no expiry when absent. */
  expiresInMs?: number;
}

/** Who is calling, once a token checked out: what the HTTP layer authorises against. */
export interface Principal {
  tokenId: string;
  role: TokenRole;
  /** What the issuance log records: `operator:<name>`, else `token:<name>` or `token:<id>`. */
  actor: string;
  /** The operator the token belongs to, or null. */
  operator: string | null;
  profiles: readonly string[];
  quotaPerDay: number | null;
  scope: string | null;
  hub: string | null;
}

const TOKEN_FORMAT = /^dpki_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const NAME_FORMAT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
/** last_used_at is informational: written at most this often per token (so at most this stale), never on every request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * API tokens: `dpki_<id>_<secret>`. Only SHA-256 of the secret is stored; presented secrets are
 * compared in constant time. Validity (expiry, revocation) is read from the store on every
 * request, so a revocation takes effect at once.
 */
export class TokenService {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
    /** Names of the profiles in force, to refuse factory tokens for unknown ones. */
    private readonly knownProfiles: () => Iterable<string>,
    /** Hub tokens: fails (not_found) when the named hub does not exist in the token's scope. */
    private readonly checkHub: (hub: string, scope: string | null) => Promise<void> = async () => {},
  ) {}

  async create(input: CreateTokenInput, actor: string): Promise<{ token: TokenView; secret: string }> {
    const record = this.newRecord(input, actor);
    // A token bound to a hub that is not there would authenticate and then be refused everywhere.
    if (record.hub) await this.checkHub(record.hub, record.scope);
    const secret = randomBytes(32).toString("base64url");
    record.secretHash = hashSecret(secret);
    await this.store.insertToken(record, {
      at: record.createdAt,
      actor,
      action: "token.create",
      subject: actorOf(record),
      details: {
        tokenId: record.id,
        name: record.name,
        role: record.role,
        profiles: record.profiles,
        quotaPerDay: record.quotaPerDay,
        scope: record.scope,
        hub: record.hub,
        operator: record.operator,
        expiresAt: record.expiresAt?.toISOString() ?? null,
      },
    });
    return { token: tokenView(record, record.createdAt), secret: `dpki_${record.id}_${secret}` };
  }

  async list(): Promise<TokenView[]> {
    const now = this.clock.now();
    return (await this.store.listTokens()).map((t) => tokenView(t, now));
  }

  /** Revokes by id or by name. */
  async revoke(idOrName: string, actor: string): Promise<TokenView> {
    const token = await this.find(idOrName);
    const now = this.clock.now();
    const revoked = await this.store.revokeToken(token.id, now, actor, {
      at: now,
      actor,
      action: "token.revoke",
      subject: actorOf(token),
      details: { tokenId: token.id, name: token.name, role: token.role, operator: token.operator },
    });
    return tokenView(revoked, now);
  }

  async find(idOrName: string): Promise<TokenRecord> {
    const key = idOrName.trim();
    if (/^[0-9a-f]{16}$/.test(key)) {
      const byId = await this.store.getToken(key);
      if (byId) return byId;
    }
    if (NAME_FORMAT.test(key)) {
      const byName = (await this.store.listTokens()).find((t) => t.name === key);
      if (byName) return byName;
    }
    throw new AppError("not_found", `No token with id or name ${JSON.stringify(key.slice(0, 80))}`);
  }

  /**
   * Checks a presented bearer token. Every refusal reads "Invalid token" with a reason that
   * says nothing about the secret; the secret is never part of a message.
   */
  async authenticate(presented: string): Promise<Principal> {
    const match = TOKEN_FORMAT.exec(presented);
    if (!match) throw unauthorized("Invalid token: not a dpki API token");
    const [, id, secret] = match as unknown as [string, string, string];
    const token = await this.store.getToken(id);
    // Hash even when the id is unknown, so timing does not tell known ids from unknown ones.
    const presentedHash = Buffer.from(hashSecret(secret), "hex");
    const storedHash = Buffer.from(token?.secretHash ?? "0".repeat(64), "hex");
    const same = timingSafeEqual(presentedHash, storedHash);
    if (!token || !same) throw unauthorized("Invalid token");
    const now = this.clock.now();
    if (token.revokedAt) throw unauthorized("Invalid token: revoked");
    if (token.expiresAt && token.expiresAt <= now) throw unauthorized("Invalid token: expired");
    this.touch(token.id, now);
    return {
      tokenId: token.id,
      role: token.role,
      actor: actorOf(token),
      operator: token.operator,
      profiles: token.profiles,
      quotaPerDay: token.quotaPerDay,
      scope: token.scope,
      hub: token.hub,
    };
  }

  /** Reserves `n` issuances against a factory token's daily quota; release them when issuance fails. */
  async consumeQuota(principal: Principal, n: number): Promise<(count?: number) => Promise<void>> {
    if (principal.quotaPerDay === null || n <= 0) return async () => {};
    const day = this.clock.now().toISOString().slice(0, 10);
    const { ok, used } = await this.store.consumeQuota(principal.tokenId, day, n, principal.quotaPerDay);
    if (!ok) {
      throw used >= principal.quotaPerDay
        ? quotaUsedUp(used, principal.quotaPerDay)
        : new AppError(
            "quota_exceeded",
            `Daily quota of this token too small for ${n} certificates: ${used} of ${principal.quotaPerDay} issued today (UTC), ${principal.quotaPerDay - used} left`,
            { quotaPerDay: principal.quotaPerDay, used, requested: n },
          );
    }
    let released = false;
    return async (count = n) => {
      if (released) return;
      released = true;
      await this.store.releaseQuota(principal.tokenId, day, count);
    };
  }

  /**
   * Reserves as many of `n` issuances as a factory token's daily quota still allows (a batch
   * issues what fits and refuses the rest per item). `refusal` is the error for the items left out.
   */
  async consumeQuotaUpTo(
    principal: Principal,
    n: number,
  ): Promise<{ granted: number; refusal: AppError | null; release: (count: number) => Promise<void> }> {
    let want = n;
    // A concurrent request may take what was left between the two reservations: try again with less.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const release = await this.consumeQuota(principal, want);
        if (want === n) return { granted: n, refusal: null, release };
        const used = principal.quotaPerDay ?? 0;
        return { granted: want, refusal: quotaUsedUp(used, used), release };
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== "quota_exceeded") throw err;
        const { used, quotaPerDay } = err.detail as { used: number; quotaPerDay: number };
        want = Math.min(n, quotaPerDay - used);
        if (want <= 0) return { granted: 0, refusal: quotaUsedUp(used, quotaPerDay), release: async () => {} };
      }
    }
    return { granted: 0, refusal: quotaUsedUp(principal.quotaPerDay ?? 0, principal.quotaPerDay ?? 0), release: async () => {} };
  }

  private touch(id: string, now: Date): void {
    const last = this.touched.get(id);
    if (last !== undefined && now.getTime() - last < TOUCH_EVERY_MS) return;
    this.touched.set(id, now.getTime());
    // Informational only: a failure to record it must never fail the request.
    this.store.touchToken(id, now).catch(() => this.touched.delete(id));
  }

  private newRecord(input: CreateTokenInput, actor: string): TokenRecord {
    if (!(TOKEN_ROLES as readonly string[]).includes(input.role)) {
      throw invalid(`Unknown role "${input.role}" (one of: ${TOKEN_ROLES.join(", ")})`);
    }
    const name = input.name?.trim() || null;
    if (name !== null && !NAME_FORMAT.test(name)) {
      throw invalid(
        `Token name "${name.slice(0, 80)}" must be 1-64 characters of letters, digits and . _ : @ - (starting with a letter or digit)`,
      );
    }
    const profiles = [...new Set(input.profiles ?? [])];
    if (input.role === "factory") {
      if (profiles.length === 0) throw invalid("A factory token needs the profiles it may issue under (--profiles device,…)");
      const known = new Set(this.knownProfiles());
      const unknown = profiles.filter((p) => !known.has(p));
      if (unknown.length) throw invalid(`Unknown profile ${unknown.join(", ")} (known: ${[...known].join(", ")})`);
    } else {
      if (profiles.length) throw invalid("Only factory tokens are limited to profiles");
      if (input.quotaPerDay !== undefined) throw invalid("Only factory tokens take a daily quota");
    }
    if (input.quotaPerDay !== undefined && (!Number.isSafeInteger(input.quotaPerDay) || input.quotaPerDay < 1)) {
      throw invalid("The daily quota must be a whole number of at least 1");
    }
    const hub = input.hub?.trim() || null;
    if (input.role === "hub" && !hub) throw invalid("A hub token needs the hub it acts for (--hub NAME)");
    if (input.role !== "hub" && hub) throw invalid("Only hub tokens are bound to a hub");
    const operator = input.operator?.trim() || null;
    if (operator !== null && !NAME_FORMAT.test(operator)) throw invalid(`Operator name "${operator.slice(0, 80)}" is not a valid name`);
    if (input.expiresInMs !== undefined && (!Number.isFinite(input.expiresInMs) || input.expiresInMs <= 0)) {
      throw invalid("Token lifetime must be positive");
    }
    const now = this.clock.now();
    return {
      id: randomBytes(8).toString("hex"),
      name,
      role: input.role,
      secretHash: "",
      profiles,
      quotaPerDay: input.quotaPerDay ?? null,
      scope: input.scope?.trim() || null,
      hub,
      operator,
      createdAt: now,
      createdBy: actor,
      expiresAt: input.expiresInMs !== undefined ? new Date(now.getTime() + input.expiresInMs) : null,
      revokedAt: null,
      revokedBy: null,
      lastUsedAt: null,
    };
  }
}

export function tokenView(t: TokenRecord, now: Date): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    profiles: t.profiles,
    quotaPerDay: t.quotaPerDay,
    scope: t.scope,
    hub: t.hub,
    operator: t.operator,
    status: t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt <= now ? "expired" : "active",
    createdAt: t.createdAt.toISOString(),
    createdBy: t.createdBy,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

/** Who the log names for a token: its operator when it has one (the person who certified a device), else the token. */
export function actorOf(t: TokenRecord): string {
  return t.operator !== null ? `operator:${t.operator}` : `token:${t.name ?? t.id}`;
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

function unauthorized(message: string): AppError {
  return new AppError("unauthorized", message);
}

function invalid(message: string): AppError {
  return new AppError("invalid_argument", message);
}

function quotaUsedUp(used: number, quotaPerDay: number): AppError {
  return new AppError("quota_exceeded", `Daily quota of this token used up: ${used} of ${quotaPerDay} certificates issued today (UTC)`, {
    quotaPerDay,
    used,
  });
}
