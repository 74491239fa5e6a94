import { userInfo } from "node:os";
import type { KeyAlgorithm } from "../../ca/key-algorithm.js";
import { openServices } from "../../src/app.js";
import { DEFAULT_CONFIG, writeConfig } from "../../src/config.js";

/** PBKDF2 iterations for the CA keys of test data directories; private-key.test.ts covers the default. */
export const TEST_KEY_ITERATIONS = 1_000;

export interface InitOptions {
  passphrase: string;
  /** `dpki init --org` */
  org?: string;
  /** `dpki init --public-url` */
  publicUrl?: string;
  /** `dpki init --algorithm` */
  algorithm?: KeyAlgorithm;
}

/**
 * Leaves `home` as `dpki init` does (the same steps as its initDataDir: a root and an issuing
 * CA, their log entries by cli:<user>, config.json), but made in this process and with cheap CA
 * key encryption. CLI tests that are not about init start here: a spawned `dpki init` costs a
 * process start and two 600,000-round PBKDF2 encryptions, and every later command that signs
 * pays one more to open the key. The tests whose subject is init run the real command.
 */
export async function initDataDir(home: string, options: InitOptions): Promise<void> {
  const services = openServices({ dataDir: home, passphrase: options.passphrase, keyIterations: TEST_KEY_ITERATIONS, create: true });
  try {
    await services.ca.init({
      algorithm: options.algorithm ?? "P-256",
      organization: options.org ?? "dpki",
      actor: `cli:${userInfo().username}`,
    });
    writeConfig(home, { ...DEFAULT_CONFIG, publicUrl: options.publicUrl ?? DEFAULT_CONFIG.publicUrl });
  } finally {
    await services.close();
  }
}
