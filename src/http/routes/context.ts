import type { Response } from "express";
import type { Services } from "../../app.js";
import type { Principal } from "../../core/tokens/token-service.js";
import { LocalOperations } from "../../operations/local-operations.js";
import type { Operations } from "../../operations/operations.js";
import type { HttpMetrics } from "../metrics.js";
import { callerActor, principalOf } from "../route.js";

/** What every routes file receives: the services, and the metrics to count into. */
export interface RouteDeps {
  services: Services;
  metrics: HttpMetrics;
}

/**
 * The operations facade acting as the caller: the API answers with exactly the shapes the
 * CLI prints under --json, which is what lets `--server` mode print the same output.
 */
export function opsFor(deps: RouteDeps, res: Response): Operations {
  return opsAs(deps, principalOf(res));
}

export function opsAs(deps: RouteDeps, principal: Principal | undefined): Operations {
  return new LocalOperations(deps.services, callerActor(principal), principal?.scope ?? null);
}

/** A query parameter as one string (the OpenAPI validator already refused arrays and unknown names). */
export function queryString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function queryInt(value: unknown): number | undefined {
  if (value === undefined || value === "") return undefined;
  return typeof value === "number" ? value : Number(value);
}
