import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { Services } from "../app.js";
import { AppError } from "../errors.js";
import { authenticate, authorize, denialOf, stepUp } from "./auth.js";
import { beginExchange, clientAddress } from "./exchange.js";
import { leanListener, sendReply, type RequestListener } from "./lean-routes.js";
import { jsonLogger, type Logger } from "./logger.js";
import { HttpMetrics } from "./metrics.js";
import { loadApiSpec, requestValidator, type OpenApiDocument } from "./openapi.js";
import { requestError, sendProblem } from "./problem.js";
import { checkBodyDepth } from "./request-body.js";
import { principalOf, type RouteDef } from "./route.js";
import { apiRoutes } from "./routes/index.js";
import { ocspGetPath } from "./routes/ocsp-routes.js";
import { auditPageIndex } from "./routes/audit-page-routes.js";
import { logTilePath } from "./routes/log-routes.js";

export interface HttpAppOptions {
  logger?: Logger;
  metrics?: HttpMetrics;
  /** The parsed openapi.yaml; read from the package when absent. */
  spec?: OpenApiDocument;
}

export interface HttpApp {
  /** What the server calls for each request: the lean routes, then express for everything else. */
  listener: RequestListener;
  app: express.Express;
  /** Every API route as mounted: what the contract test compares with openapi.yaml. */
  routes: RouteDef[];
  metrics: HttpMetrics;
  logger: Logger;
  /** Shutting down: /readyz answers 503 and responses ask clients to close their connections. */
  drain(): void;
}

/**
 * The dpki management API. Each request passes: request id + access log + metrics → token
 * authentication → the route's role check → JSON body parsing (per-route size limit) → OpenAPI
 * validation → handler; every failure ends in one problem+json mapper. The hot routes take
 * these steps on the lean path (lean-routes.ts); the others, and every route's requests of an
 * unusual shape, through express and express-openapi-validator.
 */
export function createHttpApp(services: Services, options: HttpAppOptions = {}): HttpApp {
  const logger = options.logger ?? jsonLogger();
  const metrics = options.metrics ?? new HttpMetrics();
  const spec = options.spec ?? loadApiSpec();
  let draining = false;
  const isDraining = () => draining;
  const routes = apiRoutes({ services, metrics }, isDraining);

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestContext(logger, metrics, isDraining));
  app.use(ocspGetPath);
  app.use(auditPageIndex);
  app.use(logTilePath);
  app.use(authenticate(services.tokens));

  const router = express.Router({ caseSensitive: true, strict: true });
  const methodsByPath = new Map<string, string[]>();
  const sharedValidator = requestValidator(
    spec,
    routes.filter((r) => !r.ownValidator),
  );
  const validatorFor = (route: RouteDef) => (route.ownValidator ? requestValidator(spec, [route]) : sharedValidator);
  for (const route of routes) {
    const body: RequestHandler[] = route.bodyLimit
      ? [express.json({ limit: route.bodyLimit, type: "application/json", strict: true }), boundedDepth]
      : route.rawBody
        ? [express.raw({ limit: route.rawBody.limit, type: route.rawBody.type })]
        : [];
    router[route.method](
      route.path,
      authorize(route.access),
      stepUp(services.stepUp, route.method, route.path),
      ...body,
      ...validatorFor(route),
      inContext(services),
      expressHandler(route),
    );
    methodsByPath.set(route.path, [...(methodsByPath.get(route.path) ?? []), route.method.toUpperCase()]);
  }
  for (const [path, methods] of methodsByPath) {
    const allow = methods.includes("GET") ? [...methods, "HEAD"] : methods;
    router.all(path, (req, res, next) => {
      res.set("Allow", allow.join(", "));
      next(new AppError("method_not_allowed", `${req.method} is not allowed here (allowed: ${allow.join(", ")})`));
    });
  }
  app.use(router);
  app.use((_req, _res, next) => next(new AppError("not_found", "No such endpoint")));
  app.use(problemHandler(services, logger, metrics));

  return {
    listener: leanListener(
      routes,
      {
        tokens: services.tokens,
        stepUp: services.stepUp,
        spec,
        logger,
        metrics,
        isDraining,
        auditContext: services.auditContext,
        refusals: services.refusals,
      },
      (req, res) => app(req, res),
    ),
    app,
    routes,
    metrics,
    logger,
    drain: () => {
      draining = true;
    },
  };
}

/** JSON bodies express parsed keep the depth bound the lean path applies in parseJsonBody. */
const boundedDepth: RequestHandler = (req, _res, next) => {
  checkBodyDepth(req.body);
  next();
};

/** A lean route's handler behind express's body parser and validator, for the requests the lean path leaves to express. */
function expressHandler(route: RouteDef): RequestHandler {
  if (route.handler) return route.handler;
  const lean = route.lean;
  return async (req, res) =>
    sendReply(res, await lean({ body: req.body, principal: principalOf(res), params: req.params as Record<string, string> }));
}

/**
 * The handler runs with the client's address as the source of the entries it causes. Entered
 * here, next to the handler: the body parsers resume the chain from stream events, outside any
 * context entered earlier.
 */
function inContext(services: Services): RequestHandler {
  return (req, _res, next) => services.auditContext.run(clientAddress(req), next);
}

function requestContext(logger: Logger, metrics: HttpMetrics, isDraining: () => boolean): RequestHandler {
  return (req, res, next) => {
    res.locals.requestId = beginExchange(req, res, { logger, metrics, draining: isDraining() }, () => ({
      route: (req.route as { path?: string } | undefined)?.path ?? "unmatched",
      path: req.path,
      actor: principalOf(res)?.actor,
      code: res.locals.errorCode as string | undefined,
    }));
    next();
  };
}

/** Answers with the problem document; a request refused for its token is logged (auth.deny) first. */
function problemHandler(services: Services, logger: Logger, metrics: HttpMetrics): ErrorRequestHandler {
  return async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const error = requestError(err);
    const denial = denialOf(req, error, principalOf(res));
    if (denial) await services.refusals.record(denial);
    if (res.headersSent) return;
    res.locals.errorCode = sendProblem(err, req, res, res.locals.requestId as string | undefined, { logger, metrics });
  };
}
