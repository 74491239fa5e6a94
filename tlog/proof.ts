import { HASH_SIZE } from "./merkle.js";

/**
 * A C2SP tlog-proof: an entry's index, its inclusion proof and the signed checkpoint it is
 * proven against — what a device owner keeps beside a certificate to show it was logged.
 */
export interface TlogProof {
  index: number;
  proof: Buffer[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
  extra?: Buffer;
}

const HEADER = "c2sp.org/tlog-proof@v1";

export class TlogProofError extends Error {}

export function tlogProofText(p: TlogProof): string {
  const extra = p.extra ? `extra ${p.extra.toString("base64")}\n` : "";
  return `${HEADER}\n${extra}index ${p.index}\n${p.proof.map((h) => `${h.toString("base64")}\n`).join("")}\n${p.checkpoint}`;
}

export function parseTlogProof(text: string): TlogProof {
  const lines = text.split("\n");
  let i = 0;
  if (lines[i++] !== HEADER) throw new TlogProofError(`Not a tlog proof: the first line must be ${HEADER}`);
  let extra: Buffer | undefined;
  if (lines[i]?.startsWith("extra ")) {
    const b64 = lines[i++]!.slice("extra ".length);
    extra = Buffer.from(b64, "base64");
    if (extra.toString("base64") !== b64) throw new TlogProofError("Malformed tlog proof: the extra data is not base64");
  }
  const indexLine = /^index (0|[1-9][0-9]*)$/.exec(lines[i++] ?? "");
  if (!indexLine || !Number.isSafeInteger(Number(indexLine[1]))) throw new TlogProofError("Malformed tlog proof: no index line");
  const proof: Buffer[] = [];
  for (; i < lines.length && lines[i] !== ""; i++) {
    const h = Buffer.from(lines[i]!, "base64");
    if (h.length !== HASH_SIZE || h.toString("base64") !== lines[i])
      throw new TlogProofError(`Malformed tlog proof: line ${i + 1} is not a base64 hash`);
    proof.push(h);
  }
  if (lines[i] !== "") throw new TlogProofError("Malformed tlog proof: no blank line before the checkpoint");
  const checkpoint = lines.slice(i + 1).join("\n");
  if (checkpoint.length === 0) throw new TlogProofError("Malformed tlog proof: no checkpoint");
  return { index: Number(indexLine[1]), proof, checkpoint, ...(extra ? { extra } : {}) };
}
