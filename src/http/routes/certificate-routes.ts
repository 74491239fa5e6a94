import { pemEncode } from "../../../ca/pem.js";
import type { Principal } from "../../core/tokens/token-service.js";
import { AppError } from "../../errors.js";
import type { BatchResultView, CertificateQuery, IssueInput } from "../../operations/certificate-operations.js";
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
        let release;
        try {
          release = await deps.services.tokens.consumeQuota(principal!, 1);
        } catch (err) {
          if (err instanceof AppError && err.code === "quota_exceeded") await refuse(deps, principal!, input.profile, err);
          throw err;
        }
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
        // Profiles and the quota are checked per item: what is allowed is issued, the rest is refused in its own result.
        const refusals: Array<Promise<void>> = [];
        const results: Array<BatchResultView | undefined> = items.map((item) => {
          const refused = profileRefusal(principal, item.profile);
          if (refused) refusals.push(refuse(deps, principal!, item.profile, refused));
          return refused ? { ok: false, error: { code: refused.code, message: refused.message } } : undefined;
        });
        const allowed = items.map((_, i) => i).filter((i) => results[i] === undefined);
        const quota = await deps.services.tokens.consumeQuotaUpTo(principal!, allowed.length);
        const granted = allowed.slice(0, quota.granted);
        for (const i of allowed.slice(quota.granted)) {
          results[i] = { ok: false, error: { code: quota.refusal!.code, message: quota.refusal!.message } };
          refusals.push(refuse(deps, principal!, items[i]!.profile, quota.refusal!));
        }
        await Promise.all(refusals);
        let issued: BatchResultView[] = [];
        try {
          if (granted.length) issued = await opsAs(deps, principal).issueBatch(granted.map((i) => items[i]!));
        } catch (err) {
          await quota.release(granted.length);
          throw err;
        }
        granted.forEach((i, k) => (results[i] = issued[k]));
        const failed = issued.filter((r) => !r.ok).length;
        if (failed) await quota.release(failed);
        for (const r of results as BatchResultView[]) {
          if (r.ok) metrics.issued.inc({ profile: r.certificate.profile });
          else metrics.issuanceFailures.inc({ code: r.error.code });
        }
        const headers = quota.refusal && granted.length < allowed.length ? { "Retry-After": String(secondsToUtcMidnight()) } : undefined;
        return { status: 200, json: { results }, ...(headers ? { headers } : {}) };
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

/**
 * Logs a request the token's own limits refused before any CSR was read: a profile it may not
 * use as `auth.deny` (as when the whole request is refused for it), a used-up quota as `cert.refuse`.
 */
function refuse(deps: RouteDeps, principal: Principal, profile: string, error: AppError): Promise<void> {
  return deps.services.refusals.record({
    action: error.code === "forbidden" ? "auth.deny" : "cert.refuse",
    actor: principal.actor,
    source: deps.services.auditContext.source(),
    code: error.code,
    message: error.message,
    profile,
    details: { tokenId: principal.tokenId, role: principal.role },
  });
}

/** A factory token issues only under the profiles it lists. */
function allowProfiles(principal: Principal | undefined, profiles: string[]): void {
  for (const profile of new Set(profiles)) {
    const refused = profileRefusal(principal, profile);
    if (refused) throw refused;
  }
}

function profileRefusal(principal: Principal | undefined, profile: string): AppError | null {
  if (!principal || principal.role !== "factory" || principal.profiles.includes(profile)) return null;
  return new AppError("forbidden", `This factory token may issue only under ${principal.profiles.join(", ")}; not under ${profile}`, {
    allowedProfiles: [...principal.profiles],
  });
}

/** When a used-up daily quota (UTC day) starts again. */
function secondsToUtcMidnight(): number {
  const now = new Date();
  return Math.ceil((Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime()) / 1000);
}
