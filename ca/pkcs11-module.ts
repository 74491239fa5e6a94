import { createRequire } from "node:module";
import type * as Pkcs11js from "pkcs11js";

export type Pkcs11js = typeof Pkcs11js;

let loaded: Pkcs11js | undefined;

/**
 * The pkcs11js binding (a native addon), loaded on first use: every dpki command imports the
 * key providers, and only an installation with a token should pay for loading it.
 */
export function pkcs11(): Pkcs11js {
  return (loaded ??= createRequire(import.meta.url)("pkcs11js") as Pkcs11js);
}
