import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkpointText, parseCheckpoint } from "../../tlog/checkpoint.js";
import { leafHash } from "../../tlog/merkle.js";
import { noteSigner, openNote, parseVerifierKey, signNote, verifierKeyText } from "../../tlog/note.js";
import { parseTlogProof, tlogProofText } from "../../tlog/proof.js";

// The example of the C2SP signed-note specification.
const SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE =
  "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

const signer = () => noteSigner("log.example/dpki", generateKeyPairSync("ed25519").privateKey);

describe("signed notes (C2SP)", () => {
  it("verifies the specification's example with its verifier key", () => {
    const key = parseVerifierKey(SPEC_VKEY);
    expect(key.name).toBe("example.com/foo");
    expect(verifierKeyText(key)).toBe(SPEC_VKEY);
    expect(openNote(SPEC_NOTE, [key]).text).toBe("This is an example message.\n");
    expect(() => openNote(SPEC_NOTE.replace("example message", "exemplary message"), [key])).toThrow(/Invalid signature/);
  });

  it("signs notes that open with the published verifier key, and only with it", async () => {
    const s = signer();
    const vkey = parseVerifierKey(verifierKeyText(s));
    const note = await signNote("hello\nworld\n", [s]);
    expect(openNote(note, [vkey]).verifiedBy).toEqual([vkey]);
    expect(() => openNote(note, [parseVerifierKey(verifierKeyText(signer()))])).toThrow(/No signature of a trusted key/);
    // A second, unknown signature is ignored.
    const both = await signNote("hello\nworld\n", [s, signer()]);
    expect(openNote(both, [vkey]).text).toBe("hello\nworld\n");
  });

  it("refuses malformed notes and verifier keys with a reason", async () => {
    expect(() => parseVerifierKey("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")).toThrow(
      /key id does not match/,
    );
    expect(() => parseVerifierKey("no-plus-signs")).toThrow(/expected <name>/);
    expect(() => openNote("text without signatures\n", [])).toThrow(/no blank line/);
    await expect(signNote("no newline", [signer()])).rejects.toThrow(/end with a newline/);
    await expect(signNote("a\u0007bell\n", [signer()])).rejects.toThrow(/control characters/);
  });
});

describe("checkpoints and tlog proofs", () => {
  const root = leafHash(Buffer.from("x"));

  it("formats and parses a checkpoint body", () => {
    const text = checkpointText({ origin: "log.example/dpki", size: 20852163, root });
    expect(text).toBe(`log.example/dpki\n20852163\n${root.toString("base64")}\n`);
    expect(parseCheckpoint(text)).toEqual({ origin: "log.example/dpki", size: 20852163, root });
    expect(() => parseCheckpoint("log\n007\n" + root.toString("base64") + "\n")).toThrow(/leading zeros/);
    expect(() => parseCheckpoint("log\n7\nAAAA\n")).toThrow(/root/);
  });

  it("round-trips a tlog proof", async () => {
    const checkpoint = await signNote(checkpointText({ origin: "log.example/dpki", size: 3, root }), [signer()]);
    const proof = { index: 2, proof: [root, leafHash(Buffer.from("y"))], checkpoint };
    const text = tlogProofText(proof);
    expect(text.startsWith("c2sp.org/tlog-proof@v1\nindex 2\n")).toBe(true);
    expect(parseTlogProof(text)).toEqual(proof);
    expect(parseTlogProof(tlogProofText({ ...proof, extra: Buffer.from("e") })).extra).toEqual(Buffer.from("e"));
    expect(() => parseTlogProof("c2sp.org/tlog-proof@v1\nindex 01\n\n" + checkpoint)).toThrow(/index/);
  });
});
