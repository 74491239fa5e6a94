import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { tilePath, tilePrefix, TILE_WIDTH, type TileRef } from "../tlog/tiles.js";
import type { LogSource } from "../src/core/audit/log-copy.js";
import { AppError } from "../src/errors.js";
import { ApiClient, type RemoteOptions } from "./remote/api-client.js";

/** The C2SP tlog-tiles paths dpki serves the log under. */
export const SERVED_LOG_PREFIX = "/v1/log";
/** Beside the checkpoint, served and exported alike: the log key certified by the roots. */
export const LOG_KEY_CERTIFICATES = "log-key.pem";

/** A copy of the log in a directory, as `dpki audit export` writes it (the served layout). */
export function directorySource(dir: string): LogSource {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AppError("not_found", `No log copy at ${dir}: no such directory`);
  const file = (path: string) => {
    try {
      return readFileSync(join(dir, path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new AppError("unavailable", `Cannot read ${join(dir, path)}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
  };
  return {
    where: dir,
    checkpoint: async () => file("checkpoint")?.toString("utf8") ?? null,
    keyCertificates: async () => file(LOG_KEY_CERTIFICATES)?.toString("utf8") ?? null,
    read: async (ref) => {
      const exact = file(tilePath(ref));
      if (exact || ref.width === TILE_WIDTH) return exact;
      // An export made later holds this partial tile only inside the full one or a wider partial one.
      const full = file(tilePath({ ...ref, width: TILE_WIDTH }));
      if (full) return tilePrefix(ref, full);
      const partials = join(dir, dirname(tilePath(ref)));
      const wider = existsSync(partials)
        ? readdirSync(partials)
            .filter((w) => /^[1-9][0-9]*$/.test(w) && Number(w) > ref.width && Number(w) < TILE_WIDTH)
            .sort((a, b) => Number(a) - Number(b))[0]
        : undefined;
      const bytes = wider ? file(tilePath({ ...ref, width: Number(wider) })) : null;
      return bytes ? tilePrefix(ref, bytes) : null;
    },
  };
}

/**
 * A tlog-tiles log over HTTP(S): `prefix` is the log's URL prefix (`…/v1/log` for dpki; a dpki
 * server's bare URL gets it added). Token and trust as for --server.
 */
export function httpSource(prefix: string, options: Omit<RemoteOptions, "server">): { source: LogSource; close(): void } {
  let url: URL;
  try {
    url = new URL(prefix);
  } catch {
    throw new AppError("invalid_argument", `"${prefix}" is not a URL`);
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = SERVED_LOG_PREFIX;
  const api = new ApiClient({ ...options, server: url.toString() });
  const get = async (path: string, accept: string) => {
    try {
      return await api.call("GET", `/${path}`, { accept });
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") return null;
      throw err;
    }
  };
  const source: LogSource = {
    where: url.toString(),
    checkpoint: async () => (await get("checkpoint", "text/plain"))?.toString("utf8") ?? null,
    keyCertificates: async () => (await get(LOG_KEY_CERTIFICATES, "application/pem-certificate-chain"))?.toString("utf8") ?? null,
    read: async (ref: TileRef) => {
      const exact = await get(tilePath(ref), "application/octet-stream");
      if (exact || ref.width === TILE_WIDTH) return exact;
      const full = await get(tilePath({ ...ref, width: TILE_WIDTH }), "application/octet-stream");
      return full ? tilePrefix(ref, full) : null;
    },
  };
  return { source, close: () => api.close() };
}
