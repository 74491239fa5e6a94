import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

/**
 * C2SP signed notes with Ed25519 (signature type 0x01): a text ending in a newline, a blank
 * line, then one line per signature, `— <name> base64(keyId ‖ signature)`. The key ID is the
 * first four bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). A verifier key is written
 * `<name>+<hex key id>+base64(0x01 ‖ public key)`.
 */
const ED25519 = 0x01;
const SIGNATURE_PREFIX = "\u2014 ";
/** Verifiers must accept 16 signatures; more than this is refused rather than checked. */
const MAX_SIGNATURES = 100;

export interface NoteVerifier {
  name: string;
  keyId: number;
  publicKey: KeyObject;
}

/** Signs with a key it may not hold itself (a software key here, an HSM's behind a Signer). */
export interface NoteSigner extends NoteVerifier {
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

export class NoteError extends Error {}

export function validKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !/[\u0000-\u001f]/.test(name);
}

function rawPublicKey(key: KeyObject): Buffer {
  // The last 32 bytes of an Ed25519 SPKI are the RFC 8032 public key.
  return key.export({ type: "spki", format: "der" }).subarray(-32);
}

export function keyIdOf(name: string, rawKey: Uint8Array): number {
  const digest = createHash("sha256")
    .update(name)
    .update(Buffer.from([0x0a, ED25519]))
    .update(rawKey)
    .digest();
  return digest.readUInt32BE(0);
}

/** A signer for `name` from an Ed25519 private key (PEM, DER PKCS#8 or a KeyObject). */
export function noteSigner(name: string, privateKey: KeyObject | string | Buffer): NoteSigner {
  if (!validKeyName(name)) throw new NoteError(`Invalid key name "${name}": it must be non-empty, without spaces or "+"`);
  const priv = typeof privateKey === "object" && "asymmetricKeyType" in privateKey ? privateKey : createPrivateKey(privateKey as string);
  if (priv.asymmetricKeyType !== "ed25519") throw new NoteError("A note signing key must be Ed25519");
  return remoteNoteSigner(name, createPublicKey(priv), (message) => sign(null, message, priv));
}

/** A signer for `name` whose Ed25519 signatures some other party makes (a key provider). */
export function remoteNoteSigner(name: string, publicKey: KeyObject, signWith: NoteSigner["sign"]): NoteSigner {
  if (!validKeyName(name)) throw new NoteError(`Invalid key name "${name}": it must be non-empty, without spaces or "+"`);
  if (publicKey.asymmetricKeyType !== "ed25519") throw new NoteError("A note signing key must be Ed25519");
  return { name, keyId: keyIdOf(name, rawPublicKey(publicKey)), publicKey, sign: signWith };
}

export function verifierKeyText(v: NoteVerifier): string {
  const keyId = v.keyId.toString(16).padStart(8, "0");
  return `${v.name}+${keyId}+${Buffer.concat([Buffer.from([ED25519]), rawPublicKey(v.publicKey)]).toString("base64")}`;
}

export function parseVerifierKey(text: string): NoteVerifier {
  // Names hold no "+", but base64 may: split at the first two.
  const t = text.trim();
  const a = t.indexOf("+");
  const b = t.indexOf("+", a + 1);
  if (a < 0 || b < 0) throw new NoteError("Cannot parse verifier key: expected <name>+<key id>+<key>");
  const [name, hexId, b64] = [t.slice(0, a), t.slice(a + 1, b), t.slice(b + 1)];
  if (!validKeyName(name)) throw new NoteError("Cannot parse verifier key: invalid key name");
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new NoteError("Cannot parse verifier key: the key id must be 8 lowercase hex digits");
  const key = Buffer.from(b64, "base64");
  if (key.length !== 33 || key[0] !== ED25519 || key.toString("base64") !== b64) {
    throw new NoteError("Cannot parse verifier key: only Ed25519 keys (type 0x01, 32 bytes) are supported");
  }
  const raw = key.subarray(1);
  const keyId = Number.parseInt(hexId, 16);
  if (keyIdOf(name, raw) !== keyId) throw new NoteError("Cannot parse verifier key: its key id does not match its name and key");
  const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  return { name, keyId, publicKey };
}

/** Signs `text` (which must end in a newline) and returns the whole note. */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  checkText(text);
  const message = Buffer.from(text, "utf8");
  const lines = await Promise.all(
    signers.map(async (s) => {
      const id = Buffer.alloc(4);
      id.writeUInt32BE(s.keyId);
      const sig = Buffer.from(await s.sign(message));
      if (!verify(null, message, s.publicKey, sig)) throw new NoteError(`The key of ${s.name} made a signature that does not verify`);
      return `${SIGNATURE_PREFIX}${s.name} ${Buffer.concat([id, sig]).toString("base64")}\n`;
    }),
  );
  return `${text}\n${lines.join("")}`;
}

export interface OpenedNote {
  text: string;
  /** The known keys whose signatures verified. */
  verifiedBy: NoteVerifier[];
}

/**
 * Opens a note: its text, once a signature of a known key verifies. Signatures of unknown keys
 * are ignored; a failing signature of a known key rejects the whole note.
 */
export function openNote(note: string, known: readonly NoteVerifier[]): OpenedNote {
  if (!note.endsWith("\n")) throw new NoteError("Malformed note: it must end with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("Malformed note: no blank line before the signatures");
  const text = note.slice(0, split + 1);
  checkText(text);
  const sigLines = note.slice(split + 2, -1).split("\n");
  if (sigLines.length > MAX_SIGNATURES) throw new NoteError(`Malformed note: more than ${MAX_SIGNATURES} signatures`);
  const verifiedBy: NoteVerifier[] = [];
  for (const line of sigLines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteError("Malformed note: a signature line must start with an em dash");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space <= 0) throw new NoteError("Malformed note: a signature line needs a key name and a signature");
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    const sig = Buffer.from(b64, "base64");
    if (sig.length < 5 || sig.toString("base64") !== b64) throw new NoteError("Malformed note: a signature is not base64");
    const keyId = sig.readUInt32BE(0);
    const key = known.find((k) => k.name === name && k.keyId === keyId);
    if (!key) continue;
    if (!verify(null, Buffer.from(text, "utf8"), key.publicKey, sig.subarray(4))) {
      throw new NoteError(`Invalid signature of ${name}: the note was altered or signed by another key`);
    }
    if (!verifiedBy.includes(key)) verifiedBy.push(key);
  }
  if (verifiedBy.length === 0) throw new NoteError("No signature of a trusted key on the note");
  return { text, verifiedBy };
}

function checkText(text: string): void {
  if (!text.endsWith("\n")) throw new NoteError("A note's text must end with a newline");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError("A note's text must not contain control characters");
}
