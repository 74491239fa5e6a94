import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal, TokenService } from "../core/tokens/token-service.js";
import { AppError } from "../errors.js";
import type { AuditContext } from "../core/audit/audit-context.js";
import type { RefusalLog } from "../core/audit/refusal-log.js";
import type { StepUpService } from "../core/tokens/step-up-service.js";
import { callerOf, denialOf, headerValue, OTP_HEADER, refusal } from "./auth.js";
import { beginExchange, clientAddress, sendBody } from "./exchange.js";
import type { Logger } from "./logger.js";
import type { HttpMetrics } from "./metrics.js";
import { bodyValidator, pathParamsAllowed, type OpenApiDocument } from "./openapi.js";
import { requestError, sendProblem } from "./problem.js";
import { parseJsonBody, readBody } from "./request-body.js";
import type { LeanReply, RouteDef } from "./route.js";

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface LeanContext {
  tokens: TokenService;
  stepUp: StepUpService;
  spec: OpenApiDocument;
  logger: Logger;
  metrics: HttpMetrics;
  isDraining: () => boolean;
  auditContext: AuditContext;
  refusals: RefusalLog;
}

type LeanRoute = Extract<RouteDef, { lean: unknown }>;

/** `application/json`, alone or with charset=utf-8: the JSON the lean path reads itself. */
const PLAIN_JSON = /^application\/json(?:[ \t]*;[ \t]*charset=utf-8)?$/i;

/**
 * The request listener of the API: the routes declared `lean` (the hot ones: issuance, OCSP,
 * device authentication) served on node:http alone, everything else handed to `fallback` (the
 * express app). Express, the OpenAPI validator middleware and the chain around them cost several
 * hundred µs a request, as much as issuing a certificate; the lean path takes the same steps in
 * the same order through the same functions — request id and headers, token, role, body size,
 * strict JSON and the operation's schema from openapi.yaml, the handler, problem+json, access
 * log and metrics — and nothing else. It takes only requests of the ordinary shape: that method
 * on that path (no query string, no percent-encoding, path parameters the spec allows), a body
 * that is present, uncompressed and of the route's media type (JSON: UTF-8). Every other
 * request, these routes' unusual ones included, goes to express, where the lean routes are
 * mounted too, and is answered as it always was.
 */
export function leanListener(routes: RouteDef[], context: LeanContext, fallback: RequestListener): RequestListener {
  const byMethod = new Map<string, Array<ReturnType<typeof leanRoute>>>();
  for (const route of routes) {
    if (!route.lean) continue;
    const method = route.method.toUpperCase();
    byMethod.set(method, [...(byMethod.get(method) ?? []), leanRoute(route, context)]);
  }
  return (req, res) => {
    for (const route of byMethod.get(req.method!) ?? []) {
      const params = route.takes(req);
      if (params) return void route.serve(req, res, params);
    }
    fallback(req, res);
  };
}

function leanRoute(route: LeanRoute, context: LeanContext) {
  const { tokens, logger, metrics } = context;
  const raw = route.rawBody;
  const limit = raw?.limit ?? route.bodyLimit;
  if (limit === undefined) throw new AppError("config_error", `Lean route ${route.path} takes no body`);
  const mediaType = raw?.type ?? "application/json";
  const validate = bodyValidator(context.spec, route, mediaType);
  const parse = raw ? (body: Buffer) => body : parseJsonBody;
  const match = pathMatcher(route.path);
  const paramsAllowed = pathParamsAllowed(context.spec, route);
  /** The path parameters when the request is one for the lean path, else undefined. */
  const takes = (req: IncomingMessage): Record<string, string> | undefined => {
    const params = match(req.url!);
    if (!params || !paramsAllowed(params)) return undefined;
    const { headers } = req;
    const type = headers["content-type"];
    const ordinary =
      type !== undefined &&
      (raw ? type.toLowerCase() === mediaType : PLAIN_JSON.test(type)) &&
      headers["content-encoding"] === undefined &&
      (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined);
    return ordinary ? params : undefined;
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> => {
    let principal: Principal | undefined;
    // As in express, a request refused for its token has not reached its route yet.
    let matched = false;
    let code: string | undefined;
    const id = beginExchange(req, res, { logger, metrics, draining: context.isDraining() }, () => ({
      route: matched ? route.path : "unmatched",
      path: req.url!,
      actor: principal?.actor,
      code,
    }));
    try {
      principal = await callerOf(tokens, req.headers.authorization);
      matched = true;
      const refused = refusal(route.access, principal);
      if (refused) throw refused;
      await context.stepUp.check(principal, route.method, route.path, headerValue(req.headers[OTP_HEADER]));
      const body = parse(await readBody(req, limit));
      validate(body);
      const call = { body, principal, params };
      sendReply(res, await context.auditContext.run(clientAddress(req), () => route.lean(call)));
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      const denial = denialOf(req, requestError(err), principal);
      if (denial) await context.refusals.record(denial);
      if (res.headersSent) return void res.destroy();
      code = sendProblem(err, req, res, id, { logger, metrics });
    }
  };
  return { takes, serve };
}

/**
 * The route's path as a matcher of request URLs: the parameters by name, or undefined for
 * another path. A query string or a percent-encoded segment never matches: such requests are
 * left to express, which decodes and validates them.
 */
function pathMatcher(path: string): (url: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const source = path.replace(/[.+*?^$()[\]{}|\\]/g, "\\$&").replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    names.push(name);
    return "([^/?%]+)";
  });
  if (names.length === 0) return (url) => (url === path ? {} : undefined);
  const pattern = new RegExp(`^${source}$`);
  return (url) => {
    const found = pattern.exec(url);
    return found ? Object.fromEntries(names.map((name, i) => [name, found[i + 1]!])) : undefined;
  };
}

/** A lean handler's answer, written the same way whichever path served the request. */
export function sendReply(res: ServerResponse, reply: LeanReply): void {
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if (reply.location) res.setHeader("Location", reply.location);
  if ("json" in reply) sendBody(res, reply.status, "application/json; charset=utf-8", JSON.stringify(reply.json));
  else sendBody(res, reply.status, reply.type, reply.bytes);
}
