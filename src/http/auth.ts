import type { NextFunction, Request, Response } from "express";
import { AppError } from "../errors.js";
import type { TokenService } from "../core/token-service.js";
import type { Access } from "./route.js";
import { principalOf } from "./route.js";

/**
 * Reads `Authorization: Bearer <token>` when present and resolves it to a principal on
 * res.locals; a present but bad token is refused at once (401), even on public routes.
 * Token validity is looked up on every request, never cached, so revocation is immediate.
 */
export function authenticate(tokens: TokenService) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    if (header === undefined) return next();
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) return next(new AppError("unauthorized", 'Authorization header must be "Bearer <token>"'));
    tokens.authenticate(match[1]!).then((principal) => {
      res.locals.principal = principal;
      next();
    }, next);
  };
}

/** Lets the request through when its route's access allows the caller: 401 without a token, 403 for another role. */
export function authorize(access: Access) {
  if (access === "public") return (_req: Request, _res: Response, next: NextFunction) => next();
  const allowed = new Set(access);
  return (_req: Request, res: Response, next: NextFunction): void => {
    const principal = principalOf(res);
    if (!principal) return next(new AppError("unauthorized", "This endpoint needs an API token: send Authorization: Bearer <token>"));
    if (!allowed.has(principal.role)) {
      return next(new AppError("forbidden", `A ${principal.role} token may not call this endpoint (allowed: ${[...allowed].join(", ")})`));
    }
    next();
  };
}
