import type { Response } from "express";
import type { EnrollmentInput, HubInput, ScopeInput } from "../../core/dps/dps-views.js";
import type { EnrollmentKind, RegistrationStatus } from "../../store/dps-records.js";
import type { RouteDef } from "../route.js";
import { opsFor, queryInt, queryString, type RouteDeps } from "./context.js";

const ADMIN = ["admin"] as const;
const MANAGERS = ["admin", "operator"] as const;
const READERS = ["admin", "operator", "auditor"] as const;
const BODY = 256 * 1024;

/**
 * Device-provisioning management under /v1/scopes/{scope}/…: hubs, individual enrollments,
 * enrollment groups and registrations. A token with a `scope` sees only that scope (others
 * answer 404) and cannot create or delete scopes. The device endpoint itself is a separate
 * listener (`dpki dps serve`).
 */
export function dpsRoutes(deps: RouteDeps): RouteDef[] {
  const ops = (res: Response) => opsFor(deps, res);
  const p = (req: { params: Record<string, unknown> }, name: string) => req.params[name] as string;

  const enrollmentRoutes = (kind: EnrollmentKind, segment: string, param: string, idField: string): RouteDef[] => {
    const base = `/v1/scopes/:scope/${segment}`;
    return [
      {
        method: "post",
        path: base,
        access: MANAGERS,
        bodyLimit: BODY,
        handler: async (req, res) => {
          const { [idField]: id, ...input } = req.body as Record<string, unknown>;
          const created = await ops(res).enrollmentCreate(p(req, "scope"), kind, id as string, input as EnrollmentInput);
          const location = `${base.replace(":scope", encodeURIComponent(created.enrollment.idScope))}/${encodeURIComponent(id as string)}`;
          res.status(201).location(location).set("Cache-Control", "no-store").json(created);
        },
      },
      {
        method: "get",
        path: base,
        access: READERS,
        handler: async (req, res) => {
          res.json(
            await ops(res).enrollmentList(p(req, "scope"), kind, { after: queryString(req.query.after), limit: queryInt(req.query.limit) }),
          );
        },
      },
      {
        method: "get",
        path: `${base}/:${param}`,
        access: READERS,
        handler: async (req, res) => {
          const e = await ops(res).enrollmentGet(p(req, "scope"), kind, p(req, param));
          res.set("ETag", `"${e.etag}"`).json(e);
        },
      },
      {
        method: "patch",
        path: `${base}/:${param}`,
        access: MANAGERS,
        bodyLimit: BODY,
        handler: async (req, res) => {
          const { regenerateKeys, ...input } = req.body as EnrollmentInput & { regenerateKeys?: boolean };
          const ifMatch = typeof req.headers["if-match"] === "string" ? req.headers["if-match"].replace(/^"|"$/g, "") : undefined;
          const updated = await ops(res).enrollmentUpdate(p(req, "scope"), kind, p(req, param), input, { regenerateKeys, ifMatch });
          res.set("Cache-Control", "no-store").set("ETag", `"${updated.enrollment.etag}"`).json(updated);
        },
      },
      {
        method: "delete",
        path: `${base}/:${param}`,
        access: MANAGERS,
        handler: async (req, res) => {
          await ops(res).enrollmentDelete(p(req, "scope"), kind, p(req, param));
          res.status(204).end();
        },
      },
    ];
  };

  return [
    {
      method: "post",
      path: "/v1/scopes",
      access: ADMIN,
      bodyLimit: 16 * 1024,
      handler: async (req, res) => {
        const created = await ops(res).scopeCreate(req.body as ScopeInput);
        res
          .status(201)
          .location(`/v1/scopes/${encodeURIComponent(created.idScope)}`)
          .json(created);
      },
    },
    {
      method: "get",
      path: "/v1/scopes",
      access: READERS,
      handler: async (_req, res) => {
        res.json(await ops(res).scopeList());
      },
    },
    {
      method: "get",
      path: "/v1/scopes/:scope",
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).scopeGet(p(req, "scope")));
      },
    },
    {
      method: "delete",
      path: "/v1/scopes/:scope",
      access: ADMIN,
      handler: async (req, res) => {
        await ops(res).scopeDelete(p(req, "scope"), req.query.force === "true");
        res.status(204).end();
      },
    },

    {
      method: "post",
      path: "/v1/scopes/:scope/hubs",
      access: MANAGERS,
      bodyLimit: 16 * 1024,
      handler: async (req, res) => {
        const hub = await ops(res).hubCreate(p(req, "scope"), req.body as HubInput);
        res
          .status(201)
          .location(`/v1/scopes/${encodeURIComponent(hub.idScope)}/hubs/${encodeURIComponent(hub.name)}`)
          .json(hub);
      },
    },
    {
      method: "get",
      path: "/v1/scopes/:scope/hubs",
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).hubList(p(req, "scope")));
      },
    },
    {
      method: "get",
      path: "/v1/scopes/:scope/hubs/:name",
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).hubGet(p(req, "scope"), p(req, "name")));
      },
    },
    {
      method: "patch",
      path: "/v1/scopes/:scope/hubs/:name",
      access: MANAGERS,
      bodyLimit: 16 * 1024,
      handler: async (req, res) => {
        res.json(await ops(res).hubUpdate(p(req, "scope"), p(req, "name"), req.body as HubInput));
      },
    },
    {
      method: "delete",
      path: "/v1/scopes/:scope/hubs/:name",
      access: MANAGERS,
      handler: async (req, res) => {
        await ops(res).hubDelete(p(req, "scope"), p(req, "name"));
        res.status(204).end();
      },
    },

    ...enrollmentRoutes("individual", "enrollments", "registrationId", "registrationId"),
    ...enrollmentRoutes("group", "groups", "groupId", "groupId"),
    {
      method: "post",
      path: "/v1/scopes/:scope/groups/:groupId/derive-key",
      access: MANAGERS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        const { registrationId } = req.body as { registrationId: string };
        res.set("Cache-Control", "no-store").json(await ops(res).groupDeriveKey(p(req, "scope"), p(req, "groupId"), registrationId));
      },
    },

    {
      method: "get",
      path: "/v1/scopes/:scope/registrations",
      access: READERS,
      handler: async (req, res) => {
        res.json(
          await ops(res).registrationList(p(req, "scope"), {
            status: queryString(req.query.status) as RegistrationStatus | undefined,
            hub: queryString(req.query.hub),
            enrollmentKind: queryString(req.query.enrollmentKind) as EnrollmentKind | undefined,
            enrollmentId: queryString(req.query.enrollmentId),
            after: queryString(req.query.after),
            limit: queryInt(req.query.limit),
          }),
        );
      },
    },
    {
      method: "get",
      path: "/v1/scopes/:scope/registrations/:registrationId",
      access: READERS,
      handler: async (req, res) => {
        res.json(await ops(res).registrationGet(p(req, "scope"), p(req, "registrationId")));
      },
    },
    {
      method: "delete",
      path: "/v1/scopes/:scope/registrations/:registrationId",
      access: MANAGERS,
      handler: async (req, res) => {
        await ops(res).registrationDelete(p(req, "scope"), p(req, "registrationId"));
        res.status(204).end();
      },
    },
  ];
}
