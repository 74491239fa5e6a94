import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { openServices, type Services } from "../src/app.js";
import { DEFAULT_CONFIG } from "../src/config.js";
import { inFlight } from "./load.js";
import type { Row } from "./table.js";

/** Debian's softhsm2 module; the suite is skipped where it (or softhsm2-util) is missing. */
const MODULE = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL = "dpki-bench";
const PIN = "bench-pin-4711";
const SESSIONS = 4;

export interface HsmBenchResult {
  rows: Row[];
  /** Raw C_Sign rate of the token (P-256), the best of its rows. */
  raw: number;
  /** Best issuance rate with the issuing key in the token. */
  hsm: number;
  /** Best issuance rate with the issuing key in a file, same run. */
  file: number;
  skipped?: string;
}

/**
 * Issuance with the issuing key in a SoftHSM2 token, next to the token's raw PKCS#11 sign rate
 * (pkcs11js straight, no dpki code, the same session count) and to issuance with file keys, in
 * the same process and run. The raw rate is the ceiling of what a token-backed CA can sign.
 */
export async function benchHsm(csrs: string[], seconds = 4): Promise<HsmBenchResult> {
  if (!existsSync(MODULE) || spawnSync("softhsm2-util", ["--version"]).status !== 0) {
    return { rows: [], raw: 0, hsm: 0, file: 0, skipped: "softhsm2 is not installed (apt-get install softhsm2)" };
  }
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-hsm-"));
  try {
    mkdirSync(join(dir, "tokens"));
    writeFileSync(
      join(dir, "softhsm2.conf"),
      `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    // SoftHSM2 reads its config when the module is initialised: before anything in this process loads it.
    process.env.SOFTHSM2_CONF = join(dir, "softhsm2.conf");
    const init = spawnSync("softhsm2-util", ["--init-token", "--free", "--label", LABEL, "--so-pin", "bench-so-pin", "--pin", PIN], {
      encoding: "utf8",
    });
    if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr}`);

    const rows: Row[] = [];
    const raw = await rawSignRate(seconds, rows);
    const request = (i: number) => ({ csr: csrs[i % csrs.length]!, profile: "device", actor: "bench" });
    const issue = async (name: string, services: Services): Promise<number> => {
      let best = 0;
      for (const concurrency of [1, 64]) {
        const r = await inFlight(concurrency, seconds, (i) => services.issuance.issue(request(i)));
        best = Math.max(best, r.throughput);
        rows.push({ case: `issue in-process, ${name}, ${concurrency} in flight`, ...r });
      }
      return best;
    };

    process.env.DPKI_PKCS11_PIN = PIN;
    const hsmServices = openServices({
      dataDir: join(dir, "hsm"),
      passphrase: "bench",
      keyIterations: 1000,
      create: true,
      workers: true,
      config: { ...DEFAULT_CONFIG, keyProvider: "pkcs11", pkcs11: { module: MODULE, tokenLabel: LABEL, sessions: SESSIONS } },
    });
    let hsm: number;
    try {
      await hsmServices.ca.init({ algorithm: "P-256", organization: "Bench HSM", actor: "bench" });
      hsm = await issue(`issuing key in SoftHSM2 (${SESSIONS} sessions)`, hsmServices);
    } finally {
      await hsmServices.close();
      delete process.env.DPKI_PKCS11_PIN;
    }

    const fileServices = openServices({
      dataDir: join(dir, "file"),
      passphrase: "bench",
      keyIterations: 1000,
      create: true,
      workers: true,
    });
    let file: number;
    try {
      await fileServices.ca.init({ algorithm: "P-256", organization: "Bench file", actor: "bench" });
      file = await issue("issuing key in a file (worker threads)", fileServices);
    } finally {
      await fileServices.close();
    }
    return { rows, raw, hsm, file };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** C_SignInit + C_Sign (async) of a SHA-256 digest with a P-256 token key, one operation per session. */
async function rawSignRate(seconds: number, rows: Row[]): Promise<number> {
  const lib = new pkcs11js.PKCS11();
  lib.load(MODULE);
  lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === LABEL)!;
    const flags = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;
    const login = lib.C_OpenSession(slot, flags);
    lib.C_Login(login, pkcs11js.CKU_USER, PIN);
    const { privateKey } = lib.C_GenerateKeyPair(
      login,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from("06082a8648ce3d030107", "hex") },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
    );
    const digest = createHash("sha256").update("a TBSCertificate").digest();
    let best = 0;
    for (const [sessions, concurrency] of [
      [1, 1],
      [SESSIONS, 64],
    ] as const) {
      const idle = Array.from({ length: sessions }, () => lib.C_OpenSession(slot, flags));
      const waiting: Array<(s: Buffer) => void> = [];
      const acquire = () => new Promise<Buffer>((got) => (idle.length ? got(idle.pop()!) : waiting.push(got)));
      const release = (s: Buffer) => (waiting.length ? waiting.shift()!(s) : idle.push(s));
      const r = await inFlight(concurrency, seconds, async () => {
        const session = await acquire();
        try {
          lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
          await lib.C_SignAsync(session, digest, Buffer.alloc(64));
        } finally {
          release(session);
        }
      });
      best = Math.max(best, r.throughput);
      rows.push({ case: `raw PKCS#11 sign (pkcs11js, P-256 digest), ${sessions} session(s), ${concurrency} in flight`, ...r });
      for (const s of idle) lib.C_CloseSession(s);
    }
    lib.C_CloseSession(login);
    return best;
  } finally {
    // Finalised before dpki opens the module in this process: C_Initialize runs once per process at a time.
    lib.C_Finalize();
    lib.close();
  }
}
