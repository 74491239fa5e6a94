import type { NextFunction, Request, Response } from "express";
import { AppError } from "../errors.js";
import type { Principal, TokenService } from "../core/tokens/token-service.js";
import type { Access } from "./route.js";
import { principalOf } from "./route.js";

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

/** refusal as express middleware, per route. */
export function authorize(access: Access) {
  return (_req: Request, res: Response, next: NextFunction): void => next(refusal(access, principalOf(res)));
}
