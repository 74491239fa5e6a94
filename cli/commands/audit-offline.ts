import { Command } from "commander";
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { pemDecode } from "../../ca/pem.js";
import { parseCheckpoint, CheckpointError, type Checkpoint } from "../../tlog/checkpoint.js";
import { EMPTY_ROOT } from "../../tlog/merkle.js";
import { NoteError, parseVerifierKey, remoteNoteSigner, verifierKeyText, type NoteVerifier } from "../../tlog/note.js";
import { certifiedLogKey } from "../../ca/log-key-certificate.js";
import type { LogSource } from "../../src/core/audit/log-copy.js";
import { checkExtension, type ConsistencyVerdict } from "../../src/core/audit/consistency-check.js";
import { openCheckpoint, verifyLogCopy, type CopyVerdict } from "../../src/core/audit/log-copy-verifier.js";
import { checkProof } from "../../src/core/audit/proof-check.js";
import { dataDirAt } from "../../src/data-dir.js";
import type { Operations } from "../../src/operations/operations.js";
import { AppError } from "../../src/errors.js";
import { serverTlsFiles } from "../../src/http/tls-files.js";
import { globalOptions } from "../context.js";
import { readInput } from "../io.js";
import { withContext, withOutput } from "../run.js";
import { directorySource, httpSource } from "../log-sources.js";

/**
 * `audit verify DIR|URL --key VKEY`: a copy of the log checked with the verifier key alone — no
 * data directory, no passphrase. Exit 0 intact, 65 when anything was tampered with.
 */
export const verifyCopy = withOutput(async (out, opts, cmd, copy: string) => {
  if ((opts.key === undefined) === (opts.root === undefined)) {
    throw new AppError(
      "invalid_argument",
      "Verifying a copy of the log needs its verifier key: --key VKEY (as `dpki audit checkpoint` prints it), or --root ROOT.pem to take it from the root's certificate of the log key",
    );
  }
  const previous = ((opts.previous as string[] | undefined) ?? []).map((file) => readInput(file).toString("utf8"));
  const global = globalOptions(cmd);
  const remote = /^https?:\/\//i.test(copy)
    ? httpSource(copy, {
        token: global.token ?? process.env.DPKI_TOKEN,
        caFile: global.caFile,
        defaultCaFile: serverTlsFiles(dataDirAt(global.dataDir).root).root,
      })
    : undefined;
  let verdict: CopyVerdict;
  try {
    const source = remote?.source ?? directorySource(copy);
    const verifier = opts.key !== undefined ? verifierKey(opts.key as string) : await rootCertifiedKey(source, opts.root as string);
    verdict = await verifyLogCopy(source, verifier, previous);
  } finally {
    remote?.close();
  }
  out.print(verdict, () => copyVerdictText(verdict));
  return verdict.ok ? 0 : 65;
});

function copyVerdictText(v: CopyVerdict): string {
  if (v.ok) return `Log copy intact: ${v.size} entries, root ${v.root}\n  ${v.message}\n`;
  if (v.seq !== undefined) return `Log BROKEN at entry ${v.seq} (index ${v.index}, ${v.problem}): ${v.message}\n`;
  return v.problem === "bad_tile" ? `Log copy BROKEN (bad_tile): ${v.message}\n` : `${v.message}\n`;
}

/**
 * The verifier key of a copy whose key certificate a trusted root signed: the key from the
 * certificate, the name from the checkpoint (which the key must then have signed).
 */
