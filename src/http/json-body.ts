import type { IncomingMessage } from "node:http";
import { finished } from "node:stream";
import { bodyErrors } from "./problem.js";

/**
 * Reads a JSON request body on the lean path exactly as express.json({ strict: true }) does for
 * the API's routes: at most `limit` bytes (a larger body is read off and refused with 413, so the
 * connection stays usable), UTF-8 with a byte-order mark dropped, an empty body taken as {}, and
 * only an object or an array accepted at the top. The caller has checked the media type, and
 * that the body is neither absent nor compressed (those go to express).
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const refuse = (error: Error) => {
      req.removeAllListeners("data");
      finished(req, () => reject(error));
      req.resume();
    };
    if (Number(req.headers["content-length"]) > limit) return refuse(bodyErrors.tooLarge(limit));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (!done) {
        done = true;
        refuse(bodyErrors.tooLarge(limit));
      }
    });
    req.once("end", () => {
      if (done) return;
      done = true;
      try {
        resolve(parseStrict(Buffer.concat(chunks, size).toString("utf8")));
      } catch (err) {
        reject(err);
      }
    });
    req.once("close", () => {
      if (done) return;
      done = true;
      reject(bodyErrors.unreadable());
    });
  });
}

const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

function parseStrict(decoded: string): unknown {
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  if (text.length === 0) return {};
  const first = FIRST_NON_WHITESPACE.exec(text)?.[1];
  if (first !== "{" && first !== "[") throw bodyErrors.invalidJson();
  try {
    return JSON.parse(text);
  } catch {
    throw bodyErrors.invalidJson();
  }
}
