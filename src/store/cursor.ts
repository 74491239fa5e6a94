import { AppError } from "../errors.js";

/**
 * Page cursors: opaque to clients, a position in a list to the store that made it. Shared by
 * every store and by services that page over store positions (the hub change feed).
 */
export function encodeCursor(n: number): string {
  return Buffer.from(`c:${n}`).toString("base64url");
}

export function decodeCursor(cursor: string): number {
  const match = /^c:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) throw new AppError("invalid_argument", "Cannot parse cursor: pass back the nextCursor of a previous page");
  return Number(match[1]);
}
