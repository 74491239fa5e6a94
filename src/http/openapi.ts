import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as OpenApiValidator from "express-openapi-validator";
import type { RequestHandler } from "express";
import { parse as parseYaml } from "yaml";
import { PACKAGE_ROOT } from "../package-root.js";

/** openapi.yaml at the package root: the HTTP contract. */
export const OPENAPI_FILE = join(PACKAGE_ROOT, "openapi.yaml");

export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

export function loadApiSpec(file: string = OPENAPI_FILE): OpenApiDocument {
  return parseYaml(readFileSync(file, "utf8")) as OpenApiDocument;
}

/** Express path syntax to OpenAPI's: /v1/certificates/:id → /v1/certificates/{id}. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/**
 * Request validation of one route against the spec by express-openapi-validator: parameters,
 * bodies and content types, unknown query parameters and body fields refused. Each route gets
 * a validator built on a copy of the spec holding only its own operation, because the library
 * otherwise matches every request against every path of the spec (a regex compiled per path per
 * request). Authorisation is done by dpki before it (callers without a token learn nothing of
 * the schema); responses are not validated at run time (the contract tests cover them).
 * Throws when the spec does not describe the route.
 */
export function routeValidator(spec: OpenApiDocument, method: string, expressPath: string): RequestHandler[] {
  const path = openApiPath(expressPath);
  const item = spec.paths[path];
  const operation = item?.[method];
  if (!operation) throw new Error(`openapi.yaml does not describe ${method.toUpperCase()} ${path}`);
  const subset = {
    ...structuredClone(spec),
    paths: {
      [path]: { ...(item.parameters ? { parameters: structuredClone(item.parameters) } : {}), [method]: structuredClone(operation) },
    },
  };
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
