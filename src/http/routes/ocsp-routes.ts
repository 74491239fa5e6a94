import { createHash } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { Counter } from "prom-client";
import { encodeOcspError } from "../../../ca/ocsp.js";
import type { OcspAnswer } from "../../core/authority/ocsp-service.js";
import type { RouteDef } from "../route.js";
import type { RouteDeps } from "./context.js";

export const OCSP_REQUEST_TYPE = "application/ocsp-request";
export const OCSP_RESPONSE_TYPE = "application/ocsp-response";
/** Largest OCSP request accepted: a request for 32 certificates with a nonce is well under 4 KiB. */
const MAX_REQUEST_BYTES = 16 * 1024;

/**
 * RFC 6960 Appendix A: the OCSP responder at the URL written into every certificate's AIA
 * (`${publicUrl}/ocsp`). POST carries the DER request; GET carries it base64 in the path, as
 * `/ocsp/{url-encoded base64}`. Public, like the CRL. OCSP-level failures (undecodable request,
 * an issuer dpki does not serve, key unavailable) are OCSP error answers with HTTP 200, which
 * is what OCSP clients read; HTTP-level ones (wrong media type, too large) are problem+json.
 */
export function ocspRoutes(deps: RouteDeps): RouteDef[] {
  const answers = ocspCounter(deps);
  const ocspReply = async (request: Uint8Array | null) => {
    const answer: OcspAnswer | { der: Uint8Array; responseStatus: "malformedRequest"; maxAgeSeconds: 0 } = request
      ? await deps.services.lifecycle.ocsp.respond(request)
      : { der: encodeOcspError("malformedRequest"), responseStatus: "malformedRequest", maxAgeSeconds: 0 };
    answers?.inc({ status: answer.responseStatus });
    const headers: Record<string, string> =
      "thisUpdate" in answer && answer.thisUpdate && answer.nextUpdate && answer.maxAgeSeconds > 0
        ? {
            // RFC 5019 §6: caches may keep the answer until shortly before nextUpdate.
            "Cache-Control": `public, max-age=${answer.maxAgeSeconds}, no-transform, must-revalidate`,
            "Last-Modified": answer.thisUpdate.toUTCString(),
            Expires: new Date(answer.thisUpdate.getTime() + answer.maxAgeSeconds * 1000).toUTCString(),
            ETag: `"${createHash("sha256").update(answer.der).digest("hex").slice(0, 32)}"`,
          }
        : { "Cache-Control": "no-store" };
    return { status: 200, headers, type: OCSP_RESPONSE_TYPE, bytes: answer.der };
  };
  return [
    {
      method: "post",
      path: "/ocsp",
      access: "public",
      rawBody: { type: OCSP_REQUEST_TYPE, limit: MAX_REQUEST_BYTES },
      ownValidator: true,
      lean: async ({ body }) => ocspReply(Buffer.isBuffer(body) && body.length > 0 ? body : null),
    },
    {
      method: "get",
      path: "/ocsp/:request",
      access: "public",
      ownValidator: true,
      handler: async (req, res) => {
        const reply = await ocspReply(decodeGetRequest(req.params.request as string));
        // Through express's send: a GET with If-None-Match or If-Modified-Since gets its 304.
        res.set(reply.headers).status(reply.status).type(reply.type).send(Buffer.from(reply.bytes));
      },
    },
  ];
}

/**
 * Base64 in a path may carry raw "/" (RFC 6960 only asks for URL encoding, and not every client
 * does it), which would split it into several segments. Before routing, the rest of an
 * `/ocsp/…` GET path is made one segment by escaping its slashes.
 */
export function ocspGetPath(req: Request, _res: Response, next: NextFunction): void {
  if ((req.method === "GET" || req.method === "HEAD") && req.url.startsWith("/ocsp/")) {
    const query = req.url.indexOf("?");
    const path = query < 0 ? req.url : req.url.slice(0, query);
    const rest = path.slice("/ocsp/".length);
    if (rest.includes("/")) {
      req.url = "/ocsp/" + rest.replace(/\//g, "%2F") + (query < 0 ? "" : req.url.slice(query));
      // The OpenAPI validator matches on originalUrl.
      req.originalUrl = req.url;
    }
  }
  next();
}

/** The DER request from the path segment (already percent-decoded by the router), or null when it is not base64. */
function decodeGetRequest(segment: string): Uint8Array | null {
  const text = segment.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return null;
  const der = Buffer.from(text, "base64");
  return der.length > 0 ? der : null;
}

const counters = new WeakMap<object, Counter<"status">>();

/** dpki_ocsp_responses_total{status}, in the server's registry. */
function ocspCounter(deps: RouteDeps): Counter<"status"> | undefined {
  const registry = deps.metrics?.registry;
  if (!registry) return undefined;
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: "dpki_ocsp_responses_total",
      help: "OCSP answers sent, by response status",
      labelNames: ["status"],
      registers: [registry],
    });
    counters.set(registry, counter);
  }
  return counter;
}
