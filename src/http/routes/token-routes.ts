import type { TokenCreateInput } from "../../operations/certificate-operations.js";
import type { RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

/** API token management: admin only. */
export function tokenRoutes(deps: RouteDeps): RouteDef[] {
  return [
    {
      method: "post",
      path: "/v1/tokens",
      access: ["admin"],
      bodyLimit: 16 * 1024,
      handler: async (req, res) => {
        const created = await opsFor(deps, res).tokenCreate(req.body as TokenCreateInput);
        // The secret is in this response only: keep it out of every cache.
        res.status(201).set("Cache-Control", "no-store").json(created);
      },
    },
    {
      method: "get",
      path: "/v1/tokens",
      access: ["admin"],
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).tokenList());
      },
    },
    {
      method: "post",
      path: "/v1/tokens/:id/revoke",
      access: ["admin"],
      handler: async (req, res) => {
        res.json(await opsFor(deps, res).tokenRevoke(req.params.id as string));
      },
    },
  ];
}
