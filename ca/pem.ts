/** PEM armour (RFC 7468) around DER, strict on the way in. */
import { PkiError } from "./pki-error.js";

/** RFC 7468 §2: base64 lines of 64 characters between BEGIN/END lines, ending in a newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export interface PemDecodeOptions {
  /** Labels accepted, e.g. ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]. */
  labels: readonly string[];
  /** What is being parsed, for error messages ("Cannot parse <what>: …"). */
  what: string;
}

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END ([A-Z0-9 ]+)-----$/;

/**
 * Decodes exactly one PEM block; whitespace around it is allowed, anything else (a second
 * block, explanatory text, headers, non-base64 characters) is refused as bad_encoding.
 */
export function pemDecode(text: string, options: PemDecodeOptions): { label: string; der: Uint8Array } {
  const fail = (reason: string): never => {
    throw new PkiError("bad_encoding", `Cannot parse ${options.what}: ${reason}`);
  };
  const match = PEM_BLOCK.exec(text.trim());
  if (!match) fail("not a single PEM block (bad or missing BEGIN/END armour)");
  const [, label, body, endLabel] = match as unknown as [string, string, string, string];
  if (body.includes("-----")) fail("more than one PEM block");
  if (label !== endLabel) fail(`PEM BEGIN label "${label}" does not match END label "${endLabel}"`);
  if (!options.labels.includes(label))
    fail(`unexpected PEM label "${label}" (expected ${options.labels.map((l) => `"${l}"`).join(" or ")})`);
  const base64 = body.replace(/[ \t\r\n]+/g, "");
  if (base64.length === 0 || base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) fail("PEM body is not valid base64");
  return { label, der: Buffer.from(base64, "base64") };
}
