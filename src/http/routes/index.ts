import type { RouteDef } from "../route.js";
import { auditRoutes } from "./audit-routes.js";
import { auditPageRoutes } from "./audit-page-routes.js";
import { caRoutes } from "./ca-routes.js";
import { caLifecycleRoutes } from "./ca-lifecycle-routes.js";
import { certificateRoutes } from "./certificate-routes.js";
import type { RouteDeps } from "./context.js";
import { crlRoutes } from "./crl-routes.js";
import { dpsRoutes } from "./dps-routes.js";
import { healthRoutes } from "./health-routes.js";
import { hubRoutes } from "./hub-routes.js";
import { logRoutes } from "./log-routes.js";
import { ocspRoutes } from "./ocsp-routes.js";
import { profileRoutes } from "./profile-routes.js";
import { specRoutes } from "./spec-routes.js";
import { tokenRoutes } from "./token-routes.js";
import { operatorRoutes } from "./operator-routes.js";

/** Every route of the management API, one group per resource. Add a resource's group here. */
export function apiRoutes(deps: RouteDeps, isDraining: () => boolean): RouteDef[] {
  return [
    ...healthRoutes(deps, isDraining),
    ...caRoutes(deps),
    ...certificateRoutes(deps),
    ...crlRoutes(deps),
    ...auditRoutes(deps),
    ...logRoutes(deps),
    ...tokenRoutes(deps),
    ...operatorRoutes(deps),
    ...profileRoutes(deps),
    ...dpsRoutes(deps),
    ...caLifecycleRoutes(deps),
    ...ocspRoutes(deps),
    ...hubRoutes(deps),
    ...specRoutes(),
    ...auditPageRoutes(),
  ];
}
