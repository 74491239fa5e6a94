import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { AppError } from "../src/errors.js";

/**
 * The passphrase the offline root key file is encrypted under: --root-passphrase-file, else
 * DPKI_ROOT_PASSPHRASE. Kept apart from the CA passphrase, which the online service holds.
 */
export function rootPassphrase(file: string | undefined): string {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new AppError("key_unavailable", `Cannot read the root passphrase file ${file}`);
    }
    const passphrase = text.replace(/\r?\n$/, "");
    if (passphrase.length === 0) throw new AppError("key_unavailable", `The root passphrase file ${file} is empty`);
    return passphrase;
  }
  const env = process.env.DPKI_ROOT_PASSPHRASE;
  if (env) return env;
  throw new AppError("key_unavailable", "No root key passphrase: set DPKI_ROOT_PASSPHRASE or pass --root-passphrase-file FILE");
}

/** Writes the encrypted root key 0600, refusing to replace a file, flushed before the CA that depends on it is stored. */
export function writeRootKeyFile(path: string, pem: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AppError(
      code === "EEXIST" ? "already_exists" : "invalid_argument",
      code === "EEXIST" ? `${path} already exists; refusing to overwrite a key file` : `Cannot write ${path}: ${code ?? "error"}`,
    );
  }
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The root key file brought to the offline machine. */
export function readRootKeyFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new AppError("not_found", `Cannot read the root key file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}
