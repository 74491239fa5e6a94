import { randomFillSync } from "node:crypto";

const RANDOM_OCTETS = 10;
/** Refilled in one call: each synchronous call into the CSPRNG costs microseconds, a serial needs ten bytes. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * A fresh certificate serial, 16 octets: the millisecond clock in the first six (48 bits, the
 * top two fixed to 01), then 80 bits from the CSPRNG.
 * Time in front makes serials ascend, so the database's serial indexes grow at their right
 * edge instead of touching a random page per certificate. The 01 prefix keeps the INTEGER
 * positive (RFC 5280 §4.1.2.2) and always exactly 16 octets (no leading-zero ambiguity in its
 * hex form); the clock needs only 46 bits until the year 4199. The 80 random bits are what
 * CA/B Forum Baseline Requirements count (they ask for at least 64), and they keep serials
 * issued in the same millisecond, by any process, apart; uniqueness itself is enforced by the
 * database.
 */
export function randomSerial(): Uint8Array {
  if (poolOffset + RANDOM_OCTETS > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const serial = Buffer.alloc(16);
  const ms = Date.now();
  const high = Math.floor(ms / 0x1_0000_0000);
  serial[0] = 0x40 | ((high >>> 8) & 0x3f);
  serial[1] = high & 0xff;
  serial.writeUInt32BE(ms >>> 0, 2);
  pool.copy(serial, 6, poolOffset, poolOffset + RANDOM_OCTETS);
  poolOffset += RANDOM_OCTETS;
  return serial;
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
