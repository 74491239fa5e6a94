import { readFileSync, writeFileSync } from "node:fs";
import { AppError } from "../src/errors.js";

/** Reads a file, or standard input for "-". */
export function readInput(path: string): Buffer {
  try {
    return readFileSync(path === "-" ? 0 : path);
  } catch (err) {
    throw new AppError(
      "not_found",
      `Cannot read ${path === "-" ? "standard input" : path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
}

/** A CSR file as the Operations interface carries it: PEM text as is, DER as base64. */
export function csrText(bytes: Buffer): string {
  const text = bytes.toString("latin1");
  return text.includes("-----BEGIN") ? text : bytes.toString("base64");
}

export function writeOutput(path: string, data: string | Uint8Array, mode = 0o644): void {
  try {
    writeFileSync(path, data, { mode });
  } catch (err) {
    throw new AppError("invalid_argument", `Cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}
