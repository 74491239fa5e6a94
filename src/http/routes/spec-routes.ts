import { readFileSync } from "node:fs";
import { OPENAPI_FILE } from "../openapi.js";
import type { RouteDef } from "../route.js";

/** The HTTP contract itself, for client generators and people: the file as shipped, byte for byte. */
export function specRoutes(): RouteDef[] {
  const spec = readFileSync(OPENAPI_FILE);
  return [
    {
      method: "get",
      path: "/openapi.yaml",
      access: "public",
      handler: (_req, res) => {
        // application/yaml is the registered media type (RFC 9512).
        res.set({ "Content-Type": "application/yaml; charset=utf-8", "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" });
        res.send(spec);
      },
    },
  ];
}
