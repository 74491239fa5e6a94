/**
 * A minimal DER (X.690) writer and strict reader for the CA engine's hot paths.
 *
 * The writer builds each TLV straight into one buffer from already-encoded children: no
 * intermediate object tree, one allocation per constructed value. The reader returns views
 * into its input and refuses everything BER allows but DER forbids, so a byte string it
 * accepts has exactly one meaning.
 */
import { PkiError } from "./pki-error.js";

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const CONTEXT = 0x80;
const CONSTRUCTED = 0x20;

// ---------------------------------------------------------------------------------------
// Writer

/** Size of the identifier + length octets for `contentLength` bytes of content. */
export function headerSize(contentLength: number): number {
  if (contentLength < 0x80) return 2;
  if (contentLength < 0x100) return 3;
  if (contentLength < 0x10000) return 4;
  if (contentLength < 0x1000000) return 5;
  return 6;
}

/** Writes tag and minimal definite length (X.690 §10.1) at `offset`; returns the offset after it. */
export function writeHeader(out: Uint8Array, offset: number, tag: number, contentLength: number): number {
  out[offset++] = tag;
  if (contentLength < 0x80) {
    out[offset++] = contentLength;
    return offset;
  }
  const size = headerSize(contentLength) - 2;
  out[offset++] = 0x80 | size;
  for (let shift = (size - 1) * 8; shift >= 0; shift -= 8) out[offset++] = (contentLength / 2 ** shift) & 0xff;
  return offset;
}

/** One TLV whose content is the concatenation of `contents`. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of contents) length += part.length;
  const out = Buffer.allocUnsafe(headerSize(length) + length);
  let offset = writeHeader(out, 0, tag, length);
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function sequence(...children: Uint8Array[]): Uint8Array {
  return tlv(TAG.SEQUENCE, ...children);
}

/** SET OF: DER orders the component encodings as octet strings (X.690 §11.6). */
export function setOf(...children: Uint8Array[]): Uint8Array {
  const sorted = children.length > 1 ? [...children].sort((a, b) => Buffer.compare(a, b)) : children;
  return tlv(TAG.SET, ...sorted);
}

/** [n] EXPLICIT: a constructed context tag around complete TLVs. */
export function explicit(tagNumber: number, ...children: Uint8Array[]): Uint8Array {
  return tlv(CONTEXT | CONSTRUCTED | tagNumber, ...children);
}

/** [n] IMPLICIT: the content octets of the underlying type under a context tag. */
export function implicit(tagNumber: number, content: Uint8Array, constructed = false): Uint8Array {
  return tlv(CONTEXT | (constructed ? CONSTRUCTED : 0) | tagNumber, content);
}

/**
 * The minimal two's-complement content octets of a non-negative integer given as unsigned
 * big-endian bytes: redundant leading zeros stripped, one 0x00 added when the top bit is set
 * (X.690 §8.3.2), so the value stays positive.
 */
export function unsignedIntegerContent(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  if (body.length === 0) return Uint8Array.of(0);
  if ((body[0] as number) & 0x80) {
    const padded = new Uint8Array(body.length + 1);
    padded.set(body, 1);
    return padded;
  }
  return body;
}

/** INTEGER from unsigned big-endian bytes. */
export function integer(bytes: Uint8Array): Uint8Array {
  return tlv(TAG.INTEGER, unsignedIntegerContent(bytes));
}

/** Unsigned big-endian bytes of a non-negative bigint (at least one byte). */
function bigintBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new PkiError("invalid_argument", `Cannot encode negative integer ${value}`);
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
}

export function integerFromBigint(value: bigint): Uint8Array {
  return integer(bigintBytes(value));
}

const oidCache = new Map<string, Uint8Array>();

/** OBJECT IDENTIFIER from dotted form; encodings are cached since a CA uses a few dozen. */
export function oid(dotted: string): Uint8Array {
  let encoded = oidCache.get(dotted);
  if (!encoded) {
    encoded = tlv(TAG.OID, oidContent(dotted));
    oidCache.set(dotted, encoded);
  }
  return encoded;
}

function oidContent(dotted: string): Uint8Array {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new PkiError("invalid_argument", `Invalid OID "${dotted}"`);
  const arcs = dotted.split(".").map((arc) => BigInt(arc));
  const [first, second] = arcs as [bigint, bigint];
  if (first < 2n && second > 39n) throw new PkiError("invalid_argument", `Invalid OID "${dotted}"`);
  const out: number[] = [];
  // X.690 §8.19.4: the first two arcs share one subidentifier.
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const septets: number[] = [Number(arc & 0x7fn)];
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) septets.unshift(Number(rest & 0x7fn) | 0x80);
    out.push(...septets);
  }
  return Uint8Array.from(out);
}

export function utf8String(value: string): Uint8Array {
  return tlv(TAG.UTF8_STRING, Buffer.from(value, "utf8"));
}

