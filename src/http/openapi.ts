import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ErrorObject } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import * as OpenApiValidator from "express-openapi-validator";
import type { RequestHandler } from "express";
import { parse as parseYaml } from "yaml";
import { PACKAGE_ROOT } from "../package-root.js";
import { AppError } from "../errors.js";

/** openapi.yaml at the package root: the HTTP contract. */
export const OPENAPI_FILE = join(PACKAGE_ROOT, "openapi.yaml");

export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

const loaded = new Map<string, OpenApiDocument>();

/** The parsed spec, read once per process. */
export function loadApiSpec(file: string = OPENAPI_FILE): OpenApiDocument {
  let spec = loaded.get(file);
  if (!spec) loaded.set(file, (spec = parseYaml(readFileSync(file, "utf8")) as OpenApiDocument));
  return spec;
}

/** Built validators by spec and route set: several apps in one process (tests) share them. */
const validators = new WeakMap<OpenApiDocument, Map<string, RequestHandler[]>>();

/** Express path syntax to OpenAPI's: /v1/certificates/:id → /v1/certificates/{id}. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/**
 * Request validation by express-openapi-validator against the operations of `routes`:
 * parameters, bodies and content types, unknown query parameters and body fields refused.
 * The validator is built on a copy of the spec holding only those operations and the components
 * they reference: the library matches each request against every path it holds (a regex
 * compiled per path per request), so hot routes get a validator of their own, and each
 * validator costs some 60 ms to prepare, so the other routes share one.
 * Authorisation is done by dpki before it (callers without a token learn nothing of the
 * schema); responses are not validated at run time (the contract tests cover them).
 * Throws when the spec does not describe a route.
 */
export function requestValidator(spec: OpenApiDocument, routes: ReadonlyArray<{ method: string; path: string }>): RequestHandler[] {
  const key = routes.map((r) => `${r.method} ${r.path}`).join("\n");
  let byRoutes = validators.get(spec);
  if (!byRoutes) validators.set(spec, (byRoutes = new Map()));
  let handlers = byRoutes.get(key);
  if (!handlers) byRoutes.set(key, (handlers = buildValidator(spec, routes)));
  return handlers;
}

function buildValidator(spec: OpenApiDocument, routes: ReadonlyArray<{ method: string; path: string }>): RequestHandler[] {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    const item = spec.paths[path];
    const operation = item?.[route.method];
    if (!operation) throw new AppError("config_error", `openapi.yaml does not describe ${route.method.toUpperCase()} ${path}`);
    paths[path] ??= item.parameters ? { parameters: item.parameters } : {};
    paths[path][route.method] = operation;
  }
  const subset = structuredClone({ ...spec, paths, components: reachableComponents(spec, paths) });
  return OpenApiValidator.middleware({
    apiSpec: subset as never,
    validateApiSpec: false,
    validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false, removeAdditional: false },
    validateResponses: false,
    validateSecurity: false,
    fileUploader: false,
    ignoreUndocumented: false,
    $refParser: { mode: "bundle" },
  }) as unknown as RequestHandler[];
}

/** A request body openapi.yaml refuses, in the shape express-openapi-validator reports it: problem.ts maps both alike. */
export class BodyMismatch extends Error {
  readonly status = 400;
  constructor(readonly errors: Array<{ path: string; message: string }>) {
    super("Request body does not match openapi.yaml");
  }
}

/**
 * The request-body check of one operation, for a route served without express: the schema the
 * spec gives the operation's body of this media type (with the components it references),
 * compiled once by ajv in the dialect and with the options express-openapi-validator uses for
 * requests (first error only, no coercion, unknown fields refused where the schema says so),
 * and its failures reported as that validator reports them (`/body/<field>` paths, its
 * messages). Throws a BodyMismatch. A binary body is not checked, as that validator does not.
 */
