import { AppError, ERROR_TABLE, toAppError } from "../../errors.js";
import type { RouteDef } from "../route.js";
import type { RouteDeps } from "./context.js";

/** Liveness, readiness and Prometheus metrics, for orchestrators and scrapers. */
export function healthRoutes(deps: RouteDeps, isDraining: () => boolean): RouteDef[] {
  return [
    {
      method: "get",
      path: "/healthz",
      access: "public",
      handler: (_req, res) => {
        res.json({ status: "ok" });
      },
    },
    {
      method: "get",
      path: "/readyz",
      access: "public",
      handler: async (_req, res) => {
        if (isDraining()) throw new AppError("unavailable", "Shutting down");
        try {
          // Reads the database itself each time (a cached issuer would hide a damaged file), then
          // loads the issuing CA's certificate and key, and asks a token holding it whether it still does.
          await deps.services.store.probe();
          const issuer = await deps.services.ca.activeIssuer();
          await issuer.signer.probe?.();
        } catch (err) {
          const e = toAppError(err);
          // Whatever the cause (a misconfigured token included), not ready is 503 to an orchestrator.
          const status = ERROR_TABLE[e.code].status;
          throw new AppError(e.code === "internal" || status !== 503 ? "unavailable" : e.code, `Not ready: ${e.message}`, {
            cause: e.code,
          });
        }
        res.json({ status: "ready" });
      },
    },
    {
      method: "get",
      path: "/metrics",
      access: "public",
      handler: async (_req, res) => {
        res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
      },
    },
  ];
}
