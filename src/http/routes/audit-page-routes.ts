import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NextFunction, Request, Response } from "express";
import { AppError } from "../../errors.js";
import { PACKAGE_ROOT } from "../../package-root.js";
import type { RouteDef } from "../route.js";

/** The auditor's page, shipped in the package: static files whose script does the checking in the browser. */
const PAGE_DIR = join(PACKAGE_ROOT, "web", "audit");

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "audit.js": "text/javascript; charset=utf-8",
  "audit.css": "text/css; charset=utf-8",
};

/**
 * Scripts and styles from this origin only, no inline code, no frames, no forms posting
 * anywhere, and DOM sinks closed by Trusted Types: the page holds an auditor token, so nothing
 * injected into what it shows (subjects, details) may ever run.
 */
export const AUDIT_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

/** The auditor page's files, read once at start. */
export function auditPageRoutes(): RouteDef[] {
  const files = new Map(Object.keys(FILES).map((name) => [name, readFileSync(join(PAGE_DIR, name))]));
  return [
    {
      method: "get",
      path: "/audit/:file",
      access: "public",
      handler: (req, res) => {
        const name = req.params.file as string;
        const body = Object.hasOwn(FILES, name) ? files.get(name) : undefined;
        if (!body) throw new AppError("not_found", `No file ${name} in the auditor page`);
        res.set({
          "Content-Type": FILES[name]!,
          "Content-Security-Policy": AUDIT_PAGE_CSP,
          "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "no-referrer",
          "Cross-Origin-Opener-Policy": "same-origin",
          "Cross-Origin-Resource-Policy": "same-origin",
          // Revalidated on each load, so an upgraded dpki never runs an old script against a new API.
          "Cache-Control": "no-cache",
        });
        res.send(body);
      },
    },
  ];
}

/** /audit/ (and /audit) is the page's index.html, as a directory URL is on any static server. */
export function auditPageIndex(req: Request, _res: Response, next: NextFunction): void {
  const match = req.method === "GET" || req.method === "HEAD" ? /^\/audit\/?(\?.*)?$/.exec(req.url) : null;
  if (match) {
    req.url = "/audit/index.html" + (match[1] ?? "");
    // The OpenAPI validator matches on originalUrl.
    req.originalUrl = req.url;
  }
  next();
}