/** X.680 §41.4 PrintableString alphabet. */
export function isPrintableString(value: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
}

export function isIa5String(value: string): boolean {
  return /^[\x00-\x7f]*$/.test(value);
}

export function printableString(value: string): Uint8Array {
  if (!isPrintableString(value)) throw new PkiError("invalid_argument", `"${value}" is not a valid PrintableString`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(value, "latin1"));
}

export function ia5String(value: string): Uint8Array {
  if (!isIa5String(value)) throw new PkiError("invalid_argument", `"${value}" is not a valid IA5String (ASCII only)`);
  return tlv(TAG.IA5_STRING, Buffer.from(value, "latin1"));
}

export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(TAG.BIT_STRING, Uint8Array.of(unusedBits), bytes);
}

export function octetString(bytes: Uint8Array): Uint8Array {
  return tlv(TAG.OCTET_STRING, bytes);
}

/** DER BOOLEAN TRUE is 0xFF (X.690 §11.1). FALSE is usually a DEFAULT and then omitted. */
export const TRUE = Uint8Array.of(TAG.BOOLEAN, 1, 0xff);
export const NULL = Uint8Array.of(TAG.NULL, 0);

/** Bytes of the encoded Time for `date`: 15 for UTCTime, 17 for GeneralizedTime. */
export function timeSize(date: Date): number {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? 15 : 17;
}

/**
 * Writes an RFC 5280 §4.1.2.5 Time at `offset`: UTCTime YYMMDDHHMMSSZ through 2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ otherwise; always UTC, seconds present, no fractions
 * (milliseconds are truncated). Returns the offset after it. Used directly by the CRL
 * encoder, which writes a million of these.
 */
export function writeTime(out: Uint8Array, offset: number, date: Date): number {
  const time = date.getTime();
  if (!Number.isFinite(time)) throw new PkiError("invalid_argument", "Cannot encode an invalid date");
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new PkiError("invalid_argument", `Cannot encode year ${year} in a certificate`);
  const utc = year >= 1950 && year < 2050;
  out[offset++] = utc ? TAG.UTC_TIME : TAG.GENERALIZED_TIME;
  out[offset++] = utc ? 13 : 15;
  if (!utc) offset = writeTwoDigits(out, offset, Math.floor(year / 100));
  offset = writeTwoDigits(out, offset, year % 100);
  offset = writeTwoDigits(out, offset, date.getUTCMonth() + 1);
  offset = writeTwoDigits(out, offset, date.getUTCDate());
  offset = writeTwoDigits(out, offset, date.getUTCHours());
  offset = writeTwoDigits(out, offset, date.getUTCMinutes());
  offset = writeTwoDigits(out, offset, date.getUTCSeconds());
  out[offset++] = 0x5a; // "Z"
  return offset;
}

function writeTwoDigits(out: Uint8Array, offset: number, value: number): number {
  out[offset] = 0x30 + Math.floor(value / 10);
  out[offset + 1] = 0x30 + (value % 10);
  return offset + 2;
}

export function time(date: Date): Uint8Array {
  const out = Buffer.allocUnsafe(timeSize(date));
  writeTime(out, 0, date);
  return out;
}

// ---------------------------------------------------------------------------------------
// Reader

/** One decoded TLV: views into the input, never copies. */
export interface Tlv {
  tag: number;
  /** The whole encoding: identifier, length and content octets. */
  raw: Uint8Array;
  /** The content octets. */
  value: Uint8Array;
}

/**
 * A strict DER reader. Every failure is a PkiError bad_encoding whose message starts
 * "Cannot parse <what>:", so callers get a message naming the object and the problem.
 */
export class DerReader {
  constructor(readonly what: string) {}

  fail(reason: string): never {
    throw new PkiError("bad_encoding", `Cannot parse ${this.what}: ${reason}`);
  }

  /** Exactly one TLV spanning all of `input`. */
  parse(input: Uint8Array): Tlv {
    if (input.length === 0) this.fail("empty input");
    const item = this.readAt(input, 0);
    if (item.raw.length !== input.length) this.fail(`${input.length - item.raw.length} trailing bytes after the DER value`);
    return item;
  }

