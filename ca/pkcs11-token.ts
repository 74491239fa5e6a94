import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import type * as pkcs11js from "pkcs11js";
import { pkcs11 } from "./pkcs11-module.js";
import { PkiError } from "./pki-error.js";

type Lib = pkcs11js.PKCS11;
export type Pkcs11Handle = Buffer;

export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 module (a shared library, e.g. SoftHSM2's libsofthsm2.so). */
  module: string;
  /** The token's label, as `softhsm2-util --show-slots` or `pkcs11-tool --list-token-slots` print it. */
  tokenLabel: string;
  /** The user PIN. Held in a private field, never written into a message. */
  pin: string;
  /** How many sessions sign at once (each runs one operation at a time); 4 when absent. */
  sessions?: number;
}

const DEFAULT_SESSIONS = 4;
const sessionFlags = () => pkcs11().CKF_SERIAL_SESSION | pkcs11().CKF_RW_SESSION;

/**
 * After one of these the process's sessions or object handles on the token are gone (token
 * pulled, module reset, login lost): the next operation reconnects and logs in again instead of
 * failing for ever.
 */
let connectionLost: Set<number> | undefined;
const connectionLostCodes = () =>
  (connectionLost ??= new Set<number>([
    pkcs11().CKR_SESSION_HANDLE_INVALID,
    pkcs11().CKR_SESSION_CLOSED,
    pkcs11().CKR_DEVICE_REMOVED,
    pkcs11().CKR_DEVICE_ERROR,
    pkcs11().CKR_TOKEN_NOT_PRESENT,
    pkcs11().CKR_TOKEN_NOT_RECOGNIZED,
    pkcs11().CKR_USER_NOT_LOGGED_IN,
    pkcs11().CKR_KEY_HANDLE_INVALID,
    pkcs11().CKR_OBJECT_HANDLE_INVALID,
    pkcs11().CKR_CRYPTOKI_NOT_INITIALIZED,
  ]));

/** C_Initialize may run once per process and module, so every token on one module shares one loaded copy. */
const modules = new Map<string, { lib: Lib; users: number }>();

function acquireModule(path: string): Lib {
  const held = modules.get(path);
  if (held) {
    held.users++;
    return held.lib;
  }
  if (!existsSync(path)) throw new PkiError("key_unavailable", `Cannot load PKCS#11 module ${path}: no such file`);
  const lib = new (pkcs11().PKCS11)();
  try {
    lib.load(path);
  } catch (err) {
    throw new PkiError("key_unavailable", `Cannot load PKCS#11 module ${path}: ${firstLine(err)}`);
  }
  try {
    // CKF_OS_LOCKING_OK: sessions sign on several libuv threads at once, so the module must lock.
    lib.C_Initialize({ flags: pkcs11().CKF_OS_LOCKING_OK });
  } catch (err) {
    if (ckrCode(err) !== pkcs11().CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw new PkiError("key_unavailable", `Cannot initialise PKCS#11 module ${path}: ${ckrName(err)}`);
    }
  }
  modules.set(path, { lib, users: 1 });
  return lib;
}

/** The PIN each token of this process was logged in with (module and label), to check later logins against. */
const loggedIn = new Map<string, string>();

