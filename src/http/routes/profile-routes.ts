import { ALL_ROLES, type RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

/** The certificate profiles in force. */
export function profileRoutes(deps: RouteDeps): RouteDef[] {
  return [
    {
      method: "get",
      path: "/v1/profiles",
      access: ALL_ROLES,
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).profiles());
      },
    },
  ];
}
