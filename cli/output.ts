import { ERROR_TABLE } from "../src/errors.js";
import { toAppError } from "../src/errors.js";

/** Column of a human-readable table: a header and how to get the cell text from a row. */
export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/**
 * Stored names, descriptions and subjects come from API callers and CSRs: printed raw, an ESC
 * sequence or a CR could rewrite the operator's terminal or forge a table row. Human output shows
 * control characters (C0, DEL, C1) and bidirectional overrides escaped; --json stays exact.
 */
export function escapeControls(text: string, keepNewlines = false): string {
  return text.replace(UNSAFE, (ch) => {
    if (keepNewlines && ch === "\n") return ch;
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => escapeControls(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join("\n") + "\n";
}

/** "key: value" lines for one object, keys aligned. */
export function formatRecord(pairs: ReadonlyArray<[string, string | number | null | undefined]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return (
    pairs.map(([k, v]) => `${(k + ":").padEnd(width + 1)} ${v === null || v === undefined ? "-" : escapeControls(String(v))}`).join("\n") +
    "\n"
  );
}

export interface Output {
  json: boolean;
  /** Prints `data` as JSON under --json, else the human form. */
  print(data: unknown, human: () => string): void;
  /** Progress and notes go to stderr so stdout stays clean for pipes. */
  note(text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    print(data, human) {
      process.stdout.write(json ? JSON.stringify(data, null, 2) + "\n" : escapeControls(human(), true));
    },
    note(text) {
      process.stderr.write(escapeControls(text, true) + "\n");
    },
  };
}

/** Reports an error on stderr (JSON under --json) and returns the exit code its code maps to. */
export function reportError(err: unknown, json: boolean): number {
  const e = toAppError(err);
  if (e.code === "internal" && process.env.DPKI_DEBUG) process.stderr.write(String((err as Error)?.stack ?? err) + "\n");
  if (json)
    process.stderr.write(JSON.stringify({ error: { code: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) } }) + "\n");
  else process.stderr.write(`dpki: ${escapeControls(e.message)}\n`);
  return ERROR_TABLE[e.code].exit;
}

export function shortDate(iso: string): string {
  return iso.replace("T", " ").replace(/\.\d{3}Z$/, "Z");
}
