import { randomBytes } from "node:crypto";

/**
 * A fresh certificate serial: 16 random bytes with the top two bits fixed to 01, so the
 * INTEGER is positive (RFC 5280 §4.1.2.2), always exactly 16 octets (no leading-zero
 * ambiguity in its hex form) and still carries 126 bits of entropy (CA/B BR ask for ≥ 64).
 */
export function randomSerial(): Uint8Array {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes;
}

export function serialToHex(serial: Uint8Array): string {
  return Buffer.from(serial).toString("hex");
}

/** Accepts hex with optional colons or 0x, any case; returns the canonical lowercase form. */
export function normaliseSerialHex(text: string): string | null {
  const hex = text.trim().replace(/^0x/i, "").replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]{1,40}$/.test(hex)) return null;
  const stripped = hex.replace(/^(00)+(?=[0-7])/, "");
  return stripped.length % 2 === 0 ? stripped : "0" + stripped;
}