async function rootCertifiedKey(source: LogSource, rootFile: string): Promise<NoteVerifier> {
  const bundle = await source.keyCertificates();
  if (bundle === null) {
    throw new AppError("not_found", `No log key certificate in ${source.where}: verify with --key VKEY instead`);
  }
  const note = await source.checkpoint();
  if (note === null) throw new AppError("not_found", `No checkpoint in ${source.where}`);
  const origin = note.slice(0, note.indexOf("\n"));
  const spki = certifiedLogKey(bundle, readInput(rootFile).toString("utf8"), new Date());
  try {
    return parseVerifierKey(
      verifierKeyText(
        remoteNoteSigner(origin, createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }), () => {
          throw new AppError("internal", "A verifier does not sign");
        }),
      ),
    );
  } catch (err) {
    if (err instanceof NoteError)
      throw new AppError("invalid_argument", `The checkpoint in ${source.where} names no valid log: ${err.message}`);
    throw err;
  }
}

/** A note verifier key given as text, or the name of a file holding it. */
export function verifierKey(arg: string): NoteVerifier {
  try {
    return parseVerifierKey(arg);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    if (!existsSync(arg)) throw new AppError("invalid_argument", `--key: ${err.message} (and there is no file ${arg})`);
    try {
      return parseVerifierKey(readFileSync(arg, "utf8"));
    } catch (inFile) {
      if (inFile instanceof NoteError) throw new AppError("invalid_argument", `--key ${arg}: ${inFile.message}`);
      throw inFile;
    }
  }
}

export function verifyProofCommand(): Command {
  return new Command("verify-proof")
    .argument("<proof>", "a c2sp.org/tlog-proof@v1 file, as `dpki audit prove` writes it")
    .description("Check a log proof offline with the log's verifier key: no data directory, passphrase or server")
    .requiredOption("--key <vkey>", "the log's note verifier key (text, or a file holding it)")
    .option("--entry <file>", "the entry proven (its canonical encoding), instead of the one the proof carries")
    .option("--cert <pem>", "also check the entry is this certificate's issuance (PEM or DER)")
    .addHelpText(
      "after",
      `
Exits 0 when the proof holds, 65 when its checkpoint is not the log key's or it does not bind
the entry (or the entry is not the certificate's issuance), 66 when a file is missing.

Examples:
  dpki audit verify-proof device-0042.tlog-proof --key "$(cat log.vkey)" --cert device-0042.pem
  dpki audit verify-proof entry-7.tlog-proof --key log.vkey --json`,
    )
    .action(
      withOutput(async (out, opts, _cmd, file: string) => {
        const verifier = verifierKey(opts.key as string);
        const text = readInput(file).toString("utf8");
        const entry = opts.entry ? readInput(opts.entry as string) : undefined;
        const certificateDer = opts.cert ? certificateBytes(readInput(opts.cert as string)) : undefined;
        const verdict = checkProof(text, verifier, { entry, certificateDer });
        out.print(verdict, () => `${verdict.message}\n`);
        return verdict.ok ? 0 : 65;
      }),
    );
}

/** A certificate file as DER: the first PEM certificate block (a chain file starts with the leaf), or DER as it is. */
function certificateBytes(bytes: Buffer): Uint8Array {
  const text = bytes.toString("latin1");
  if (!text.includes("-----BEGIN")) return bytes;
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  return pemDecode(block?.[0] ?? text, { labels: ["CERTIFICATE"], what: "certificate" }).der;
}

