import type { RouteDef } from "../route.js";
import { opsFor, type RouteDeps } from "./context.js";

/** Operators, the named people or systems tokens are minted for: admin only. */
export function operatorRoutes(deps: RouteDeps): RouteDef[] {
  return [
    {
      method: "post",
      path: "/v1/operators",
      access: ["admin"],
      bodyLimit: 4 * 1024,
      handler: async (req, res) => {
        res.status(201).json(await opsFor(deps, res).operatorAdd((req.body as { name: string }).name));
      },
    },
    {
      method: "get",
      path: "/v1/operators",
      access: ["admin"],
      handler: async (_req, res) => {
        res.json(await opsFor(deps, res).operatorList());
      },
    },
    {
      method: "get",
      path: "/v1/operators/:name",
      access: ["admin"],
      handler: async (req, res) => {
        res.json(await opsFor(deps, res).operatorShow(req.params.name as string));
      },
    },
    {
      method: "post",
      path: "/v1/operators/:name/disable",
      access: ["admin"],
      handler: async (req, res) => {
        res.json(await opsFor(deps, res).operatorDisable(req.params.name as string));
      },
    },
    {
      method: "post",
      path: "/v1/operators/:name/totp",
      access: ["admin"],
      handler: async (req, res) => {
        // The otpauth:// URI holds the secret: in this response only, kept out of every cache.
        res.set("Cache-Control", "no-store").json(await opsFor(deps, res).operatorTotpEnroll(req.params.name as string));
      },
    },
  ];
}
