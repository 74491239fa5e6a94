import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal, TokenService } from "../core/token-service.js";
import { AppError } from "../errors.js";
import { callerOf, refusal } from "./auth.js";
import { beginExchange, sendBody } from "./exchange.js";
import { readJsonBody } from "./json-body.js";
import type { Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";
import { bodyValidator, type OpenApiDocument } from "./openapi.js";
import { sendProblem } from "./problem.js";
import type { LeanReply, RouteDef } from "./route.js";

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface LeanContext {
  tokens: TokenService;
  spec: OpenApiDocument;
  logger: Logger;
  metrics: HttpMetrics;
  isDraining: () => boolean;
}

type LeanRoute = Extract<RouteDef, { lean: unknown }>;

/** `application/json`, alone or with charset=utf-8: what the lean path reads itself. */
const PLAIN_JSON = /^application\/json(?:[ \t]*;[ \t]*charset=utf-8)?$/i;

/**
 * The request listener of the API: the routes declared `lean` (the hot ones, issuance) served on
 * node:http alone, everything else handed to `fallback` (the express app). Express, the OpenAPI
 * validator middleware and the chain around them cost several hundred µs a request, as much as
 * issuing a certificate; the lean path takes the same steps in the same order through the same
 * functions — request id and headers, token, role, body size, strict JSON, the operation's
 * schema from openapi.yaml, the handler, problem+json, access log and metrics — and nothing else.
 * It takes only requests of the ordinary shape: that method on that exact path (no query
 * string), a JSON body that is present, uncompressed and UTF-8. Every other request, these
 * routes' unusual ones included, goes to express, where the lean routes are mounted too, and is
 * answered as it always was.
 */
export function leanListener(routes: RouteDef[], context: LeanContext, fallback: RequestListener): RequestListener {
  const served = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  for (const route of routes) {
    if (!route.lean) continue;
    if (route.path.includes(":")) throw new AppError("config_error", `lean route ${route.path} has a path parameter`);
    served.set(`${route.method.toUpperCase()} ${route.path}`, leanRoute(route, context));
  }
  return (req, res) => {
    const serve = served.get(`${req.method} ${req.url}`);
    if (!serve || !plainJson(req)) return fallback(req, res);
    void serve(req, res);
  };
}

function plainJson(req: IncomingMessage): boolean {
  const { headers } = req;
  return (
    headers["content-type"] !== undefined &&
    PLAIN_JSON.test(headers["content-type"]) &&
    headers["content-encoding"] === undefined &&
    (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined)
  );
}

function leanRoute(route: LeanRoute, context: LeanContext) {
  const { tokens, logger, metrics } = context;
  const validate = bodyValidator(context.spec, route);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let principal: Principal | undefined;
    // As in express, a request refused for its token has not reached its route yet.
    let matched = false;
    let code: string | undefined;
    const id = beginExchange(req, res, { logger, metrics, draining: context.isDraining() }, () => ({
      route: matched ? route.path : "unmatched",
      path: route.path,
      actor: principal?.actor,
      code,
    }));
    try {
      principal = await callerOf(tokens, req.headers.authorization);
      matched = true;
      const refused = refusal(route.access, principal);
      if (refused) throw refused;
      const body = await readJsonBody(req, route.bodyLimit);
      validate(body);
      sendReply(res, await route.lean({ body, principal }));
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      code = sendProblem(err, req, res, id, { logger, metrics });
    }
  };
}

/** A lean handler's answer, written the same way whichever path served the request. */
export function sendReply(res: ServerResponse, reply: LeanReply): void {
  if (reply.location) res.setHeader("Location", reply.location);
  sendBody(res, reply.status, "application/json; charset=utf-8", JSON.stringify(reply.json));
}
