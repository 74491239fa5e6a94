/**
 * GeneralName (RFC 5280 §4.2.1.6) for the four kinds dpki issues: dNSName, iPAddress,
 * uniformResourceIdentifier and rfc822Name. Shared by the certificate encoder and the CSR parser.
 */
import { isIP } from "node:net";
import { DerReader, implicit, isIa5String, sequence, type Tlv } from "./der.js";
import { PkiError } from "./pki-error.js";
import type { SubjectAltName } from "./x509-types.js";

// Context tag numbers of the GeneralName CHOICE.
const RFC822_NAME = 1;
const DNS_NAME = 2;
const URI = 6;
const IP_ADDRESS = 7;

const OTHER_KINDS: Record<number, string> = { 0: "otherName", 3: "x400Address", 4: "directoryName", 5: "ediPartyName", 8: "registeredID" };

/** One GeneralName. The IA5String kinds are IMPLICIT, so only the tag changes. */
export function encodeGeneralName(name: SubjectAltName): Uint8Array {
  switch (name.type) {
    case "dns":
      return implicitIa5(DNS_NAME, name.value, "DNS name");
    case "email":
      return implicitIa5(RFC822_NAME, name.value, "email address");
    case "uri":
      return implicitIa5(URI, name.value, "URI");
    case "ip":
      return implicit(IP_ADDRESS, encodeIpAddress(name.value));
    default:
      throw new PkiError("invalid_argument", `Cannot encode subject alternative name of type ${(name as { type: string }).type}`);
  }
}

export function encodeGeneralNames(names: readonly SubjectAltName[]): Uint8Array {
  return sequence(...names.map(encodeGeneralName));
}

function implicitIa5(tagNumber: number, value: string, what: string): Uint8Array {
  // IA5String is ASCII: internationalized names must arrive as A-labels (RFC 5280 §7.2).
  if (!isIa5String(value)) throw new PkiError("invalid_argument", `Cannot encode ${what} "${value}": not ASCII`);
  return implicit(tagNumber, Buffer.from(value, "latin1"));
}

/** Parses GeneralNames, refusing kinds dpki cannot represent (a profile could not check them). */
export function parseGeneralNames(reader: DerReader, names: Tlv): SubjectAltName[] {
  const result: SubjectAltName[] = [];
  for (const name of reader.sequence(names, "GeneralNames", 1)) {
    const tagNumber = name.tag & 0x1f;
    const primitiveContext = (name.tag & 0xe0) === 0x80;
    if (!primitiveContext || !(tagNumber in OTHER_KINDS || [RFC822_NAME, DNS_NAME, URI, IP_ADDRESS].includes(tagNumber))) {
      reader.fail(`malformed GeneralName with tag 0x${name.tag.toString(16)}`);
    }
    const text = () => {
      const value = Buffer.from(name.value).toString("latin1");
      if (!isIa5String(value)) reader.fail("GeneralName: characters outside IA5String");
      return value;
    };
    switch (tagNumber) {
      case DNS_NAME:
        result.push({ type: "dns", value: text() });
        break;
      case RFC822_NAME:
        result.push({ type: "email", value: text() });
        break;
      case URI:
        result.push({ type: "uri", value: text() });
        break;
      case IP_ADDRESS:
        result.push({ type: "ip", value: formatIpAddress(reader, name.value) });
        break;
      default:
        throw new PkiError(
          "profile_violation",
          `Cannot parse ${reader.what}: subject alternative names of kind ${OTHER_KINDS[tagNumber]} are not supported`,
        );
    }
  }
  return result;
}

/** 4 octets for IPv4, 16 for IPv6 (RFC 5280 §4.2.1.6); zone ids have no encoding. */
export function encodeIpAddress(text: string): Uint8Array {
  const version = isIP(text);
  if (version === 4) return Uint8Array.from(text.split(".").map(Number));
  if (version === 6 && !text.includes("%")) return parseIpv6(text);
  throw new PkiError("invalid_argument", `Cannot encode IP address "${text}"`);
}

function parseIpv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const [head, tail] = text.split("::") as [string, string | undefined];
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    const result: number[] = [];
    for (const group of part.split(":")) {
      if (group.includes(".")) {
        const v4 = group.split(".").map(Number) as [number, number, number, number];
        result.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        result.push(parseInt(group, 16));
      }
    }
    return result;
  };
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}

/** Dotted quad, or RFC 5952 text for IPv6 (lowercase, longest zero run compressed). */
function formatIpAddress(reader: DerReader, bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) reader.fail(`iPAddress of ${bytes.length} octets`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
