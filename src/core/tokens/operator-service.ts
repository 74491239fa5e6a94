import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import * as OTPAuth from "otpauth";
import type { SecretBox } from "../../store/secret-box.js";
import type { OperatorRecord, TokenStore } from "../../store/token-store.js";
import { TOTP_PARAMS, totpFor } from "./step-up-service.js";
import { NAME_FORMAT } from "./token-service.js";

/** An operator as the API and the CLI show it. */
export interface OperatorView {
  name: string;
  status: "active" | "disabled";
  /** Tokens of theirs that are neither revoked nor expired. */
  activeTokens: number;
  /** When they enrolled in TOTP step-up, or null (never the secret). */
  totpEnrolledAt: string | null;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
  disabledBy: string | null;
}

/**
 * Operators: the named people or systems tokens are minted for, so the log says who certified a
 * device. Disabling one revokes all their tokens at once, in the transaction of its log entry.
 */
export class OperatorService {
  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
    /** Seals TOTP secrets at rest, as the other stored secrets. */
    private readonly secrets: SecretBox,
  ) {}

  /**
   * Enrolls the operator in TOTP step-up with a new random 160-bit secret (re-enrolling replaces
   * the old one). The otpauth:// URI holds the secret: it is in this result only.
   */
  async enrollTotp(name: string, actor: string): Promise<{ operator: OperatorView; uri: string }> {
    const key = checkName(name);
    const secret = new OTPAuth.Secret({ size: 20 });
    const now = this.clock.now();
    const record = await this.store.setOperatorTotp(key, this.secrets.seal(secret.base32), now, {
      at: now,
      actor,
      action: "operator.totp.enroll",
      subject: `operator:${key}`,
      details: { operator: key, ...TOTP_PARAMS },
    });
    return { operator: this.view(record, (await this.activeCounts()).get(key) ?? 0), uri: totpFor(key, secret.base32).toString() };
  }

  async add(name: string, actor: string): Promise<OperatorView> {
    const key = checkName(name);
    const record: OperatorRecord = {
      name: key,
      createdAt: this.clock.now(),
      createdBy: actor,
      disabledAt: null,
      disabledBy: null,
      totpSecret: null,
      totpEnrolledAt: null,
      totpLastStep: null,
    };
    await this.store.insertOperator(record, {
      at: record.createdAt,
      actor,
      action: "operator.create",
      subject: `operator:${key}`,
      details: { operator: key },
    });
    return this.view(record, 0);
  }

  async list(): Promise<OperatorView[]> {
    const [operators, counts] = await Promise.all([this.store.listOperators(), this.activeCounts()]);
    return operators.map((o) => this.view(o, counts.get(o.name) ?? 0));
  }

  async get(name: string): Promise<OperatorView> {
    const key = checkName(name);
    const record = await this.store.getOperator(key);
    if (!record) throw new AppError("not_found", `No operator named ${JSON.stringify(key)}`);
    return this.view(record, (await this.activeCounts()).get(key) ?? 0);
  }

  /** Disables the operator and revokes every token of theirs, with one log entry listing the tokens. */
  async disable(name: string, actor: string): Promise<OperatorView & { revokedTokens: string[] }> {
    const key = checkName(name);
    const now = this.clock.now();
    const { operator, revokedTokenIds } = await this.store.disableOperator(key, now, actor, (ids) => ({
      at: now,
      actor,
      action: "operator.disable",
      subject: `operator:${key}`,
      details: { operator: key, revokedTokens: ids },
    }));
    return { ...this.view(operator, 0), revokedTokens: revokedTokenIds };
  }

  private async activeCounts(): Promise<Map<string, number>> {
    const now = this.clock.now();
    const counts = new Map<string, number>();
    for (const t of await this.store.listTokens()) {
      if (t.operator === null || t.revokedAt || (t.expiresAt && t.expiresAt <= now)) continue;
      counts.set(t.operator, (counts.get(t.operator) ?? 0) + 1);
    }
    return counts;
  }

  private view(o: OperatorRecord, activeTokens: number): OperatorView {
    return {
      name: o.name,
      status: o.disabledAt ? "disabled" : "active",
      activeTokens,
      totpEnrolledAt: o.totpEnrolledAt?.toISOString() ?? null,
      createdAt: o.createdAt.toISOString(),
      createdBy: o.createdBy,
      disabledAt: o.disabledAt?.toISOString() ?? null,
      disabledBy: o.disabledBy,
    };
  }
}

export function checkName(name: string): string {
  const key = (name ?? "").trim();
  if (!NAME_FORMAT.test(key)) {
    throw new AppError(
      "invalid_argument",
      `Operator name "${key.slice(0, 80)}" must be 1-64 characters of letters, digits and . _ : @ - (starting with a letter or digit)`,
    );
  }
  return key;
}
