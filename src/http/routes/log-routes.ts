import type { NextFunction, Request, Response } from "express";
import { parseTilePath, TileError, TILE_WIDTH, type TileRef } from "../../../tlog/tiles.js";
import { pemEncode } from "../../../ca/pem.js";
import { AppError } from "../../errors.js";
import { principalOf, type Access, type RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

export const LOG_PREFIX = "/v1/log";
const TILE_PREFIX = `${LOG_PREFIX}/tile/`;

/**
 * The issuance log as a C2SP tlog-tiles log under /v1/log: the checkpoint, hash tiles and
 * entry bundles, which any tlog-tiles client (Go's sumdb/tlog among them) reads to check the
 * log on its own. Readable by admin and auditor tokens, or by anyone when config `logPublic`
 * is true; a scoped token never, as the log covers every scope.
 */
export function logRoutes(deps: RouteDeps): RouteDef[] {
  const open = deps.services.config.logPublic;
  const access: Access = open ? "public" : ["admin", "auditor"];
  // Behind a token a response is the caller's own: shared caches must not keep it.
  const audience = open ? "public" : "private";
  const allowed = (res: Response) => {
    if (!open && principalOf(res)?.scope) throw new AppError("forbidden", "The log covers every scope: read it with an unscoped token");
  };
  const tile = async (req: Request, res: Response, level: string) => {
    const ref = tileRef(`tile/${level}/${req.params.tile as string}`);
    const bytes = await opsFor(deps, res).logTile(ref);
    // A full tile never changes; a partial one is superseded by wider ones and, in the end, the full tile.
    res.set("Cache-Control", ref.width === TILE_WIDTH ? `${audience}, max-age=31536000, immutable` : `${audience}, max-age=86400`);
    res.status(200).type("application/octet-stream").send(bytes);
  };
  return [
    {
      method: "get",
      path: `${LOG_PREFIX}/checkpoint`,
      access,
      handler: async (_req, res) => {
        allowed(res);
        const checkpoint = await deps.services.logTiles.checkpoint();
        // The checkpoint moves on as entries are signed: a few seconds in a cache at most.
        res.set("Cache-Control", `${audience}, max-age=5`);
        res.status(200).type("text/plain; charset=utf-8").send(checkpoint.note);
      },
    },
    {
      method: "get",
      path: `${LOG_PREFIX}/log-key.pem`,
      access,
      handler: async (_req, res) => {
        allowed(res);
        const certs = await deps.services.log.keyCertificates();
        if (certs.length === 0) throw new AppError("not_found", "No root has certified the log key yet");
        res.set("Cache-Control", `${audience}, max-age=300`);
        res
          .status(200)
          .type("application/pem-certificate-chain")
          .send(certs.map((c) => pemEncode("CERTIFICATE", c.der)).join(""));
      },
    },
    {
      method: "get",
      path: `${LOG_PREFIX}/tile/entries/:tile`,
      access,
      ownValidator: true,
      handler: (req, res) => tile(req, res, "entries"),
    },
    {
      method: "get",
      path: `${LOG_PREFIX}/tile/:level/:tile`,
      access,
      ownValidator: true,
      handler: (req, res) => tile(req, res, req.params.level as string),
    },
  ];
}

function tileRef(path: string): TileRef {
  try {
    return parseTilePath(path);
  } catch (err) {
    if (err instanceof TileError) throw new AppError("bad_request", err.message);
    throw err;
  }
}

/**
 * A tile index spans several path segments (`x001/x234/067.p/5`). Before routing, the part of
 * a tile path after its level is made one segment by escaping its slashes, so the routes above
 * (and the OpenAPI validator) see one `tile` parameter.
 */
export function logTilePath(req: Request, _res: Response, next: NextFunction): void {
  if ((req.method === "GET" || req.method === "HEAD") && req.url.startsWith(TILE_PREFIX)) {
    const query = req.url.indexOf("?");
    const path = query < 0 ? req.url : req.url.slice(0, query);
    const rest = path.slice(TILE_PREFIX.length);
    const cut = rest.indexOf("/");
    if (cut >= 0 && rest.indexOf("/", cut + 1) >= 0) {
      req.url = TILE_PREFIX + rest.slice(0, cut + 1) + rest.slice(cut + 1).replace(/\//g, "%2F") + (query < 0 ? "" : req.url.slice(query));
      // The OpenAPI validator matches on originalUrl.
      req.originalUrl = req.url;
    }
  }
  next();
}
