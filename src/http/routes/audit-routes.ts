import type { RouteDef } from "../route.js";
import { opsFor, queryInt, queryString, type RouteDeps } from "./context.js";

const AUDIT_READERS = ["admin", "auditor"] as const;

/** Reading and verifying the issuance log. */
export function auditRoutes(deps: RouteDeps): RouteDef[] {
  return [
    {
      method: "get",
      path: "/v1/audit",
      access: AUDIT_READERS,
      handler: async (req, res) => {
        const q = req.query;
        res.json(
          await opsFor(deps, res).auditLog({
            since: queryString(q.since),
            serial: queryString(q.serial),
            action: queryString(q.action),
            actor: queryString(q.actor),
            after: queryString(q.after),
            limit: queryInt(q.limit),
          }),
        );
      },
    },
    {
      method: "get",
      path: "/v1/audit/verify",
      access: AUDIT_READERS,
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).auditVerify());
      },
    },
  ];
}
