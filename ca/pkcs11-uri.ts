import { PkiError } from "./pki-error.js";

/** Which token and which object a CA key is: what the cas table keeps as the key reference. */
export interface Pkcs11KeyRef {
  /** The token's label (CKA_LABEL of the token, as C_GetTokenInfo reports it). */
  token: string;
  /** The key objects' CKA_LABEL. */
  object: string;
  /** The key objects' CKA_ID (the private and the public half share it). */
  id: Uint8Array;
}

const SCHEME = "pkcs11:";

/**
 * An RFC 7512 PKCS#11 URI naming the private key, e.g.
 * `pkcs11:token=dpki;object=dpki-intermediate-1a2b3c;id=%1a%2b…;type=private`, so the reference
 * reads the same to dpki, p11tool and OpenSSL's pkcs11 providers. It carries no PIN: the PIN
 * comes from a file or the environment when the key is opened.
 */
export function formatPkcs11Ref(ref: Pkcs11KeyRef): string {
  const id = Array.from(ref.id, (b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  return `${SCHEME}token=${encodeURIComponent(ref.token)};object=${encodeURIComponent(ref.object)};id=${id};type=private`;
}

export function isPkcs11Ref(ref: string): boolean {
  return ref.startsWith(SCHEME);
}

/** Reads back what formatPkcs11Ref wrote (attributes in any order); token, object and id are all required. */
export function parsePkcs11Ref(ref: string): Pkcs11KeyRef {
  const fail = (why: string): never => {
    throw new PkiError("invalid_argument", `Cannot use key reference ${JSON.stringify(ref.slice(0, 200))}: ${why}`);
  };
  if (!isPkcs11Ref(ref)) fail("not a pkcs11: URI");
  const path = ref.slice(SCHEME.length).split("?")[0]!;
  const attrs = new Map<string, string>();
  for (const part of path.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) fail(`malformed attribute "${part}"`);
    // The id is bytes, not UTF-8 text: read apart below.
    if (part.slice(0, eq) === "id") continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return fail(`attribute ${part.slice(0, eq)} is not percent-encoded correctly`);
    }
    attrs.set(part.slice(0, eq), value);
  }
  const token = attrs.get("token");
  const object = attrs.get("object");
  const idText = /(?:^|;)id=((?:%[0-9a-fA-F]{2})+)(?:;|$)/.exec(path)?.[1];
  if (!idText && /(?:^|;)id=/.test(path)) fail("attribute id is not percent-encoded bytes");
  if (!token) fail("no token attribute");
  if (!object) fail("no object attribute");
  if (!idText) fail("no id attribute");
  if (attrs.has("type") && attrs.get("type") !== "private") fail("not a private key (type is not private)");
  return { token: token!, object: object!, id: Buffer.from(idText!.replace(/%/g, ""), "hex") };
}
