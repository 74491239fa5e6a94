import { pemEncode } from "../../../ca/pem.js";
import { ALL_ROLES, type RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

/** CA information and certificates. The certificates are public: relying parties fetch them (caIssuers URL). */
export function caRoutes(deps: RouteDeps): RouteDef[] {
  const { ca } = deps.services;
  return [
    {
      method: "get",
      path: "/v1/ca",
      access: ALL_ROLES,
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).caList());
      },
    },
    {
      method: "get",
      path: "/v1/ca/chain",
      access: "public",
      handler: async (_req, res) => {
        res.type("application/pem-certificate-chain").send(await opsFor(deps, res).caChainPem());
      },
    },
    {
      method: "get",
      path: "/v1/ca/issuer.der",
      access: "public",
      handler: async (_req, res) => {
        const issuer = await ca.activeIssuer();
        res.type("application/pkix-cert").send(Buffer.from(issuer.ca.certDer));
      },
    },
    {
      method: "get",
      path: "/v1/ca/root.der",
      access: "public",
      handler: async (_req, res) => {
        res.type("application/pkix-cert").send(Buffer.from((await ca.root()).certDer));
      },
    },
    {
      method: "get",
      path: "/v1/ca/root.pem",
      access: "public",
      handler: async (_req, res) => {
        // Every root in service, the active issuer's first: the file an operator distributes (as <data-dir>/root.pem).
        const roots = await deps.services.lifecycle.rotation.trustBundle();
        res.type("application/x-pem-file").send(roots.map((der) => pemEncode("CERTIFICATE", der)).join(""));
      },
    },
  ];
}
