import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, Response } from "express";
import { AppError } from "../errors.js";
import { clip } from "../core/clip.js";
import type { Refusal } from "../core/audit/refusal-log.js";
import type { Principal, TokenService } from "../core/tokens/token-service.js";
import type { StepUpService } from "../core/tokens/step-up-service.js";
import type { Access } from "./route.js";
import { callerActor, principalOf } from "./route.js";
import { clientAddress } from "./exchange.js";

/**
 * The caller named by an `Authorization: Bearer <token>` header, or undefined without one; a
 * present but bad token is refused at once (401), even on public routes. Token validity is
 * looked up on every request, never cached, so revocation is immediate.
 */
export async function callerOf(tokens: TokenService, header: string | undefined): Promise<Principal | undefined> {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!match) throw new AppError("unauthorized", 'Authorization header must be "Bearer <token>"');
  return tokens.authenticate(match[1]!);
}

/** Why a route's access refuses the caller (401 without a token, 403 for another role), or undefined when it lets them through. */
export function refusal(access: Access, principal: Principal | undefined): AppError | undefined {
  if (access === "public") return undefined;
  if (!principal) return new AppError("unauthorized", "This endpoint needs an API token: send Authorization: Bearer <token>");
  if (!access.includes(principal.role)) {
    return new AppError("forbidden", `A ${principal.role} token may not call this endpoint (allowed: ${access.join(", ")})`);
  }
  return undefined;
}

/** callerOf as express middleware: the principal goes on res.locals. */
export function authenticate(tokens: TokenService) {
  return (req: Request, res: Response, next: NextFunction): void => {
    callerOf(tokens, req.headers.authorization).then((principal) => {
      res.locals.principal = principal;
      next();
    }, next);
  };
}

/** The header a one-time password travels in (TOTP step-up). */
export const OTP_HEADER = "dpki-otp";

/** TOTP step-up as express middleware, per route: after authorize, before the body is read. */
export function stepUp(service: StepUpService, method: string, path: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    service.check(principalOf(res), method, path, headerValue(req.headers[OTP_HEADER])).then(() => next(), next);
  };
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** refusal as express middleware, per route. */
export function authorize(access: Access) {
  return (_req: Request, res: Response, next: NextFunction): void => next(refusal(access, principalOf(res)));
}

/**
 * The log entry of a request refused for its token (401: none, malformed, unknown, expired,
 * revoked; 403: a role or scope that does not reach the route), or undefined for any other
 * failure. It names the caller when the token checked out and otherwise only the token's public
 * id: never what was presented after it.
 */
export function denialOf(req: IncomingMessage, error: AppError, principal: Principal | undefined): Refusal | undefined {
  const stepUp = error.code === "otp_required" || (error.code === "rate_limited" && error.detail?.stepUp === true);
  if (error.code !== "unauthorized" && error.code !== "forbidden" && !stepUp) return undefined;
  const tokenId = principal?.tokenId ?? presentedTokenId(req.headers.authorization);
  return {
    action: "auth.deny",
    actor: callerActor(principal),
    source: clientAddress(req),
    code: error.code,
    message: error.message,
    details: {
      method: req.method ?? "",
      path: clip((req.url ?? "").split("?")[0]!, 200),
      ...(tokenId ? { tokenId } : {}),
      ...(principal ? { role: principal.role } : {}),
    },
  };
}

/** The public id of a presented dpki token (`dpki_<id>_…`); nothing of any other credential, which may be all secret. */
function presentedTokenId(header: string | undefined): string | undefined {
  return header ? /^Bearer[ ]+dpki_([0-9a-f]{16})_/i.exec(header)?.[1]?.toLowerCase() : undefined;
}
