import { pemEncode } from "../../../ca/pem.js";
import type { Principal } from "../../core/token-service.js";
import { AppError } from "../../errors.js";
import type { CertificateQuery, IssueInput } from "../../operations.js";
import type { RouteDef } from "../route.js";
import { opsAs, opsFor, queryInt, queryString, type RouteDeps } from "./context.js";

const ISSUERS = ["admin", "operator", "factory"] as const;
const READERS = ["admin", "operator", "auditor"] as const;

/** Issuing, batch-issuing, reading, listing and revoking certificates. */
export function certificateRoutes(deps: RouteDeps): RouteDef[] {
  const { metrics } = deps;
  return [
    {
      method: "post",
      path: "/v1/certificates",
      access: ISSUERS,
      bodyLimit: 64 * 1024,
      ownValidator: true,
      lean: async ({ body, principal }) => {
        const input = body as IssueInput;
        allowProfiles(principal, [input.profile]);
        const release = await deps.services.tokens.consumeQuota(principal!, 1);
        let issued;
        try {
          issued = await opsAs(deps, principal).issue(input);
        } catch (err) {
          await release();
          metrics.issuanceFailures.inc({ code: (err as AppError).code ?? "internal" });
          throw err;
        }
        metrics.issued.inc({ profile: issued.certificate.profile });
        return { status: 201, json: issued, location: `/v1/certificates/${issued.certificate.serial}` };
      },
    },
    {
      method: "post",
      path: "/v1/certificates/batch",
      access: ISSUERS,
      bodyLimit: 4 * 1024 * 1024,
      ownValidator: true,
      lean: async ({ body, principal }) => {
        const items = (body as { items: IssueInput[] }).items;
        allowProfiles(
          principal,
          items.map((i) => i.profile),
        );
        const release = await deps.services.tokens.consumeQuota(principal!, items.length);
        let results;
        try {
          results = await opsAs(deps, principal).issueBatch(items);
        } catch (err) {
          await release();
          throw err;
        }
        const failed = results.filter((r) => !r.ok).length;
        if (failed) await release(failed);
        for (const r of results) {
          if (r.ok) metrics.issued.inc({ profile: r.certificate.profile });
          else metrics.issuanceFailures.inc({ code: r.error.code });
        }
        return { status: 200, json: { results } };
      },
    },
    {
      method: "get",
      path: "/v1/certificates",
      access: READERS,
      handler: async (req, res) => {
        const q = req.query;
        res.json(
          await opsFor(deps, res).listCertificates({
            status: queryString(q.status) as CertificateQuery["status"],
            subject: queryString(q.subject),
            profile: queryString(q.profile),
            expiringWithin: queryString(q.expiringWithin),
            after: queryString(q.after),
            limit: queryInt(q.limit),
          }),
        );
      },
    },
    {
      method: "get",
      path: "/v1/certificates/:id",
      access: READERS,
      handler: async (req, res) => {
        const cert = await opsFor(deps, res).getCertificate(req.params.id as string);
        const der = () => Buffer.from(cert.pem.replace(/-----[^-]+-----|\s+/g, ""), "base64");
        switch (req.accepts(["application/json", "application/pkix-cert", "application/x-pem-file"])) {
          case "application/pkix-cert":
            res.type("application/pkix-cert").send(der());
            return;
          case "application/x-pem-file":
            res.type("application/x-pem-file").send(pemEncode("CERTIFICATE", der()));
            return;
          default:
            res.json(cert);
        }
      },
    },
    {
      method: "post",
      path: "/v1/certificates/:id/revoke",
      access: ["admin", "operator"],
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        const reason = (req.body as { reason?: string } | undefined)?.reason ?? "unspecified";
        const cert = await opsFor(deps, res).revoke(req.params.id as string, reason);
        metrics.revoked.inc({ reason: cert.revocationReason ?? "unspecified" });
        res.json(cert);
      },
    },
  ];
}

/** A factory token issues only under the profiles it lists. */
function allowProfiles(principal: Principal | undefined, profiles: string[]): void {
  if (!principal || principal.role !== "factory") return;
  const refused = [...new Set(profiles)].filter((p) => !principal.profiles.includes(p));
  if (refused.length) {
    throw new AppError(
      "forbidden",
      `This factory token may issue only under ${principal.profiles.join(", ")}; not under ${refused.join(", ")}`,
      { allowedProfiles: [...principal.profiles] },
    );
  }
}
