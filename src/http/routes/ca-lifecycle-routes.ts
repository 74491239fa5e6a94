import type { Response } from "express";
import { pemEncode } from "../../../ca/pem.js";
import { crlInfo } from "../../core/authority/crl-service.js";
import { AppError } from "../../errors.js";
import type { RenewInput, RotateInput } from "../../operations/lifecycle-operations.js";
import type { CrlRecord } from "../../store/records.js";
import { actorOf, ALL_ROLES, type RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

const OPERATORS = ["admin", "operator"] as const;

/**
 * CA rollover and revocation, per-issuer CRLs and certificates (the URLs written into each
 * certificate, so they keep working after a rollover), the trust bundle, and certificate renewal.
 */
export function caLifecycleRoutes(deps: RouteDeps): RouteDef[] {
  const ops = (res: Response) => opsFor(deps, res);
  const caById = async (caId: string) => {
    const ca = (await deps.services.store.listCas()).find((c) => c.id === caId);
    if (!ca) throw new AppError("not_found", `No CA with id ${caId}`);
    return ca;
  };
  return [
    {
      method: "get",
      path: "/v1/ca/status",
      access: ALL_ROLES,
      handler: async (_req, res) => {
        res.json(await ops(res).caList());
      },
    },
    {
      method: "get",
      path: "/v1/ca/trust-bundle",
      access: "public",
      handler: async (_req, res) => {
        res.type("application/pem-certificate-chain").send(await ops(res).caTrustBundlePem());
      },
    },
    {
      method: "post",
      path: "/v1/ca/rotate",
      access: OPERATORS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        res.status(201).json(await ops(res).caRotate((req.body ?? {}) as RotateInput));
      },
    },
    {
      method: "post",
      path: "/v1/ca/:caId/retire",
      access: OPERATORS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        res.json(await ops(res).caRetire(req.params.caId as string));
      },
    },
    {
      method: "post",
      path: "/v1/ca/:caId/revoke",
      access: OPERATORS,
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        const reason = (req.body as { reason?: string } | undefined)?.reason ?? "cACompromise";
        const result = await ops(res).caRevoke(req.params.caId as string, reason);
        deps.metrics.revoked.inc({ reason }, result.certificatesRevoked);
        res.json(result);
      },
    },
    {
      method: "get",
      path: "/v1/ca/:caId/crl",
      access: "public",
      handler: async (req, res) => {
        const ca = await caById(req.params.caId as string);
        const crl = await deps.services.crl.current(actorOf(res), ca.id);
        switch (req.accepts(["application/pkix-crl", "application/x-pem-file", "application/json"])) {
          case "application/json":
            crlCacheHeaders(res, crl, "json");
            res.json({ ...crlInfo(crl), pem: pemEncode("X509 CRL", crl.der) });
            return;
          case "application/x-pem-file":
            crlCacheHeaders(res, crl, "pem");
            res.type("application/x-pem-file").send(pemEncode("X509 CRL", crl.der));
            return;
          default:
            crlCacheHeaders(res, crl, "der");
            res.type("application/pkix-crl").send(Buffer.from(crl.der));
        }
      },
    },
    {
      method: "get",
      path: "/v1/ca/:caId/cert.der",
      access: "public",
      handler: async (req, res) => {
        const ca = await caById(req.params.caId as string);
        res.set("Cache-Control", "public, max-age=86400").type("application/pkix-cert").send(Buffer.from(ca.certDer));
      },
    },
    {
      method: "post",
      path: "/v1/certificates/:id/renew",
      access: OPERATORS,
      bodyLimit: 64 * 1024,
      handler: async (req, res) => {
        const renewed = await ops(res).certRenew(req.params.id as string, req.body as RenewInput);
        deps.metrics.issued.inc({ profile: renewed.certificate.profile });
        res.status(201).location(`/v1/certificates/${renewed.certificate.serial}`).json(renewed);
      },
    },
  ];
}

/** As for /v1/crl: cacheable until nextUpdate, revalidated (a revocation publishes a new CRL at once). */
function crlCacheHeaders(res: Response, crl: CrlRecord, form: string): void {
  res.set({
    ETag: `"${crl.issuerCaId}-${crl.number}-${form}"`,
    "Last-Modified": crl.thisUpdate.toUTCString(),
    Expires: crl.nextUpdate.toUTCString(),
    "Cache-Control": "public, no-cache",
  });
}
