import { readFileSync } from "node:fs";
import type { Pkcs11Settings } from "./config.js";
import { AppError } from "./errors.js";

/**
 * The user PIN of the PKCS#11 token: DPKI_PKCS11_PIN when set, else the first line of
 * pkcs11.pinFile. It is never written anywhere, and no message carries it.
 */
export function resolveTokenPin(settings: Pkcs11Settings): string {
  const env = process.env.DPKI_PKCS11_PIN;
  if (env) return env;
  if (!settings.pinFile) {
    throw new AppError(
      "key_unavailable",
      `No PIN for PKCS#11 token "${settings.tokenLabel}": set DPKI_PKCS11_PIN, or name a PIN file (\`init --pin-file\`, pkcs11.pinFile in config.json)`,
    );
  }
  let text: string;
  try {
    text = readFileSync(settings.pinFile, "utf8");
  } catch {
    throw new AppError("key_unavailable", `Cannot read the PIN file ${settings.pinFile} of PKCS#11 token "${settings.tokenLabel}"`);
  }
  const pin = text.split(/\r?\n/)[0]!;
  if (pin.length === 0) throw new AppError("key_unavailable", `The PIN file ${settings.pinFile} is empty`);
  return pin;
}
