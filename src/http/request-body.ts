import type { IncomingMessage } from "node:http";
import { finished } from "node:stream";
import { JSON_MAX_DEPTH, jsonBoundsProblem } from "../core/json-bounds.js";
import { AppError } from "../errors.js";
import { bodyErrors } from "./problem.js";

/**
 * Reads a request body on the lean path as express's body parsers do: at most `limit` bytes,
 * a larger body (by Content-Length at once, else as it arrives) read off to its end and then
 * refused with 413, so the connection stays usable. The caller has checked the media type, and
 * that the body is neither absent nor compressed (those requests go to express).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let done = false;
    const refuse = (error: Error) => {
      done = true;
      req.removeAllListeners("data");
      finished(req, () => reject(error));
      req.resume();
    };
    if (Number(req.headers["content-length"]) > limit) return refuse(bodyErrors.tooLarge(limit));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (!done) refuse(bodyErrors.tooLarge(limit));
    });
    req.once("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.once("close", () => {
      if (done) return;
      done = true;
      reject(bodyErrors.unreadable());
    });
  });
}

const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

/**
 * A UTF-8 JSON body as express.json({ strict: true }) takes it: a byte-order mark dropped, an
 * empty body as {}, only an object or an array at the top.
 */
export function parseJsonBody(body: Buffer): unknown {
  const decoded = body.toString("utf8");
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  if (text.length === 0) return {};
  const first = FIRST_NON_WHITESPACE.exec(text)?.[1];
  if (first !== "{" && first !== "[") throw bodyErrors.invalidJson();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bodyErrors.invalidJson();
  }
  checkBodyDepth(parsed);
  return parsed;
}

/** A request body's own fields nest a few levels; its free-form ones are bounded by JSON_MAX_DEPTH. */
export const BODY_MAX_DEPTH = JSON_MAX_DEPTH + 8;

/**
 * Refuses a parsed JSON body nested deeper than BODY_MAX_DEPTH before the validator or a
 * handler walks it (both recurse). The body's size is bounded by the route's limit already.
 */
export function checkBodyDepth(body: unknown): void {
  const problem = jsonBoundsProblem(body, "Request body", { maxDepth: BODY_MAX_DEPTH, maxBytes: Infinity });
  if (problem) throw new AppError("bad_request", problem, { maxDepth: BODY_MAX_DEPTH });
}
