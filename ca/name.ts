/**
 * X.501 distinguished names: encode from, and parse to, the plain NameAttribute list.
 * dpki writes one attribute per RDN, in the order given; parsing flattens multi-valued
 * RDNs in encoded order.
 */
import {
  DerReader,
  TAG,
  ia5String,
  isIa5String,
  isPrintableString,
  oid,
  printableString,
  sequence,
  setOf,
  utf8String,
  type Tlv,
} from "./der.js";
import { OID } from "./oids.js";
import { PkiError } from "./pki-error.js";
import type { NameAttribute } from "./x509-types.js";

const SHORT_NAMES: ReadonlyMap<string, string> = new Map([
  [OID.commonName, "CN"],
  [OID.organizationName, "O"],
  [OID.organizationalUnitName, "OU"],
  [OID.countryName, "C"],
  [OID.stateOrProvinceName, "ST"],
  [OID.localityName, "L"],
  [OID.serialNumber, "serialNumber"],
  [OID.emailAddress, "emailAddress"],
  [OID.domainComponent, "DC"],
  [OID.userId, "UID"],
]);

/** DER Name with one attribute per RDN, in order. An empty list gives the empty Name. */
export function encodeName(attrs: readonly NameAttribute[]): Uint8Array {
  return sequence(...attrs.map((attr) => setOf(sequence(oid(attr.oid), encodeValue(attr)))));
}

/**
 * RFC 5280 §4.1.2.4 wants UTF8String for new names, with fixed exceptions: countryName is
 * a PrintableString (X.520), serialNumber is PrintableString by its definition (used here
 * when the value allows it), emailAddress and domainComponent are IA5String (RFC 5280
 * Appendix A, RFC 4519).
 */
function encodeValue(attr: NameAttribute): Uint8Array {
  switch (attr.tag ?? defaultTag(attr)) {
    case TAG.UTF8_STRING:
      return utf8String(attr.value);
    case TAG.PRINTABLE_STRING:
      return printableString(attr.value);
    case TAG.IA5_STRING:
      return ia5String(attr.value);
    default:
      throw new PkiError("invalid_argument", `Cannot encode name attribute ${attr.oid} with string tag ${attr.tag}`);
  }
}

function defaultTag(attr: NameAttribute): number {
  switch (attr.oid) {
    case OID.countryName:
      return TAG.PRINTABLE_STRING;
    case OID.serialNumber:
      return isPrintableString(attr.value) ? TAG.PRINTABLE_STRING : TAG.UTF8_STRING;
    case OID.emailAddress:
    case OID.domainComponent:
      return TAG.IA5_STRING;
    default:
      return TAG.UTF8_STRING;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf16be = new TextDecoder("utf-16be", { fatal: true });

/** Parses a DER Name; `what` names the enclosing object in error messages. */
export function parseName(der: Uint8Array, what = "name"): NameAttribute[] {
  const reader = new DerReader(what);
  return parseNameTlv(reader, reader.parse(der));
}

/** Parses a Name already located by `reader` (e.g. inside a CSR). */
export function parseNameTlv(reader: DerReader, name: Tlv): NameAttribute[] {
  const attrs: NameAttribute[] = [];
  for (const rdn of reader.sequence(name, "Name")) {
    for (const atv of reader.sequence(rdn, "RelativeDistinguishedName", 1, Infinity, TAG.SET)) {
      const [type, value] = reader.sequence(atv, "AttributeTypeAndValue", 2, 2);
      const dotted = reader.oid(type, "attribute type");
      const attr: NameAttribute = { oid: dotted, value: decodeString(reader, value!, dotted), tag: value!.tag };
      const shortName = SHORT_NAMES.get(dotted);
      if (shortName) attr.shortName = shortName;
      attrs.push(attr);
    }
  }
  return attrs;
}

function decodeString(reader: DerReader, value: Tlv, dotted: string): string {
  try {
    switch (value.tag) {
      case TAG.UTF8_STRING:
        return utf8.decode(value.value);
      case TAG.PRINTABLE_STRING:
      case TAG.IA5_STRING: {
        const text = Buffer.from(value.value).toString("latin1");
        const valid = value.tag === TAG.PRINTABLE_STRING ? isPrintableString(text) : isIa5String(text);
        if (!valid) reader.fail(`attribute ${dotted}: characters outside the string type's alphabet`);
        return text;
      }
      case TAG.TELETEX_STRING: // in practice Latin-1, as OpenSSL treats it
        return Buffer.from(value.value).toString("latin1");
      case TAG.BMP_STRING:
        return utf16be.decode(value.value);
      case TAG.UNIVERSAL_STRING:
        return decodeUtf32be(reader, value.value, dotted);
    }
  } catch (error) {
    if (error instanceof PkiError) throw error;
    reader.fail(`attribute ${dotted}: invalid character encoding`);
  }
  return reader.fail(`attribute ${dotted}: unsupported string tag 0x${value.tag.toString(16)}`);
}

function decodeUtf32be(reader: DerReader, bytes: Uint8Array, dotted: string): string {
  if (bytes.length % 4) reader.fail(`attribute ${dotted}: UniversalString length is not a multiple of 4`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const points: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) points.push(view.getUint32(i));
  return String.fromCodePoint(...points);
}

/**
 * One-line display form, OpenSSL style and in encoded order: "CN=x, O=y". Special
 * characters are backslash-escaped as in RFC 4514 §2.4 so the string stays unambiguous.
 */
export function formatName(attrs: readonly NameAttribute[]): string {
  return attrs.map((attr) => `${attr.shortName ?? SHORT_NAMES.get(attr.oid) ?? attr.oid}=${escapeValue(attr.value)}`).join(", ");
}

function escapeValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (ch) => `\\${ch}`)
    .replace(/^[ #]/, (ch) => `\\${ch}`)
    .replace(/ $/, "\\ ")
    .replace(/[\x00-\x1f\x7f]/g, (ch) => `\\${ch.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
