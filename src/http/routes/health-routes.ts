import { AppError, toAppError } from "../../errors.js";
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
          // loads the issuing CA's certificate and key.
          await deps.services.store.probe();
          await deps.services.ca.activeIssuer();
        } catch (err) {
          const e = toAppError(err);
          throw new AppError(e.code === "internal" ? "unavailable" : e.code, `Not ready: ${e.message}`);
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
