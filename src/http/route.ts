import type { Request, Response } from "express";
import type { Principal } from "../core/tokens/token-service.js";
import type { TokenRole } from "../store/token-store.js";

/** Who may call a route: anyone (relying parties fetching CRLs and CA certificates), or tokens of these roles. */
export type Access = "public" | readonly TokenRole[];

export type Method = "get" | "post" | "patch" | "delete";

/**
 * What a lean route's handler is given: the request body, already read (JSON parsed and checked
 * against openapi.yaml, or the raw bytes of a `rawBody` route), the caller and the path parameters.
 */
export interface LeanCall {
  body: unknown;
  principal: Principal | undefined;
  /** The path parameters, by name. */
  params: Record<string, string>;
}

/** What a lean route's handler answers: a status, headers of its own, and a JSON body or bytes of a media type. */
export type LeanReply = {
  status: number;
  headers?: Record<string, string>;
  /** A created resource's URL path, already URL-safe. */
  location?: string;
} & ({ json: unknown } | { type: string; bytes: Uint8Array });

interface RouteBase {
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
}

/**
 * One HTTP endpoint. Every route of the API is declared like this, in the resource's routes
 * file; the app factory mounts them, and the contract test compares them with openapi.yaml
 * (paths, methods and roles). A route has either an express `handler`, or a `lean` one that
 * never sees express: the hot routes, which the lean path (lean-routes.ts) serves on node:http
 * for requests of the ordinary shape, and express for every other.
 */
export type RouteDef = RouteBase &
  (
    | { handler: (req: Request, res: Response) => Promise<void> | void; lean?: undefined }
    | { lean: (call: LeanCall) => Promise<LeanReply>; handler?: undefined }
  );

export const ALL_ROLES: readonly TokenRole[] = ["admin", "operator", "factory", "hub", "auditor"];

/** The authenticated caller, or undefined on public routes called without a token. */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/** What the issuance log records for this request. */
export function actorOf(res: Response): string {
  return callerActor(principalOf(res));
}

/** What the issuance log records for a request by this caller. */
export function callerActor(principal: Principal | undefined): string {
  return principal?.actor ?? "http:anonymous";
}
