import { lint, createConfig } from "@redocly/openapi-core";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_TABLE } from "../../src/errors.js";
import { loadApiSpec, OPENAPI_FILE } from "../../src/http/openapi.js";
import { startTestServer, type TestServer } from "./harness.js";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

/** The routes express actually has, read from its router stack (not from our own table). */
function mountedRoutes(app: unknown): string[] {
  const out: string[] = [];
  const walk = (stack: Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }>) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods))
          if (on && method !== "_all") out.push(`${method.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack as never);
    }
  };
  walk((app as { router: { stack: never } }).router.stack);
  return out.sort();
}

function specOperations(): Map<string, { security?: Array<Record<string, string[]>> }> {
  const spec = loadApiSpec();
  const ops = new Map<string, { security?: Array<Record<string, string[]>> }>();
  for (const [path, item] of Object.entries(spec.paths)) {
    // Management routes only: paths of other listeners (the DPS device API) are marked x-listener.
    if ((item as { "x-listener"?: string })["x-listener"]) continue;
    for (const method of METHODS) {
      const op = (item as Record<string, unknown>)[method];
      if (op) ops.set(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`, op as never);
    }
  }
  return ops;
}

describe("openapi.yaml is the contract", () => {
  it("describes every route the server mounts, and nothing else", () => {
    const mounted = mountedRoutes(t.server.http.app);
    expect(mounted.length).toBeGreaterThan(15);
    expect([...specOperations().keys()].sort()).toEqual(mounted);
  });

  it("names, for every operation, exactly the roles the server lets through", () => {
    const ops = specOperations();
    for (const route of t.server.http.routes) {
      const key = `${route.method.toUpperCase()} ${route.path}`;
      const security = ops.get(key)!.security;
      expect(security, `${key} must declare its security`).toBeDefined();
      const roles = security!.length === 0 ? "public" : [...security![0]!.bearerToken!].sort();
      expect(roles, key).toEqual(route.access === "public" ? "public" : [...route.access].sort());
    }
  });

  it("lists every error code of the error table", () => {
    const spec = loadApiSpec() as unknown as { components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } } };
    expect([...spec.components.schemas.Problem.properties.code.enum].sort()).toEqual(Object.keys(ERROR_TABLE).sort());
  });

  it("passes the redocly linter (recommended rules) without a warning", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lint({ ref: OPENAPI_FILE, config });
    expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });

  it("is served, as shipped, at /openapi.yaml to anyone", async () => {
    const reply = await t.request("GET", "/openapi.yaml");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/yaml; charset=utf-8");
    expect(reply.body.equals(readFileSync(OPENAPI_FILE))).toBe(true);
  });

  it("serves the auditor page at /audit/ and /audit under a strict CSP, and 404 for files it does not have", async () => {
    for (const path of ["/audit/", "/audit", "/audit/index.html"]) {
      const page = await t.request("GET", path);
      expect(page.status, path).toBe(200);
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(page.headers["content-security-policy"]).toMatch(
        /^default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'/,
      );
      expect(page.text).toContain('<script type="module" src="/audit/audit.js"></script>');
    }
    expect((await t.request("GET", "/audit/audit.js")).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const missing = await t.request("GET", "/audit/..%2Fpackage.json");
    expect(missing.status).toBe(404);
    expect(missing.headers["content-type"]).toMatch(/^application\/problem\+json/);
  });

  it("its examples are what the server really answers (shape check of live responses)", async () => {
    const cas = await t.request("GET", "/v1/ca", { token: t.tokens.auditor });
    // Each CA with its lifecycle state (the CaStatus schema, as /v1/ca/status).
    expect(Object.keys(cas.json[0]).sort()).toEqual(
      [
        "id",
        "kind",
        "parentId",
        "status",
        "subject",
        "keyAlgorithm",
        "serial",
        "sha256",
        "notBefore",
        "notAfter",
        "state",
        "lastCertificateExpiry",
        "revokedAt",
        "revocationReason",
      ].sort(),
    );
    const tokens = await t.request("GET", "/v1/tokens", { token: t.tokens.admin });
    const spec = loadApiSpec() as unknown as { components: { schemas: Record<string, { required: string[] }> } };
    expect(Object.keys(tokens.json[0]).sort()).toEqual([...spec.components.schemas.Token!.required].sort());
    const profiles = await t.request("GET", "/v1/profiles", { token: t.tokens.hub });
    expect(Object.keys(profiles.json[0]).sort()).toEqual([...spec.components.schemas.Profile!.required].sort());
  });
});
