import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AppError } from "./errors.js";
import { CONFIG_FILE } from "./config.js";

/** Where one dpki instance keeps its database, encrypted keys and config. */
export interface DataDir {
  root: string;
  database: string;
  keys: string;
  devPassphrase: string;
}

export const DEFAULT_DATA_DIR = ".dpki";

export function dataDirAt(path: string | undefined): DataDir {
  const root = resolve(path ?? process.env.DPKI_HOME ?? DEFAULT_DATA_DIR);
  return {
    root,
    database: join(root, "dpki.db"),
    keys: join(root, "keys"),
    devPassphrase: join(root, "dev-passphrase"),
  };
}

export function ensureDataDir(dir: DataDir): void {
  mkdirSync(dir.root, { recursive: true, mode: 0o700 });
  mkdirSync(dir.keys, { recursive: true, mode: 0o700 });
}

export function isInitialised(dir: DataDir): boolean {
  return existsSync(dir.database);
}

/**
 * The CA key passphrase, from (in order) an explicit file, DPKI_PASSPHRASE, or the
 * development passphrase `dpki init --dev` wrote. Never echoed anywhere.
 */
export function resolvePassphrase(dir: DataDir, passphraseFile?: string): string {
  if (passphraseFile) return readPassphraseFile(passphraseFile);
  const env = process.env.DPKI_PASSPHRASE;
  if (env) return env;
  if (existsSync(dir.devPassphrase)) return readPassphraseFile(dir.devPassphrase);
  throw new AppError("key_unavailable", "No CA passphrase: set DPKI_PASSPHRASE or pass --passphrase-file FILE");
}

function readPassphraseFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new AppError("key_unavailable", `Cannot read passphrase file ${file}`);
  }
  const passphrase = text.replace(/\r?\n$/, "");
  if (passphrase.length === 0) throw new AppError("key_unavailable", `Passphrase file ${file} is empty`);
  return passphrase;
}

/** Whether `dpki init` wrote the directory's config (what a PostgreSQL installation keeps here besides its keys). */
export function hasConfig(dir: DataDir): boolean {
  return existsSync(join(dir.root, CONFIG_FILE));
}