export function bodyValidator(spec: OpenApiDocument, route: { method: string; path: string }, mediaType: string): (body: unknown) => void {
  const path = openApiPath(route.path);
  const operation = spec.paths[path]?.[route.method] as { requestBody?: { content?: Record<string, { schema?: { format?: string } }> } };
  const content = operation?.requestBody?.content?.[mediaType];
  if (!content) throw new AppError("config_error", `openapi.yaml has no ${mediaType} body for ${route.method.toUpperCase()} ${path}`);
  const schema = content.schema ?? {};
  if (schema.format === "binary") return () => {};
  const validate = requestAjv().compile({
    components: reachableComponents(spec, schema),
    properties: { body: schema },
  });
  return (body) => {
    if (validate({ body })) return;
    throw new BodyMismatch((validate.errors ?? []).map(validatorError));
  };
}

/**
 * Whether path parameter values are ones the operation's parameters (path-level and its own)
 * allow, by their schemas in the spec. The lean path serves only such requests and leaves the
 * others to express, whose validator reports them.
 */
export function pathParamsAllowed(
  spec: OpenApiDocument,
  route: { method: string; path: string },
): (params: Record<string, string>) => boolean {
  const path = openApiPath(route.path);
  const item = spec.paths[path] as { parameters?: unknown[] } & Record<string, { parameters?: unknown[] } | undefined>;
  const parameters = [...(item?.parameters ?? []), ...(item?.[route.method]?.parameters ?? [])].map((p) => resolveRef(spec, p)) as Array<{
    name: string;
    in: string;
    schema?: unknown;
  }>;
  const inPath = parameters.filter((p) => p.in === "path");
  const properties = Object.fromEntries(inPath.map((p) => [p.name, p.schema ?? {}]));
  const validate = requestAjv().compile({
    components: reachableComponents(spec, properties),
    type: "object",
    properties,
    required: inPath.map((p) => p.name),
  });
  return (params) => validate(params);
}

function resolveRef(spec: OpenApiDocument, node: unknown): unknown {
  const ref = (node as { $ref?: string }).$ref;
  const match = ref ? /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref) : null;
  if (!match) return node;
  return ((spec.components ?? {}) as Record<string, Record<string, unknown>>)[match[1]!]?.[match[2]!];
}

/** ajv as express-openapi-validator sets it up for requests (its dialect for OpenAPI 3.1 and its options). */
function requestAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    strict: false,
    strictNumbers: true,
    strictTuples: true,
    allowUnionTypes: false,
    validateSchema: false,
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    validateFormats: true,
  });
  addFormats.default(ajv, { mode: "fast" });
  return ajv;
}

/** One ajv error as express-openapi-validator words it. */
function validatorError(e: ErrorObject): { path: string; message: string } {
  const params = e.params as {
    missingProperty?: string;
    additionalProperty?: string;
    unevaluatedProperty?: string;
    allowedValues?: unknown[];
  };
  const at = (field: string | undefined) => field && `${e.instancePath}/${field}`;
  const message = e.keyword === "enum" && params.allowedValues ? `${e.message}: ${params.allowedValues.join(", ")}` : (e.message ?? "");
  return { path: at(params.missingProperty) ?? at(params.additionalProperty) ?? at(params.unevaluatedProperty) ?? e.instancePath, message };
}

/** The components an object references, transitively ($ref "#/components/<kind>/<name>"), plus the security schemes. */
function reachableComponents(spec: OpenApiDocument, root: unknown): Record<string, Record<string, unknown>> {
  const all = (spec.components ?? {}) as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  if (all.securitySchemes) out.securitySchemes = all.securitySchemes;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") {
        const match = /^#\/components\/([^/]+)\/([^/]+)$/.exec(value);
        if (!match) continue;
        const [, kind, name] = match as unknown as [string, string, string];
        if (out[kind]?.[name] !== undefined) continue;
        const target = all[kind]?.[name];
        if (target === undefined) continue;
        (out[kind] ??= {})[name] = target;
        visit(target);
      } else visit(value);
    }
  };
  visit(root);
  return out;
}
