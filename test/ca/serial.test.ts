import { describe, expect, it } from "vitest";
import { normaliseSerialHex, randomSerial, serialToHex } from "../../ca/serial.js";

/** The millisecond clock in the first six octets, under the 01 prefix. */
function clockOf(serial: Uint8Array): number {
  return Buffer.from(serial).readUIntBE(0, 6) - 0x4000_0000_0000;
}

function randomPart(serial: Uint8Array): string {
  return Buffer.from(serial.subarray(6)).toString("hex");
}

describe("randomSerial", () => {
  it("is 16 octets with the top bits 01: a positive INTEGER whose hex form is canonical", () => {
    for (let i = 0; i < 2000; i++) {
      const serial = randomSerial();
      expect(serial).toHaveLength(16);
      expect(serial[0]! >> 6).toBe(0b01);
      const hex = serialToHex(serial);
      expect(hex).toMatch(/^[4-7][0-9a-f]{31}$/);
      expect(normaliseSerialHex(hex)).toBe(hex);
    }
  });

  it("starts with the millisecond clock, so later serials sort after earlier ones", async () => {
    const before = Date.now();
    const first = randomSerial();
    expect(clockOf(first)).toBeGreaterThanOrEqual(before);
    expect(clockOf(first)).toBeLessThanOrEqual(Date.now());
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = randomSerial();
    expect(clockOf(second)).toBeGreaterThan(clockOf(first));
    expect(serialToHex(second) > serialToHex(first)).toBe(true);
  });

  it("carries 80 random bits that differ between serials of the same millisecond", () => {
    // More serials than one refill of the random pool provides, so refills are crossed too.
    const serials = Array.from({ length: 2000 }, () => randomSerial());
    let sameMillisecond = 0;
    for (let i = 1; i < serials.length; i++) {
      if (clockOf(serials[i]!) !== clockOf(serials[i - 1]!)) continue;
      sameMillisecond++;
      expect(randomPart(serials[i]!)).not.toBe(randomPart(serials[i - 1]!));
    }
    expect(sameMillisecond).toBeGreaterThan(0);
    expect(new Set(serials.map(serialToHex)).size).toBe(serials.length);
    // Every one of the 80 bits takes both values: no part of the random field is fixed.
    for (let bit = 0; bit < 80; bit++) {
      const values = new Set(serials.map((s) => (s[6 + (bit >> 3)]! >> (7 - (bit & 7))) & 1));
      expect(values.size, `random bit ${bit}`).toBe(2);
    }
  });
});