  /** The TLV starting at `offset` of `input`, which must fit inside `input`. */
  readAt(input: Uint8Array, offset: number): Tlv {
    if (offset + 2 > input.length) this.fail("truncated DER (no room for tag and length)");
    const tag = input[offset] as number;
    // Tag numbers >= 31 use the multi-byte form; nothing in X.509 needs them.
    if ((tag & 0x1f) === 0x1f) this.fail(`unsupported high tag number form at offset ${offset}`);
    const first = input[offset + 1] as number;
    let length: number;
    let headerEnd = offset + 2;
    if (first < 0x80) {
      length = first;
    } else {
      const count = first & 0x7f;
      if (count === 0) this.fail(`indefinite length at offset ${offset} is not DER`);
      if (count > 4) this.fail(`length of ${count} octets at offset ${offset} is too large`);
      if (headerEnd + count > input.length) this.fail("truncated DER (length octets cut off)");
      if (input[headerEnd] === 0) this.fail(`non-minimal length at offset ${offset}`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (input[headerEnd + i] as number);
      // X.690 §10.1: the short form is mandatory below 128.
      if (length < 0x80) this.fail(`non-minimal length at offset ${offset}`);
      headerEnd += count;
    }
    const end = headerEnd + length;
    if (end > input.length) this.fail(`truncated DER (value at offset ${offset} needs ${length} bytes, ${input.length - headerEnd} left)`);
    return { tag, raw: input.subarray(offset, end), value: input.subarray(headerEnd, end) };
  }

  /** The children of a constructed TLV, in order. */
  children(parent: Tlv): Tlv[] {
    if (!(parent.tag & CONSTRUCTED)) this.fail(`expected a constructed value, found tag 0x${hex(parent.tag)}`);
    const items: Tlv[] = [];
    for (let offset = 0; offset < parent.value.length;) {
      const item = this.readAt(parent.value, offset);
      items.push(item);
      offset += item.raw.length;
    }
    return items;
  }

  /** Checks the tag of `item` (which may be absent), naming `field` on failure. */
  expect(item: Tlv | undefined, tag: number, field: string): Tlv {
    if (!item) this.fail(`missing ${field}`);
    if (item.tag !== tag) this.fail(`${field}: expected tag 0x${hex(tag)}, found 0x${hex(item.tag)}`);
    return item;
  }

  /** Children of a SEQUENCE (or other constructed tag) checked for tag and count bounds. */
  sequence(item: Tlv | undefined, field: string, min = 0, max = Infinity, tag: number = TAG.SEQUENCE): Tlv[] {
    const items = this.children(this.expect(item, tag, field));
    if (items.length < min || items.length > max) this.fail(`${field}: unexpected number of elements (${items.length})`);
    return items;
  }

  oid(item: Tlv | undefined, field: string): string {
    const value = this.expect(item, TAG.OID, field).value;
    if (value.length === 0 || ((value[value.length - 1] as number) & 0x80) !== 0) this.fail(`${field}: malformed OID`);
    const arcs: string[] = [];
    let current = 0n;
    let start = true;
    for (const byte of value) {
      if (start && byte === 0x80) this.fail(`${field}: non-minimal OID subidentifier`);
      current = (current << 7n) | BigInt(byte & 0x7f);
      start = (byte & 0x80) === 0;
      if (start) {
        if (arcs.length === 0) {
          const first = current < 80n ? current / 40n : 2n;
          arcs.push(first.toString(), (current - first * 40n).toString());
        } else {
          arcs.push(current.toString());
        }
        current = 0n;
      }
    }
    return arcs.join(".");
  }

  /** INTEGER content octets, checked minimal (X.690 §8.3.2). */
  integer(item: Tlv | undefined, field: string): Uint8Array {
    const value = this.expect(item, TAG.INTEGER, field).value;
    if (value.length === 0) this.fail(`${field}: empty INTEGER`);
    if (value.length > 1) {
      const redundant =
        (value[0] === 0 && ((value[1] as number) & 0x80) === 0) || (value[0] === 0xff && ((value[1] as number) & 0x80) !== 0);
      if (redundant) this.fail(`${field}: non-minimal INTEGER`);
    }
    return value;
  }

  /** A small non-negative INTEGER as a number. */
  smallInteger(item: Tlv | undefined, field: string): number {
    const value = this.integer(item, field);
    if (((value[0] as number) & 0x80) !== 0 || value.length > 6) this.fail(`${field}: integer out of range`);
    let result = 0;
    for (const byte of value) result = result * 256 + byte;
    return result;
  }

  /** BIT STRING content without the unused-bits octet; only whole octets are accepted. */
  bitStringBytes(item: Tlv | undefined, field: string): Uint8Array {
    const value = this.expect(item, TAG.BIT_STRING, field).value;
    if (value.length === 0) this.fail(`${field}: empty BIT STRING`);
    if (value[0] !== 0) this.fail(`${field}: BIT STRING with unused bits`);
    return value.subarray(1);
  }

  octetString(item: Tlv | undefined, field: string): Uint8Array {
    return this.expect(item, TAG.OCTET_STRING, field).value;
  }

  /** DER BOOLEAN: one octet, 0x00 or 0xFF (X.690 §11.1). */
  boolean(item: Tlv | undefined, field: string): boolean {
    const value = this.expect(item, TAG.BOOLEAN, field).value;
    if (value.length !== 1 || (value[0] !== 0 && value[0] !== 0xff)) this.fail(`${field}: malformed BOOLEAN`);
    return value[0] === 0xff;
  }
}

function hex(tag: number): string {
  return tag.toString(16).padStart(2, "0");
}
