import type { Response } from "express";
import { pemEncode } from "../../../ca/pem.js";
import { crlInfo } from "../../core/authority/crl-service.js";
import type { CrlRecord } from "../../store/records.js";
import { actorOf, type RouteDef } from "../route.js";
import type { RouteDeps } from "./context.js";

/**
 * The CRL at the URL placed in every certificate. Public, served from the CrlService cache
 * (re-signed after a revocation or as nextUpdate nears), with an ETag per CRL number.
 */
export function crlRoutes(deps: RouteDeps): RouteDef[] {
  const current = (res: Response) => deps.services.crl.current(actorOf(res));
  return [
    {
      method: "get",
      path: "/v1/crl",
      access: "public",
      handler: async (req, res) => {
        const crl = await current(res);
        switch (req.accepts(["application/pkix-crl", "application/x-pem-file", "application/json"])) {
          case "application/json":
            cacheHeaders(res, crl);
            res.json({ ...crlInfo(crl), pem: pemEncode("X509 CRL", crl.der) });
            return;
          case "application/x-pem-file":
            sendPem(res, crl);
            return;
          default:
            cacheHeaders(res, crl, "der");
            res.type("application/pkix-crl").send(Buffer.from(crl.der));
        }
      },
    },
    {
      method: "get",
      path: "/v1/crl.pem",
      access: "public",
      handler: async (_req, res) => sendPem(res, await current(res)),
    },
  ];
}

function sendPem(res: Response, crl: CrlRecord): void {
  cacheHeaders(res, crl, "pem");
  res.type("application/x-pem-file").send(pemEncode("X509 CRL", crl.der));
}

/** Clients may cache until nextUpdate, but revalidate: a revocation publishes a new CRL at once. */
function cacheHeaders(res: Response, crl: CrlRecord, form = "json"): void {
  res.set({
    ETag: `"${crl.issuerCaId}-${crl.number}-${form}"`,
    "Last-Modified": crl.thisUpdate.toUTCString(),
    Expires: crl.nextUpdate.toUTCString(),
    "Cache-Control": "public, no-cache",
  });
}
