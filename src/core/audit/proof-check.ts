import { certificateThumbprint } from "../../../ca/certificate.js";
import { leafHash, verifyInclusion } from "../../../tlog/merkle.js";
import type { NoteVerifier } from "../../../tlog/note.js";
import { parseTlogProof, TlogProofError } from "../../../tlog/proof.js";
import { AppError } from "../../errors.js";
import { openCheckpoint } from "./log-copy-verifier.js";

export type ProofVerdict =
  | {
      ok: true;
      origin: string;
      /** Entry number (1-based) and tlog index (0-based). */
      seq: number;
      index: number;
      checkpointSize: number;
      action: string;
      serial: string | null;
      message: string;
    }
  | { ok: false; problem: "forged" | "not_included" | "wrong_entry" | "wrong_certificate"; message: string };

/** What a proof's leaf says, as its canonical encoding `["dpki-audit-v1", seq, at, actor, action, subject, serial, profile, policyHash, details, prevHash]` holds it. */
interface LoggedEntry {
  seq: number;
  action: string;
  serial: string | null;
  details: Record<string, unknown>;
}

/**
 * Checks a c2sp.org/tlog-proof file offline: its checkpoint opens with the log's verifier key,
 * and its inclusion proof binds the entry — the one given, else the one the proof carries as
 * its extra data — to that checkpoint's root at the proof's index. With a certificate, the
 * entry must also be that certificate's issuance (its SHA-256 thumbprint).
 */
export function checkProof(
  text: string,
  verifier: NoteVerifier,
  options: { entry?: Buffer; certificateDer?: Uint8Array } = {},
): ProofVerdict {
  let proof;
  try {
    proof = parseTlogProof(text);
  } catch (err) {
    if (err instanceof TlogProofError) throw new AppError("bad_encoding", `Cannot parse tlog proof: ${err.message}`);
    throw err;
  }
  const leaf = options.entry ?? proof.extra;
  if (!leaf) throw new AppError("invalid_argument", "The proof carries no entry: pass the entry it proves with --entry FILE");
  const checkpoint = openCheckpoint(proof.checkpoint, verifier, "The proof's checkpoint");
  if ("forged" in checkpoint) return { ok: false, problem: "forged", message: `Proof FORGED: ${checkpoint.forged}` };
  if (!verifyInclusion(proof.index, checkpoint.size, leafHash(leaf), proof.proof, checkpoint.root)) {
    return {
      ok: false,
      problem: "not_included",
      message:
        `Proof INVALID: it does not bind ${options.entry ? "this entry" : "the entry it carries"} to index ${proof.index} ` +
        `of the checkpoint of ${checkpoint.size} entries`,
    };
  }
  const entry = loggedEntry(leaf);
  if (!entry || entry.seq !== proof.index + 1) {
    return {
      ok: false,
      problem: "wrong_entry",
      message: entry
        ? `Proof INVALID: the entry says it is entry ${entry.seq}, the proof puts it at index ${proof.index} (entry ${proof.index + 1})`
        : "Proof INVALID: the proven leaf is not a dpki log entry (dpki-audit-v1 canonical encoding)",
    };
  }
  if (options.certificateDer) {
    const sha256 = certificateThumbprint(options.certificateDer);
    if (entry.action !== "cert.issue" || entry.details.sha256 !== sha256) {
      return {
        ok: false,
        problem: "wrong_certificate",
        message:
          entry.action !== "cert.issue"
            ? `Proof of another thing: entry ${entry.seq} is a ${entry.action}, not a certificate's issuance`
            : `Proof of another certificate: entry ${entry.seq} issued the certificate of SHA-256 ${String(entry.details.sha256)}, not ${sha256}`,
      };
    }
  }
  return {
    ok: true,
    origin: checkpoint.origin,
    seq: entry.seq,
    index: proof.index,
    checkpointSize: checkpoint.size,
    action: entry.action,
    serial: entry.serial,
    message:
      `Proof OK: entry ${entry.seq} (${entry.action}${entry.serial ? ` of ${entry.serial}` : ""}) is in the log ${checkpoint.origin} ` +
      `of ${checkpoint.size} entries` +
      (options.certificateDer ? ": it is this certificate's issuance" : ""),
  };
}

function loggedEntry(leaf: Buffer): LoggedEntry | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(leaf.toString("utf8"));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 11 || parsed[0] !== "dpki-audit-v1") return null;
  const [, seq, , , action, , serial, , , details] = parsed as unknown[];
  if (!Number.isSafeInteger(seq) || typeof action !== "string" || (serial !== null && typeof serial !== "string")) return null;
  if (!details || typeof details !== "object" || Array.isArray(details)) return null;
  return { seq: seq as number, action, serial: serial as string | null, details: details as Record<string, unknown> };
}
