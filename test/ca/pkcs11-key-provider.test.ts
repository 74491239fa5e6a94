/**
 * The PKCS#11 key provider against a throwaway SoftHSM2 token: keys made in the token sign
 * verifiable X.509 signatures (ECDSA DER-encoded), are found again by their reference from a
 * fresh provider, sign in parallel on the session pool, and stay in the token. Bad settings
 * (module, token, PIN) are named, and the PIN never appears in a message.
 */
import { createPublicKey, verify } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DerReader, TAG } from "../../ca/der.js";
import { ecdsaSignatureToDer } from "../../ca/ecdsa-signature.js";
import type { KeyAlgorithm } from "../../ca/key-algorithm.js";
import { Pkcs11KeyProvider } from "../../ca/pkcs11-key-provider.js";
import { formatPkcs11Ref, parsePkcs11Ref } from "../../ca/pkcs11-uri.js";
import { PkiError } from "../../ca/pki-error.js";
import { haveSoftHsm, softHsmToken, SOFTHSM_MODULE, type TestToken } from "../helpers/softhsm.js";

describe("PKCS#11 key references and signatures", () => {
  it("round-trips an RFC 7512 URI with any id bytes and a label needing escapes", () => {
    const ref = { token: "CA token; 1", object: "dpki-root-0a0b", id: Buffer.from("00ff10d0fa", "hex") };
    const text = formatPkcs11Ref(ref);
    expect(text).toBe("pkcs11:token=CA%20token%3B%201;object=dpki-root-0a0b;id=%00%ff%10%d0%fa;type=private");
    const back = parsePkcs11Ref(text);
    expect(back.token).toBe(ref.token);
    expect(back.object).toBe(ref.object);
    expect(Buffer.from(back.id).equals(ref.id)).toBe(true);
    expect(() => parsePkcs11Ref("pkcs11:token=a;object=b")).toThrow(/no id attribute/);
    expect(() => parsePkcs11Ref("pkcs11:token=a;object=b;id=zz")).toThrow(/percent-encoded bytes/);
  });

  it("encodes r || s as a DER ECDSA-Sig-Value, with sign padding and minimal integers", () => {
    const r = Buffer.alloc(32, 0);
    r[31] = 5; // leading zeros go
    const s = Buffer.alloc(32, 0xff); // high bit set: a 0x00 goes in front
    const der = ecdsaSignatureToDer(Buffer.concat([r, s]), 32);
    const reader = new DerReader("sig");
    const [ri, si] = reader.sequence(reader.parse(der), "sig", 2, 2);
    expect(Buffer.from(reader.integer(ri, "r")).toString("hex")).toBe("05");
    expect(reader.integer(si, "s").length).toBe(33);
    expect(ri!.tag).toBe(TAG.INTEGER);
    expect(() => ecdsaSignatureToDer(Buffer.alloc(63), 32)).toThrow(/expected 64 bytes/);
  });
});