export function consistencyCommand(): Command {
  return new Command("consistency")
    .argument("<old>", "the older checkpoint: a signed checkpoint file, or a tree size of the log")
    .argument("<new>", "the newer checkpoint: a signed checkpoint file, or a tree size of the log")
    .description("Check that the log's tree at NEW extends its tree at OLD, by a consistency proof from the log (local or --server)")
    .option("--key <vkey>", "check the checkpoint files' signatures with this verifier key (text, or a file holding it)")
    .addHelpText(
      "after",
      `
A size stands for the log's own tree at that size. The proof comes from the local log or, with
--server, from GET /v1/audit/consistency; it is checked here against the checkpoints' roots.
Exits 0 when NEW extends OLD, 65 when it does not (the history was rewritten) or a checkpoint
is not signed by --key.

Examples:
  dpki audit consistency checkpoint-2026-03-01.note checkpoint-2026-04-01.note --key log.vkey
  dpki --server https://pki.example.net:8443 audit consistency saved.note 1200 --key log.vkey`,
    )
    .action(
      withContext(async ({ ops, out }, opts, oldArg: string, newArg: string) => {
        const verifier = opts.key !== undefined ? verifierKey(opts.key as string) : undefined;
        const heads = [treeArgument(oldArg, verifier, "OLD"), treeArgument(newArg, verifier, "NEW")];
        const forged = heads.find((h): h is { forged: string } => "forged" in h);
        if (forged) {
          out.print({ consistent: false, problem: "forged", message: forged.forged }, () => `Checkpoint FORGED: ${forged.forged}\n`);
          return 65;
        }
        const [old, next] = heads as Array<{ size: number; root?: Buffer }>;
        let verdict: ConsistencyVerdict;
        try {
          verdict = await extension(ops, old!, next!);
        } catch (err) {
          const treeSize = err instanceof AppError ? (err.detail?.treeSize as number | undefined) : undefined;
          if (treeSize === undefined || treeSize >= next!.size) throw err;
          const message = `INCONSISTENT: the log holds ${treeSize} entries, fewer than the ${next!.size} of NEW — it was cut`;
          out.print({ consistent: false, problem: "truncated", message }, () => `${message}\n`);
          return 65;
        }
        const unchecked = verifier === undefined && heads.some((h) => "root" in h && h.root !== undefined);
        const note = unchecked ? "  (checkpoint signatures not checked: pass --key)\n" : "";
        out.print({ ...verdict, signaturesChecked: !unchecked }, () => `${verdict.message}\n${note}`);
        return verdict.consistent ? 0 : 65;
      }),
    );
}

/** A size (the log's tree then), or a checkpoint file's size and root. */
function treeArgument(
  arg: string,
  verifier: NoteVerifier | undefined,
  which: string,
): { size: number; root?: Buffer } | { forged: string } {
  if (/^(0|[1-9][0-9]*)$/.test(arg) && !existsSync(arg)) return { size: Number(arg) };
  const note = readInput(arg).toString("utf8");
  return verifier ? openCheckpoint(note, verifier, `${which} (${arg})`) : unsignedCheckpoint(note, arg);
}

/** The checkpoint text of a note, its signatures unchecked. */
function unsignedCheckpoint(note: string, file: string): Checkpoint {
  const cut = note.indexOf("\n\n");
  try {
    return parseCheckpoint(cut >= 0 ? note.slice(0, cut + 1) : note);
  } catch (err) {
    if (err instanceof CheckpointError) throw new AppError("bad_encoding", `${file}: ${err.message}`);
    throw err;
  }
}

async function extension(
  ops: Pick<Operations, "auditConsistency">,
  old: { size: number; root?: Buffer },
  next: { size: number; root?: Buffer },
): Promise<ConsistencyVerdict> {
  if (old.size > next.size) return checkExtension({ size: old.size, root: EMPTY_ROOT }, { size: next.size, root: EMPTY_ROOT }, []);
  const needsLog =
    (old.size >= 1 && old.size < next.size) || (next.root === undefined && next.size > 0) || (old.root === undefined && old.size > 0);
  const view = needsLog ? await ops.auditConsistency(old.size >= 1 ? old.size : next.size, next.size) : undefined;
  const root = (given: Buffer | undefined, stated: string | undefined, size: number) =>
    given ?? (size === 0 ? EMPTY_ROOT : Buffer.from(stated!, "base64"));
  const proof = old.size >= 1 && old.size < next.size ? view!.proof.map((h) => Buffer.from(h, "base64")) : [];
  return checkExtension(
    { size: old.size, root: root(old.root, view?.fromRoot, old.size) },
    { size: next.size, root: root(next.root, view?.toRoot, next.size) },
    proof,
  );
}
