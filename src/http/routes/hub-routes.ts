import type { Request, Response } from "express";
import type { DeviceAuthRequest } from "../../core/hub-api/hub-api-types.js";
import type { MintRequest, RotationChange, RotationTarget } from "../../core/lifecycle/credential-service.js";
import type { Principal } from "../../core/tokens/token-service.js";
import type { MintInput } from "../../operations/lifecycle-operations.js";
import { AppError } from "../../errors.js";
import type { SasPolicyChange } from "../../core/dps/sas-on-demand.js";
import { principalOf, type RouteDef } from "../route.js";
import { opsFor, queryInt, queryString, type RouteDeps } from "./context.js";

const MANAGERS = ["admin", "operator"] as const;
const READERS = ["admin", "operator", "auditor"] as const;
/** The hub API: hub tokens (each bound to one hub), and operators for troubleshooting. */
const HUB_CALLERS = ["hub", "admin", "operator"] as const;

/**
 * Hub shared access policies, key rotation, enrollment revocation and SAS tokens under
 * /v1/scopes/{scope}/… (management), and the hub API under /v1/hubs/{hub}/… (a hub token sees
 * its own hub only). Responses that carry keys or tokens are never cached.
 */
export function hubRoutes(deps: RouteDeps): RouteDef[] {
  const ops = (res: Response) => opsFor(deps, res);
  const p = (req: Request, name: string) => req.params[name] as string;
  const hubs = deps.services.lifecycle.hubs;
  const resolveFor = (principal: Principal, hub: string) =>
    hubs.resolve({ role: principal.role, scope: principal.scope, hub: principal.hub }, hub);
  const resolve = (req: Request, res: Response) => resolveFor(principalOf(res)!, p(req, "hub"));
  const policyBase = "/v1/scopes/:scope/hubs/:name/policies";
  const rotateRoute = (path: string, target: (req: Request) => RotationTarget): RouteDef => ({
    method: "post",
    path,
    access: MANAGERS,
    bodyLimit: 1024,
    handler: async (req, res) => {
      const body = (req.body ?? {}) as { key?: unknown; confirm?: unknown };
      if (body.confirm !== undefined && typeof body.confirm !== "boolean")
        throw new AppError("invalid_argument", "Cannot accept confirm: it must be true or false");
      const change = { key: body.key as RotationChange["key"], confirm: body.confirm === true };
      res.set("Cache-Control", "no-store").json(await ops(res).keyRotate(target(req), change));
    },
  });
  const revokeRoute = (path: string, kind: "individual" | "group", param: string): RouteDef => ({
    method: "post",
    path,
    access: MANAGERS,
    bodyLimit: 4 * 1024,
    handler: async (req, res) => {
      const reason = (req.body as { reason?: string } | undefined)?.reason;
      const result = await ops(res).enrollmentRevoke(p(req, "scope"), kind, p(req, param), reason);
      deps.metrics.revoked.inc({ reason: result.reason }, result.certificatesRevoked);
      res.json(result);
    },
  });

  return [
    {
      method: "post",
      path: policyBase,
      access: MANAGERS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        const created = await ops(res).hubPolicyCreate(p(req, "scope"), p(req, "name"), req.body as { name: string; rights: string[] });
        res
          .status(201)
          .set("Cache-Control", "no-store")
          .location(
            `/v1/scopes/${encodeURIComponent(created.policy.idScope)}/hubs/${encodeURIComponent(created.policy.hub)}/policies/${encodeURIComponent(created.policy.name)}`,
          )
          .json(created);
      },
    },
    {
      method: "get",
      path: policyBase,
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).hubPolicyList(p(req, "scope"), p(req, "name")));
      },
    },
    {
      method: "get",
      path: `${policyBase}/:policy`,
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).hubPolicyGet(p(req, "scope"), p(req, "name"), p(req, "policy")));
      },
    },
    {
      method: "patch",
      path: `${policyBase}/:policy`,
      access: MANAGERS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        res.json(await ops(res).hubPolicyUpdate(p(req, "scope"), p(req, "name"), p(req, "policy"), req.body as { rights: string[] }));
      },
    },
    {
      method: "delete",
      path: `${policyBase}/:policy`,
      access: MANAGERS,
      handler: async (req, res) => {
        await ops(res).hubPolicyDelete(p(req, "scope"), p(req, "name"), p(req, "policy"));
        res.status(204).end();
      },
    },
    rotateRoute(`${policyBase}/:policy/rotate-keys`, (req) => ({
      kind: "hubPolicy",
      idScope: p(req, "scope"),
      hub: p(req, "name"),
      policy: p(req, "policy"),
    })),
    rotateRoute("/v1/scopes/:scope/enrollments/:registrationId/rotate-keys", (req) => ({
      kind: "enrollment",
      idScope: p(req, "scope"),
      registrationId: p(req, "registrationId"),
    })),
    rotateRoute("/v1/scopes/:scope/groups/:groupId/rotate-keys", (req) => ({
      kind: "group",
      idScope: p(req, "scope"),
      groupId: p(req, "groupId"),
    })),
    revokeRoute("/v1/scopes/:scope/enrollments/:registrationId/revoke", "individual", "registrationId"),
    revokeRoute("/v1/scopes/:scope/groups/:groupId/revoke", "group", "groupId"),
    {
      method: "post",
      path: "/v1/scopes/:scope/sas-tokens",
      access: MANAGERS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        const { ttl, expiry, secondary, ...request } = req.body as MintRequest & MintInput;
        res
          .set("Cache-Control", "no-store")
          .json(await ops(res).sasMint(p(req, "scope"), request as MintRequest, { ttl, expiry, secondary }));
      },
    },

    {
      method: "get",
      path: "/v1/scopes/:scope/sas-policy",
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).sasPolicyGet(p(req, "scope")));
      },
    },
    {
      method: "patch",
      path: "/v1/scopes/:scope/sas-policy",
      access: MANAGERS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        res.json(await ops(res).sasPolicySet(p(req, "scope"), sasPolicyChange(req.body)));
      },
    },

    {
      method: "get",
      path: "/v1/hubs/:hub/devices/:deviceId",
      access: HUB_CALLERS,
      handler: async (req, res) => {
        res.json(await hubs.device(await resolve(req, res), p(req, "deviceId")));
      },
    },
    {
      method: "post",
      path: "/v1/hubs/:hub/device-auth",
      access: HUB_CALLERS,
      bodyLimit: 64 * 1024,
      ownValidator: true,
      lean: async ({ body, principal, params }) => ({
        status: 200,
        json: await hubs.deviceAuth(await resolveFor(principal!, params.hub!), body as DeviceAuthRequest),
      }),
    },
    {
      method: "get",
      path: "/v1/hubs/:hub/changes",
      access: HUB_CALLERS,
      handler: async (req, res) => {
        const limit = queryInt(req.query.limit);
        if (limit !== undefined && !Number.isInteger(limit))
          throw new AppError("invalid_argument", "Cannot accept limit: it must be an integer");
        res.json(await hubs.changes(await resolve(req, res), queryString(req.query.after), limit));
      },
    },
  ];
}

/** The PATCH body: only the settings named change; anything else is refused by name. */
function sasPolicyChange(body: unknown): SasPolicyChange {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new AppError("invalid_argument", "The body must be a JSON object");
  const fields = body as Record<string, unknown>;
  const known = ["maxTtlSeconds", "defaultTtlSeconds", "deviceKeys", "signingPolicy"];
  const unknown = Object.keys(fields).find((k) => !known.includes(k));
  if (unknown !== undefined) throw new AppError("invalid_argument", `Unknown field ${unknown.slice(0, 40)}: use ${known.join(", ")}`);
  for (const name of ["maxTtlSeconds", "defaultTtlSeconds"]) {
    if (fields[name] !== undefined && typeof fields[name] !== "number") throw new AppError("invalid_argument", `${name} must be a number of seconds`);
  }
  if (fields.deviceKeys !== undefined && typeof fields.deviceKeys !== "boolean") throw new AppError("invalid_argument", "deviceKeys must be true or false");
  if (fields.signingPolicy !== undefined && fields.signingPolicy !== null && typeof fields.signingPolicy !== "string")
    throw new AppError("invalid_argument", "signingPolicy must be a hub policy name or null");
  return fields as SasPolicyChange;
}
