import { generateKeyPairSync, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSoftwareSigner } from "../../ca/software-signer.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("createSoftwareSigner", () => {
  it.each([
    ["P-256", generateKeyPairSync("ec", { namedCurve: "P-256" }), "300a06082a8648ce3d040302", "sha256"],
    ["P-384", generateKeyPairSync("ec", { namedCurve: "P-384" }), "300a06082a8648ce3d040303", "sha384"],
    ["RSA-2048", generateKeyPairSync("rsa", { modulusLength: 2048 }), "300d06092a864886f70d01010b0500", "sha256"],
    ["Ed25519", generateKeyPairSync("ed25519"), "300506032b6570", null],
  ] as const)("%s: algorithm identifier, SPKI and signatures", async (name, pair, algorithmIdentifier, digest) => {
    const signer = createSoftwareSigner(pair.privateKey);
    expect(signer.keyAlgorithm).toBe(name);
    expect(hex(signer.signatureAlgorithm)).toBe(algorithmIdentifier);
    expect(hex(signer.spki)).toBe(hex(pair.publicKey.export({ format: "der", type: "spki" })));
    const data = Buffer.from("to be signed");
    expect(verify(digest, data, pair.publicKey, await signer.sign(data))).toBe(true);
  });

  it("refuses keys it cannot sign certificates with", () => {
    const p521 = generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
    expect(() => createSoftwareSigner(p521)).toThrow(expect.objectContaining({ code: "unsupported_algorithm" }));
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    expect(() => createSoftwareSigner(rsa1024)).toThrow(expect.objectContaining({ code: "weak_key" }));
    const publicKey = generateKeyPairSync("ed25519").publicKey;
    expect(() => createSoftwareSigner(publicKey)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