function samePin(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

function releaseModule(path: string): void {
  const held = modules.get(path);
  if (!held || --held.users > 0) return;
  modules.delete(path);
  for (const key of loggedIn.keys()) if (key.startsWith(`${path}\0`)) loggedIn.delete(key);
  try {
    held.lib.C_Finalize();
  } finally {
    held.lib.close();
  }
}

interface Connection {
  slot: Pkcs11Handle;
  /** Kept open for the life of the connection: the login lasts as long as one session does. */
  login: Pkcs11Handle;
  idle: Pkcs11Handle[];
  /** Operation sessions open (idle or in use). */
  open: number;
}

/**
 * One logged-in token and a pool of sessions on it. A PKCS#11 session runs one operation at a
 * time (a second C_SignInit gets CKR_OPERATION_ACTIVE), so parallel signing takes a session each:
 * `operate` lends one out and queues callers when all are busy. Object management (find, read
 * attributes) is quick and synchronous and runs on the login session.
 */
export class Pkcs11Token {
  readonly module: string;
  readonly label: string;
  readonly #pin: string;
  readonly #lib: Lib;
  readonly #maxSessions: number;
  #connection: Connection | undefined;
  #generation = 0;
  #waiters: Array<() => void> = [];
  #closed = false;

  /** Loads the module, finds the token and logs in, so a bad setting fails here, at start-up. */
  constructor(options: Pkcs11TokenOptions) {
    if (options.pin.length === 0)
      throw new PkiError("key_unavailable", `Cannot log in to PKCS#11 token "${options.tokenLabel}": the PIN is empty`);
    const sessions = options.sessions ?? DEFAULT_SESSIONS;
    if (!Number.isInteger(sessions) || sessions < 1 || sessions > 256) {
      throw new PkiError(
        "invalid_argument",
        `Cannot use PKCS#11 token "${options.tokenLabel}": sessions must be 1 to 256, not ${sessions}`,
      );
    }
    this.module = options.module;
    this.label = options.tokenLabel;
    this.#pin = options.pin;
    this.#maxSessions = sessions;
    this.#lib = acquireModule(options.module);
    try {
      this.#connection = this.#connect();
    } catch (err) {
      releaseModule(options.module);
      throw err;
    }
  }

  /** Bumped on every (re)connection: object handles found under an older one must be looked up again. */
  get generation(): number {
    this.#ensure();
    return this.#generation;
  }

  /** Synchronous object management (C_FindObjects, C_GetAttributeValue) on the logged-in session. */
  manage<T>(fn: (lib: Lib, session: Pkcs11Handle) => T): T {
    const connection = this.#ensure();
    try {
      return fn(this.#lib, connection.login);
    } catch (err) {
      this.#noteFailure(err);
      throw err;
    }
  }

  /** One operation (sign, generate) on a session of its own; waits for one when all are busy. */
  async operate<T>(fn: (lib: Lib, session: Pkcs11Handle) => Promise<T>): Promise<T> {
    const [connection, session] = await this.#acquire();
    try {
      return await fn(this.#lib, session);
    } catch (err) {
      this.#noteFailure(err);
      throw err;
    } finally {
      this.#release(connection, session);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    releaseModule(this.module);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #ensure(): Connection {
    if (this.#closed) throw new PkiError("key_unavailable", `PKCS#11 token "${this.label}" is closed`);
    return (this.#connection ??= this.#connect());
  }

  #connect(): Connection {
    const lib = this.#lib;
    const slot = this.#findSlot();
    let login: Pkcs11Handle;
    try {
      login = lib.C_OpenSession(slot, sessionFlags());
    } catch (err) {
      throw new PkiError("key_unavailable", `Cannot open a session on PKCS#11 token "${this.label}": ${ckrName(err)}`);
    }
    const loginKey = `${this.module}\0${this.label}`;
    try {
      lib.C_Login(login, pkcs11().CKU_USER, this.#pin);
      loggedIn.set(loginKey, this.#pin);
    } catch (err) {
      // Login state belongs to the process: another token object here may have logged in already.
      // The token cannot check this PIN then, so it must be the one that logged in.
      const known = loggedIn.get(loginKey);
      const sameLogin = known === undefined || samePin(known, this.#pin);
      if (ckrCode(err) !== pkcs11().CKR_USER_ALREADY_LOGGED_IN || !sameLogin) {
        closeQuietly(lib, login);
        const problem = sameLogin ? loginProblem(err) : "wrong PIN (not the PIN this process logged in with)";
        throw new PkiError("key_unavailable", `Cannot log in to PKCS#11 token "${this.label}": ${problem}`);
      }
    }
    this.#generation++;
    return { slot, login, idle: [], open: 0 };
  }

  #findSlot(): Pkcs11Handle {
    const lib = this.#lib;
    let slots: Pkcs11Handle[];
    try {
      slots = lib.C_GetSlotList(true);
    } catch (err) {
      throw new PkiError("key_unavailable", `Cannot list the slots of PKCS#11 module ${this.module}: ${ckrName(err)}`);
    }
    const labels: string[] = [];
    for (const slot of slots) {
      let info: pkcs11js.TokenInfo;
      try {
        info = lib.C_GetTokenInfo(slot);
      } catch {
        continue;
      }
      const label = info.label.trimEnd();
      if (label !== this.label) {
        if (info.flags & pkcs11().CKF_TOKEN_INITIALIZED) labels.push(JSON.stringify(label));
        continue;
      }
      if (info.flags & pkcs11().CKF_USER_PIN_LOCKED) {
        throw new PkiError(
          "key_unavailable",
          `Cannot log in to PKCS#11 token "${this.label}": its user PIN is locked (unblock it with the SO PIN)`,
        );
      }
      return slot;
    }
    throw new PkiError(
      "key_unavailable",
      `No PKCS#11 token labelled "${this.label}" in module ${this.module} (${labels.length ? `tokens present: ${labels.join(", ")}` : "no initialised token present"})`,
    );
  }

  async #acquire(): Promise<[Connection, Pkcs11Handle]> {
    for (;;) {
      const connection = this.#ensure();
      const idle = connection.idle.pop();
      if (idle) return [connection, idle];
      if (connection.open < this.#maxSessions) {
        connection.open++;
        try {
          return [connection, this.#lib.C_OpenSession(connection.slot, sessionFlags())];
        } catch (err) {
          connection.open--;
          this.#noteFailure(err);
          throw new PkiError("key_unavailable", `Cannot open a session on PKCS#11 token "${this.label}": ${ckrName(err)}`);
        }
      }
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }

  #release(connection: Connection, session: Pkcs11Handle): void {
    if (connection === this.#connection) {
      connection.idle.push(session);
    } else {
      connection.open--;
      closeQuietly(this.#lib, session);
    }
    this.#waiters.shift()?.();
  }

  #noteFailure(err: unknown): void {
    if (!connectionLostCodes().has(ckrCode(err) ?? -1)) return;
    this.#drop();
    // Waiters retry against a fresh connection rather than wait for sessions that will not come back.
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Forgets the connection; sessions still lent out are closed when they come back. */
  #drop(): void {
    const connection = this.#connection;
    if (!connection) return;
    this.#connection = undefined;
    for (const session of connection.idle.splice(0)) {
      connection.open--;
      closeQuietly(this.#lib, session);
    }
    closeQuietly(this.#lib, connection.login);
  }
}

/** The CKR_* name of a PKCS#11 error ("CKR_PIN_INCORRECT"); never the arguments of the call. */
export function ckrName(err: unknown): string {
  const message = err instanceof Error ? err.message : "";
  return /^CKR_[A-Z0-9_]+$/.test(message) ? message : "the module reported an error";
}

export function ckrCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" && err instanceof Error && /^CKR_/.test(err.message) ? code : undefined;
}

function loginProblem(err: unknown): string {
  switch (ckrCode(err)) {
    case pkcs11().CKR_PIN_INCORRECT:
    case pkcs11().CKR_PIN_LEN_RANGE:
    case pkcs11().CKR_PIN_INVALID:
      return `wrong PIN (${ckrName(err)})`;
    case pkcs11().CKR_PIN_LOCKED:
      return "the user PIN is locked after too many wrong attempts (CKR_PIN_LOCKED); unblock it with the SO PIN";
    case pkcs11().CKR_PIN_EXPIRED:
      return "the user PIN has expired (CKR_PIN_EXPIRED); set a new one";
    default:
      return ckrName(err);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 300);
}

function closeQuietly(lib: Lib, session: Pkcs11Handle): void {
  try {
    lib.C_CloseSession(session);
  } catch {
    // Already gone with the token or the connection: nothing left to close.
  }
}
