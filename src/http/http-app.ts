import { randomUUID } from "node:crypto";
import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { Services } from "../app.js";
import { AppError } from "../errors.js";
import { authenticate, authorize } from "./auth.js";
import { jsonLogger, type Logger } from "./logger.js";
import { HttpMetrics } from "./metrics.js";
import { loadApiSpec, requestValidator, type OpenApiDocument } from "./openapi.js";
import { PROBLEM_CONTENT_TYPE, problemOf, requestError } from "./problem.js";
import { principalOf, type RouteDef } from "./route.js";
import { apiRoutes } from "./routes/index.js";
import { ocspGetPath } from "./routes/ocsp-routes.js";

export interface HttpAppOptions {
  logger?: Logger;
  metrics?: HttpMetrics;
  /** The parsed openapi.yaml; read from the package when absent. */
  spec?: OpenApiDocument;
}

export interface HttpApp {
  app: express.Express;
  /** Every API route as mounted: what the contract test compares with openapi.yaml. */
  routes: RouteDef[];
  metrics: HttpMetrics;
  logger: Logger;
  /** Shutting down: /readyz answers 503 and responses ask clients to close their connections. */
  drain(): void;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The dpki management API as an express app. Each request passes: request id + access log +
 * metrics → token authentication → the route's role check → JSON body parsing (per-route
 * size limit) → OpenAPI validation → handler; every failure ends in one problem+json mapper.
 */
export function createHttpApp(services: Services, options: HttpAppOptions = {}): HttpApp {
  const logger = options.logger ?? jsonLogger();
  const metrics = options.metrics ?? new HttpMetrics();
  const spec = options.spec ?? loadApiSpec();
  let draining = false;
  const routes = apiRoutes({ services, metrics }, () => draining);

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestContext(logger, metrics, () => draining));
  app.use(ocspGetPath);
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
      ? [express.json({ limit: route.bodyLimit, type: "application/json", strict: true })]
      : route.rawBody
        ? [express.raw({ limit: route.rawBody.limit, type: route.rawBody.type })]
        : [];
    router[route.method](route.path, authorize(route.access), ...body, ...validatorFor(route), route.handler);
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
  app.use(problemHandler(logger, metrics));

  return {
    app,
    routes,
    metrics,
    logger,
    drain: () => {
      draining = true;
    },
  };
}

function requestContext(logger: Logger, metrics: HttpMetrics, isDraining: () => boolean): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const presented = req.headers["x-request-id"];
    const id = typeof presented === "string" && REQUEST_ID.test(presented) ? presented : randomUUID();
    res.locals.requestId = id;
    res.setHeader("X-Request-Id", id);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    if (isDraining()) res.setHeader("Connection", "close");
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? "unmatched";
      const method = req.method;
      metrics.requests.inc({ method, route, status: res.statusCode });
      metrics.duration.observe({ method, route }, seconds);
      logger.info("request", {
        reqId: id,
        method,
        path: req.path.length > 200 ? req.path.slice(0, 200) + "…" : req.path,
        route,
        status: res.statusCode,
        ms: Math.round(seconds * 1e6) / 1e3,
        actor: principalOf(res)?.actor,
        code: res.locals.errorCode,
      });
    });
    next();
  };
}

function problemHandler(logger: Logger, metrics: HttpMetrics): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const error = requestError(err);
    const requestId = res.locals.requestId as string | undefined;
    if (error.code === "internal") {
      const e = err as Error;
      logger.error("internal error", { reqId: requestId, error: e?.name, message: e?.message, stack: e?.stack });
    }
    const problem = problemOf(error, requestId);
    res.locals.errorCode = error.code;
    metrics.errors.inc({ code: error.code });
    if (problem.status === 401) {
      res.set("WWW-Authenticate", req.headers.authorization ? 'Bearer realm="dpki", error="invalid_token"' : 'Bearer realm="dpki"');
    }
    if (error.code === "quota_exceeded") {
      const now = new Date();
      const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
      res.set("Retry-After", String(Math.ceil((midnight - now.getTime()) / 1000)));
    }
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  };
}
