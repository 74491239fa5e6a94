import * as OTPAuth from "otpauth";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import type { SecretBox } from "../../store/secret-box.js";
import type { TokenStore } from "../../store/token-store.js";
import type { Principal } from "./token-service.js";

/** RFC 6238 as authenticator apps expect it: HMAC-SHA-1, 6 digits, 30-second steps. */
export const TOTP_PARAMS = { algorithm: "SHA1", digits: 6, period: 30 } as const;
/** Codes one step before or after the current one are accepted (clock drift of a phone). */
const SKEW_STEPS = 1;
/** Wrong codes an operator may send in one window before further codes are refused unchecked. */
const WRONG_CODES_ALLOWED = 5;
const WRONG_CODE_WINDOW_MS = 5 * 60_000;

/** Which actions need a fresh code: every write (the default), none, or the listed "METHOD /path" routes. */
export type StepUpPolicy = "writes" | "none" | readonly string[];

export function totpFor(name: string, base32: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: "dpki", label: name, secret: OTPAuth.Secret.fromBase32(base32), ...TOTP_PARAMS });
}

/**
 * TOTP step-up: an operator who enrolled must send a fresh one-time password with each action
 * the policy names. A code is accepted once (the store keeps the last step used, on every node),
 * within ±1 step; wrong codes are counted per operator and, past a few, refused unchecked.
 */
export class StepUpService {
  private readonly wrong = new Map<string, { since: number; count: number }>();

  constructor(
    private readonly store: TokenStore,
    private readonly secrets: SecretBox,
    private readonly clock: Clock,
    private readonly policy: StepUpPolicy,
  ) {}

  /** Whether the policy asks for a code for this route (method and express path template). */
  needs(method: string, path: string): boolean {
    const m = method.toUpperCase();
    if (this.policy === "none") return false;
    if (this.policy === "writes") return m !== "GET" && m !== "HEAD";
    return this.policy.includes(`${m} ${path}`);
  }

  /** Refuses the request unless it carries a fresh code, when its caller's operator enrolled and the route needs one. */
  async check(principal: Principal | undefined, method: string, path: string, code: string | undefined): Promise<void> {
    if (!principal?.operator || !this.needs(method, path)) return;
    const operator = await this.store.getOperator(principal.operator);
    if (!operator?.totpSecret) return;
    const name = operator.name;
    const now = this.clock.now().getTime();
    const wrong = this.wrong.get(name);
    if (wrong && now - wrong.since < WRONG_CODE_WINDOW_MS && wrong.count >= WRONG_CODES_ALLOWED) {
      const retryAfterSeconds = Math.ceil((wrong.since + WRONG_CODE_WINDOW_MS - now) / 1000);
      throw new AppError("rate_limited", `Too many wrong one-time passwords for operator ${name}: try again in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
        stepUp: true,
      });
    }
    if (code === undefined || code.trim() === "") {
      throw new AppError(
        "otp_required",
        `This action needs a one-time password of operator ${name}: send it in the DPKI-OTP header (CLI: --otp)`,
      );
    }
    const token = code.trim();
    const delta = /^\d{6}$/.test(token)
      ? totpFor(name, this.secrets.open(operator.totpSecret)).validate({ token, timestamp: now, window: SKEW_STEPS })
      : null;
    if (delta === null) {
      this.countWrong(name, now);
      throw new AppError("unauthorized", "One-time password wrong");
    }
    const step = Math.floor(now / 1000 / TOTP_PARAMS.period) + delta;
    if (!(await this.store.claimTotpStep(name, step))) {
      this.countWrong(name, now);
      throw new AppError("unauthorized", "One-time password already used: wait for the next one");
    }
    this.wrong.delete(name);
  }

  private countWrong(name: string, now: number): void {
    const w = this.wrong.get(name);
    if (!w || now - w.since >= WRONG_CODE_WINDOW_MS) this.wrong.set(name, { since: now, count: 1 });
    else w.count++;
  }
}
