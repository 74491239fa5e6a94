import { AppError } from "../../errors.js";
import { principalOf, type RouteDef } from "../route.js";
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
            refusals: String(q.refusals) === "true" ? true : undefined,
            text: queryString(q.text),
            order: queryString(q.order),
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
    {
      method: "get",
      path: "/v1/audit/checkpoint",
      access: AUDIT_READERS,
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).auditCheckpoint());
      },
    },
    {
      method: "get",
      path: "/v1/audit/proof",
      access: AUDIT_READERS,
      handler: async (req, res) => {
        // A proof covers the whole log, every scope's entries: only unscoped readers get one.
        if (principalOf(res)?.scope) throw new AppError("forbidden", "Log proofs cover every scope: ask with an unscoped token");
        const seq = queryInt(req.query.seq);
        res.json(await opsFor(deps, res).auditProve({ serial: queryString(req.query.serial), seq }));
      },
    },
    {
      method: "get",
      path: "/v1/audit/findings",
      access: AUDIT_READERS,
      handler: async (req, res) => {
        res.json(
          await opsFor(deps, res).auditCheck({ within: queryString(req.query.within), unusedFor: queryString(req.query.unusedFor) }),
        );
      },
    },
    {
      method: "get",
      path: "/v1/audit/consistency",
      access: AUDIT_READERS,
      handler: async (req, res) => {
        res.json(await opsFor(deps, res).auditConsistency(queryInt(req.query.from)!, queryInt(req.query.to)!));
      },
    },
  ];
}
