import { describe, expect, it } from "vitest";
import { DerReader, integer, integerFromBigint, oid, setOf, time, tlv, utf8String } from "../../ca/der.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("DER writer", () => {
  it("encodes lengths in minimal form across the short/long boundary", () => {
    expect(hex(tlv(0x04, new Uint8Array(127))).slice(0, 4)).toBe("047f");
    expect(hex(tlv(0x04, new Uint8Array(128))).slice(0, 6)).toBe("048180");
    expect(hex(tlv(0x04, new Uint8Array(256))).slice(0, 8)).toBe("04820100");
    expect(hex(tlv(0x04, new Uint8Array(0x1000000))).slice(0, 12)).toBe("048401000000");
  });

  it("encodes positive INTEGERs minimally", () => {
    expect(hex(integer(Uint8Array.of(0x80)))).toBe("02020080");
    expect(hex(integer(Uint8Array.of(0, 0, 0x7f)))).toBe("02017f");
    expect(hex(integer(Uint8Array.of(0, 0, 0x80)))).toBe("02020080");
    expect(hex(integerFromBigint(0n))).toBe("020100");
    expect(hex(integerFromBigint(256n))).toBe("02020100");
  });

  it("encodes OIDs, including large arcs", () => {
    expect(hex(oid("1.2.840.113549.1.1.11"))).toBe("06092a864886f70d01010b");
    expect(hex(oid("2.999.3"))).toBe("0603883703");
    expect(() => oid("1.40")).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(() => oid("1.2.03")).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });

  it("sorts SET OF components (X.690 §11.6)", () => {
    expect(hex(setOf(utf8String("b"), utf8String("a")))).toBe("31060c01610c0162");
  });

  it("uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    const text = (date: string) => Buffer.from(time(new Date(date)).subarray(2)).toString("latin1");
    expect(text("2049-12-31T23:59:59.999Z")).toBe("491231235959Z");
    expect(text("2050-01-01T00:00:00Z")).toBe("20500101000000Z");
    expect(text("1950-01-01T00:00:00Z")).toBe("500101000000Z");
    expect(text("1949-12-31T23:59:59Z")).toBe("19491231235959Z");
    expect(time(new Date("2049-06-01T00:00:00Z"))[0]).toBe(0x17);
    expect(time(new Date("2050-06-01T00:00:00Z"))[0]).toBe(0x18);
    expect(() => time(new Date(Number.NaN))).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});

describe("DER reader", () => {
  const reader = new DerReader("test object");
  const refuses = (bytes: number[], message: RegExp) =>
    expect(() => reader.parse(Uint8Array.from(bytes))).toThrow(
      expect.objectContaining({ code: "bad_encoding", message: expect.stringMatching(message) }),
    );

  it("returns views into the input", () => {
    const input = Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa);
    const [int, octets] = reader.sequence(reader.parse(input), "SEQUENCE", 2, 2);
    expect(reader.smallInteger(int, "int")).toBe(5);
    expect(hex(reader.octetString(octets, "octets"))).toBe("aa");
    expect(octets!.raw.buffer).toBe(input.buffer);
  });

  it("refuses what BER allows and DER does not", () => {
    refuses([0x30, 0x80, 0x00, 0x00], /^Cannot parse test object: indefinite length/);
    refuses([0x04, 0x81, 0x05, 1, 2, 3, 4, 5], /non-minimal length/);
    refuses([0x04, 0x82, 0x00, 0x80, ...new Array(128).fill(0)], /non-minimal length/);
    refuses([0x04, 0x05, 1, 2], /truncated/);
    refuses([0x04, 0x01, 1, 0xff], /1 trailing bytes/);
    refuses([0x1f, 0x81, 0x01, 0x00], /high tag number/);
    // A child running past its parent's end is caught when the children are read.
    const parent = reader.parse(Uint8Array.of(0x30, 0x03, 0x04, 0x05, 0x00));
    expect(() => reader.children(parent)).toThrow(/truncated/);
  });

  it("checks primitive contents strictly", () => {
    const one = (bytes: number[]) => reader.parse(Uint8Array.from(bytes));
    expect(() => reader.integer(one([0x02, 0x02, 0x00, 0x01]), "n")).toThrow(/non-minimal INTEGER/);
    expect(() => reader.boolean(one([0x01, 0x01, 0x01]), "b")).toThrow(/malformed BOOLEAN/);
    expect(() => reader.oid(one([0x06, 0x02, 0x80, 0x01]), "o")).toThrow(/non-minimal OID/);
    expect(() => reader.bitStringBytes(one([0x03, 0x02, 0x01, 0x80]), "bits")).toThrow(/unused bits/);
    expect(reader.oid(one([0x06, 0x03, 0x88, 0x37, 0x03]), "o")).toBe("2.999.3");
  });
});
