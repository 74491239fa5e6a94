import { HASH_SIZE } from "./merkle.js";

/** A C2SP tlog-checkpoint body: origin, tree size, root hash, optional extension lines. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions?: string[];
}

export class CheckpointError extends Error {}

export function checkpointText(c: Checkpoint): string {
  if (c.origin.length === 0 || c.origin.includes("\n")) throw new CheckpointError("A checkpoint origin must be one non-empty line");
  if (c.root.length !== HASH_SIZE) throw new CheckpointError("A checkpoint root must be a SHA-256 hash");
  const ext = (c.extensions ?? []).map((line) => {
    if (line.length === 0 || line.includes("\n")) throw new CheckpointError("Checkpoint extension lines must be non-empty single lines");
    return `${line}\n`;
  });
  return `${c.origin}\n${c.size}\n${c.root.toString("base64")}\n${ext.join("")}`;
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) throw new CheckpointError("Malformed checkpoint: it must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckpointError("Malformed checkpoint: it needs an origin, a size and a root hash");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointError("Malformed checkpoint: empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new CheckpointError("Malformed checkpoint: the size must be a decimal number without leading zeros");
  }
  const root = Buffer.from(rootText, "base64");
  if (root.length !== HASH_SIZE || root.toString("base64") !== rootText)
    throw new CheckpointError("Malformed checkpoint: the root is not a base64 SHA-256 hash");
  if (extensions.some((l) => l.length === 0)) throw new CheckpointError("Malformed checkpoint: empty extension line");
  return { origin, size: Number(sizeText), root, ...(extensions.length ? { extensions } : {}) };
}
