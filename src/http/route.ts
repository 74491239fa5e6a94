import type { Request, Response } from "express";
import type { Principal } from "../core/token-service.js";
import type { TokenRole } from "../store/token-store.js";

/** Who may call a route: anyone (relying parties fetching CRLs and CA certificates), or tokens of these roles. */
export type Access = "public" | readonly TokenRole[];

export type Method = "get" | "post" | "patch" | "delete";

/**
 * One HTTP endpoint. Every route of the API is declared like this, in the resource's routes
 * file; the app factory mounts them, and the contract test compares them with openapi.yaml
 * (paths, methods and roles).
 */
export interface RouteDef {
  method: Method;
  /** Express path syntax, e.g. /v1/certificates/:id. */
  path: string;
  access: Access;
  /** Largest JSON body accepted, in bytes; routes without it take no body. */
  bodyLimit?: number;
  /**
   * Hot routes (issuance) get an OpenAPI validator of their own, matched against their one path;
   * the others share one validator that matches each request against all their paths.
   */
  ownValidator?: boolean;
  /** A binary body of this media type, up to `limit` bytes, handed to the handler as a Buffer (e.g. OCSP requests). */
  rawBody?: { type: string; limit: number };
  handler: (req: Request, res: Response) => Promise<void> | void;
}

export const ALL_ROLES: readonly TokenRole[] = ["admin", "operator", "factory", "hub", "auditor"];

/** The authenticated caller, or undefined on public routes called without a token. */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/** What the issuance log records for this request. */
export function actorOf(res: Response): string {
  return principalOf(res)?.actor ?? "http:anonymous";
}