describe.skipIf(!haveSoftHsm)("PKCS#11 key provider on SoftHSM2", () => {
  let token: TestToken;
  let provider: Pkcs11KeyProvider;
  const open = (pin = token.pin, tokenLabel = token.label, module = SOFTHSM_MODULE) =>
    new Pkcs11KeyProvider({ module, tokenLabel, pin, sessions: 4 });

  beforeAll(() => {
    token = softHsmToken("provider-test");
    process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
    provider = open();
  });
  afterAll(async () => {
    await provider?.close();
  });

  const algorithms: Array<[KeyAlgorithm, string]> = [
    ["P-256", "sha256"],
    ["P-384", "sha384"],
    ["RSA-2048", "sha256"],
    ["RSA-3072", "sha256"],
    ["RSA-4096", "sha256"],
  ];
  it.each(algorithms)("makes a %s key in the token whose signatures verify with its SPKI", async (alg, digest) => {
    const { ref, spki } = await provider.generate(alg, "intermediate");
    expect(ref).toMatch(/^pkcs11:token=provider-test;object=dpki-intermediate-[0-9a-f]{8};id=(%[0-9a-f]{2}){16};type=private$/);
    const signer = await provider.signer(ref);
    expect(signer.keyAlgorithm).toBe(alg);
    expect(signer.inMemoryKey).toBeUndefined();
    const message = Buffer.from(`tbs for ${alg}`);
    const signature = await signer.sign(message);
    const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
    // node:crypto reads ECDSA signatures as DER by default: the X.509 form.
    expect(verify(digest, message, key, signature)).toBe(true);
    if (alg.startsWith("P-")) expect(signature[0]).toBe(0x30);
  });

  it("finds a key again by its reference from a fresh provider, and signs 64 at once on 4 sessions", async () => {
    const { ref, spki } = await provider.generate("P-256", "root");
    const again = open();
    try {
      const signer = await again.signer(ref);
      expect(Buffer.from(signer.spki).equals(Buffer.from(spki))).toBe(true);
      const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
      const messages = Array.from({ length: 64 }, (_, i) => Buffer.from(`message ${i}`));
      const signatures = await Promise.all(messages.map((m) => signer.sign(m)));
      expect(signatures.every((sig, i) => verify("sha256", messages[i]!, key, sig))).toBe(true);
      await signer.probe!();
    } finally {
      await again.close();
    }
  });

  /** The same module, opened raw in this process (the provider initialised it already), on a logged-in session. */
  function rawSession(): { lib: pkcs11js.PKCS11; session: Buffer; slot: Buffer } {
    const lib = new pkcs11js.PKCS11();
    lib.load(SOFTHSM_MODULE);
    try {
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((err as Error).message)) throw err;
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token.label)!;
    return { lib, slot, session: lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION) };
  }

  it("keeps the key in the token: its value cannot be read, nor wrapped out under another key", async () => {
    const { ref } = await provider.generate("P-256", "intermediate");
    const { lib, session } = rawSession();
    try {
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(parsePkcs11Ref(ref).id) },
      ]);
      const [key] = lib.C_FindObjects(session, 1);
      lib.C_FindObjectsFinal(session);
      expect(() => lib.C_GetAttributeValue(session, key!, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      const wrapping = lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_WRAP, value: true },
      ]);
      expect(() => lib.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrapping, key!, Buffer.alloc(4096))).toThrow(
        /CKR_KEY_UNEXTRACTABLE|CKR_KEY_NOT_WRAPPABLE/,
      );
    } finally {
      lib.C_CloseSession(session);
    }
  });

  it("logs in again by itself when its sessions are gone (token reset), and signs on", async () => {
    const { ref, spki } = await provider.generate("P-384", "intermediate");
    const signer = await provider.signer(ref);
    const { lib, slot } = rawSession();
    // Closes every session of this process on the token, the provider's included: the login goes with them.
    lib.C_CloseAllSessions(slot);
    const message = Buffer.from("after the reset");
    const signature = await signer.sign(message);
    expect(verify("sha384", message, createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }), signature)).toBe(true);
    await signer.probe!();
  });

  it("refuses Ed25519 in a token and a key that could leave it", async () => {
    await expect(provider.generate("Ed25519", "log")).rejects.toThrow(/P-256, P-384 or RSA/);
    // A key made by someone else, extractable: dpki will not take it as a CA key.
    const { lib, session } = rawSession();
    const id = Buffer.from("0badc0de", "hex");
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_LABEL, value: "loose-key" },
    ];
    lib.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        ...common,
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from("06082a8648ce3d030107", "hex") },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ],
    );
    lib.C_CloseSession(session);
    const ref = formatPkcs11Ref({ token: token.label, object: "loose-key", id });
    await expect(provider.signer(ref)).rejects.toThrow(/as a CA key: it is .*extractable/);
  });

  it("names a missing key, another token, a wrong PIN, a missing token and a missing module, never the PIN", async () => {
    const missing = formatPkcs11Ref({ token: token.label, object: "dpki-gone-00000000", id: Buffer.alloc(16, 7) });
    await expect(provider.signer(missing)).rejects.toThrow(/no private key dpki-gone-00000000 in PKCS#11 token "provider-test"/);
    await expect(provider.signer(formatPkcs11Ref({ token: "other", object: "k", id: Buffer.of(1) }))).rejects.toThrow(
      /it is in PKCS#11 token "other", but dpki is set up for token "provider-test"/,
    );
    const failures: Array<[() => unknown, RegExp]> = [
      [() => open("not-the-pin-4711"), /Cannot log in to PKCS#11 token "provider-test": wrong PIN/],
      [() => open(token.pin, "no-such-token"), /No PKCS#11 token labelled "no-such-token" .*tokens present: "provider-test"/],
      [
        () => open(token.pin, token.label, "/nonexistent/libpkcs11.so"),
        /Cannot load PKCS#11 module \/nonexistent\/libpkcs11.so: no such file/,
      ],
    ];
    for (const [attempt, message] of failures) {
      let error: unknown;
      try {
        attempt();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PkiError);
      expect((error as PkiError).code).toBe("key_unavailable");
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("not-the-pin-4711");
      expect((error as Error).message).not.toContain(token.pin);
    }
  });
});
