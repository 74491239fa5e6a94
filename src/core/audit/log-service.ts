import * as crypto from "node:crypto";
import type { KeyProvider } from "../../../ca/key-provider.js";
import { checkpointText, parseCheckpoint } from "../../../tlog/checkpoint.js";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  memorySubtrees,
  treeHash,
  verifyConsistency,
  type SubtreeHashes,
} from "../../../tlog/merkle.js";
import { openNote, remoteNoteSigner, signNote, verifierKeyText, type NoteSigner, type NoteVerifier } from "../../../tlog/note.js";
import { tlogProofText } from "../../../tlog/proof.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { canonicalEntry } from "../../store/audit-chain.js";
import type { CheckpointRecord, LogKeyCertificateRecord, LogTreeStore } from "../../store/log-tree-store.js";
import type { AuditEntry } from "../../store/records.js";
import type { Store } from "../../store/store.js";

/** Races with other writers lost before catching up gives up: each loss means the tree did grow. */
const EXTEND_ATTEMPTS = 5;

/** SHA-256 in hex, as the chain stores it; Node 20 before 20.12 lacks the one-shot `crypto.hash`. */
const sha256Hex: (data: Buffer) => string =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "hex")
    : (data) => crypto.createHash("sha256").update(data).digest("hex");

/** A root's certificate of the log key, with the serial and SHA-256 its log entry names. */
export interface CertifiedLogKey {
  rootId: string;
  der: Uint8Array;
  serial: string;
  sha256: string;
}

/** What a leaf of the log's tree is made of: the entry's canonical encoding, chain link included. */
export function logLeaf(entry: AuditEntry): Buffer {
  return Buffer.from(canonicalEntry(entry.seq, entry.prevHash, entry), "utf8");
}

/**
 * The verifiable log: a Merkle tree over the issuance log's entries, signed checkpoints in the
 * C2SP formats, inclusion proofs (tlog-proof files) and consistency proofs. The tree is caught
 * up from the committed entries before each checkpoint or proof, checking each entry against its
 * chain hash first, so a damaged entry is never signed.
 */
export class LogService {
  private catchingUp: Promise<number> | undefined;
  private signer: Promise<NoteSigner> | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      tree: LogTreeStore;
      keys: KeyProvider;
      clock: Clock;
      /** Certificates of the log key from the roots that have not certified it yet (CaService.certifyLogKey). */
      certifyKey?: (spki: Uint8Array, certified: ReadonlySet<string>) => Promise<CertifiedLogKey[]>;
    },
    /** The checkpoint origin line and the log key's name (a schema-less URL). */
    readonly origin: string,
  ) {}

  /** Extends the tree with every entry committed since it was last extended; returns its size. */
  catchUp(): Promise<number> {
    this.catchingUp ??= this.extend().finally(() => (this.catchingUp = undefined));
    return this.catchingUp;
  }

  /**
   * Another process (`dpki audit …` beside `dpki serve`) may extend the tree at the same time:
   * whoever loses the race goes on from the size the winner left, as the leaves are derived from
   * the same committed entries.
   */
  private async extend(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.extendOnce();
      } catch (err) {
        if (!(err instanceof AppError && err.code === "conflict") || attempt >= EXTEND_ATTEMPTS) throw err;
      }
    }
  }

  private async extendOnce(): Promise<number> {
    let size = await this.deps.tree.treeSize();
    for await (const batch of this.deps.store.auditEntries(size)) {
      const leaves: Buffer[] = [];
      for (const entry of batch) {
        if (entry.seq !== size + leaves.length + 1) {
          throw new AppError("log_damaged", `Log entry ${size + leaves.length + 1} is missing: the tree cannot be extended past it`);
        }
        // The leaf is the text the chain hashes: encoded once, hashed both ways.
        const leaf = logLeaf(entry);
        if (sha256Hex(leaf) !== entry.hash) {
          throw new AppError("log_damaged", `Log entry ${entry.seq} was altered: its content no longer matches its hash`);
        }
        leaves.push(leafHash(leaf));
      }
      await this.deps.tree.appendLeaves(size, leaves);
      size += leaves.length;
    }
    return size;
  }

  private hashes(): SubtreeHashes {
    return (level, index) => this.deps.tree.subtreeHash(level, index);
  }

  /** The log's signer, creating its Ed25519 key (with the key provider) on first use. */
  private logSigner(): Promise<NoteSigner> {
    this.signer ??= (async () => {
      let key = await this.deps.tree.logKey();
      if (!key) {
        const made = await this.deps.keys.generate("Ed25519", "log");
        try {
          const createdAt = this.deps.clock.now();
          await this.deps.tree.insertLogKey(
            { keyRef: made.ref, spki: made.spki, createdAt },
            {
              at: createdAt,
              actor: "system:log",
              action: "log.key.create",
              subject: this.origin,
              details: { spkiSha256: sha256Hex(Buffer.from(made.spki)) },
            },
          );
        } catch (err) {
          if (!(err instanceof AppError && err.code === "conflict")) throw err;
        }
        key = (await this.deps.tree.logKey())!;
      }
      const signer = await this.deps.keys.signer(key.keyRef);
      const publicKey = crypto.createPublicKey({ key: Buffer.from(key.spki), format: "der", type: "spki" });
      return remoteNoteSigner(this.origin, publicKey, (message) => signer.sign(message));
    })();
    this.signer.catch(() => (this.signer = undefined));
    return this.signer;
  }

  /** The log key's verifier, from its stored public key: checking needs no passphrase. */
  private async verifier(): Promise<NoteVerifier | null> {
    const key = await this.deps.tree.logKey();
    if (!key) return null;
    const publicKey = crypto.createPublicKey({ key: Buffer.from(key.spki), format: "der", type: "spki" });
    return remoteNoteSigner(this.origin, publicKey, () => {
      throw new AppError("internal", "A verifier does not sign");
    });
  }

  /** The log key's certificates, one per root that has certified it, oldest first. */
  keyCertificates(): Promise<LogKeyCertificateRecord[]> {
    return this.deps.tree.logKeyCertificates();
  }

  /**
   * Has every root in service whose key is at hand certify the log key, each certificate stored
   * with its log entry. Runs before each checkpoint, so a root made by a rollover certifies the
   * key before the next one. A root that cannot sign now (its token unreachable) is asked again
   * then: the checkpoint, which binds the operator, must not wait on it.
   */
  private async certifyKey(): Promise<void> {
    if (!this.deps.certifyKey) return;
    const key = await this.deps.tree.logKey();
    if (!key) return;
    const certified = new Set((await this.deps.tree.logKeyCertificates()).map((c) => c.rootId));
    let made: CertifiedLogKey[];
    try {
      made = await this.deps.certifyKey(key.spki, certified);
    } catch {
      return;
    }
    for (const cert of made) {
      const createdAt = this.deps.clock.now();
      try {
        await this.deps.tree.insertLogKeyCertificate(
          { rootId: cert.rootId, der: cert.der, createdAt },
          {
            at: createdAt,
            actor: "system:log",
            action: "log.key.certify",
            subject: this.origin,
            serial: cert.serial,
            details: { rootId: cert.rootId, sha256: cert.sha256, spkiSha256: sha256Hex(Buffer.from(key.spki)) },
          },
        );
      } catch (err) {
        // Another process had the same root certify it first: one certificate per root is kept.
        if (!(err instanceof AppError && err.code === "conflict")) throw err;
      }
    }
  }

  /** The note verifier key auditors configure: `<origin>+<key id>+<key>`. */
  async verifierKey(): Promise<string> {
    return verifierKeyText(await this.logSigner());
  }

  /**
   * A signed checkpoint of the whole log as it stands. Reuses the latest when nothing was added,
   * and refuses to sign a tree that is not an extension of the last signed one.
   */
  async checkpoint(): Promise<CheckpointRecord> {
    // A new log key first: its creation is an entry, which the first checkpoint then covers.
    if (!(await this.deps.tree.logKey())) await this.logSigner();
    await this.certifyKey();
    let size = await this.catchUp();
    let latest = await this.deps.tree.latestCheckpoint();
    // Another process signed a larger tree since this one caught up: catch up to it before judging.
    for (let i = 0; latest && latest.size > size && i < 3; i++) {
      size = await this.catchUp();
      latest = await this.deps.tree.latestCheckpoint();
    }
    if (latest && latest.size === size) return latest;
    const root = await treeHash(this.hashes(), size);
    if (latest) {
      const proof = await consistencyProof(this.hashes(), latest.size, size);
      if (latest.size > size || !verifyConsistency(latest.size, size, proof, latest.root, root)) {
        throw new AppError(
          "log_damaged",
          `The log no longer extends its checkpoint of size ${latest.size}: refusing to sign an inconsistent one`,
        );
      }
    }
    const signer = await this.logSigner();
    const note = await signNote(checkpointText({ origin: this.origin, size, root }), [signer]);
    const record: CheckpointRecord = { size, root, note, createdAt: this.deps.clock.now() };
    try {
      await this.deps.tree.insertCheckpoint(record);
    } catch (err) {
      // Another process signed the same size first: serve that one.
      if (err instanceof AppError && err.code === "conflict") return (await this.deps.tree.latestCheckpoint())!;
      throw err;
    }
    return record;
  }

  /**
   * A tlog-proof that entry `seq` is in the log, against a checkpoint covering it. The entry's
   * canonical encoding rides along as the proof's extra data: it is the leaf, so the proof checks
   * offline with nothing else (and the inclusion proof authenticates it).
   */
  async proveEntry(seq: number): Promise<{ proof: string; entry: AuditEntry; checkpoint: CheckpointRecord }> {
    let checkpoint = await this.deps.tree.latestCheckpoint();
    if (!checkpoint || checkpoint.size < seq) checkpoint = await this.checkpoint();
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > checkpoint.size) throw new AppError("not_found", `No log entry ${seq}`);
    const entry = await this.entry(seq);
    const path = await inclusionProof(this.hashes(), seq - 1, checkpoint.size);
    return { proof: tlogProofText({ index: seq - 1, proof: path, checkpoint: checkpoint.note, extra: logLeaf(entry) }), entry, checkpoint };
  }

  /** The proof for the entry that issued certificate `serial`. */
  async proveCertificate(serial: string): Promise<{ proof: string; entry: AuditEntry; checkpoint: CheckpointRecord }> {
    const page = await this.deps.store.listAudit({ serial: serial.toLowerCase(), action: "cert.issue" }, { limit: 1 });
    const issued = page.items[0];
    if (!issued) throw new AppError("not_found", `No issuance of certificate ${serial} in the log`);
    return this.proveEntry(issued.seq);
  }

  /** The root hash of the tree's first `size` entries (a size the tree has reached). */
  async rootAt(size: number): Promise<Buffer> {
    return treeHash(this.hashes(), size);
  }

  /** RFC 9162 consistency proof between two sizes the tree has reached. */
  async consistency(oldSize: number, newSize: number): Promise<Buffer[]> {
    const size = await this.catchUp();
    if (!(Number.isSafeInteger(oldSize) && Number.isSafeInteger(newSize) && oldSize >= 1 && oldSize <= newSize && newSize <= size)) {
      throw new AppError(
        "invalid_argument",
        `Cannot prove size ${oldSize} against size ${newSize}: sizes must be 1 ≤ old ≤ new ≤ ${size}`,
        {
          treeSize: size,
        },
      );
    }
    return consistencyProof(this.hashes(), oldSize, newSize);
  }

  /**
   * Checks the entries against the latest signed checkpoint: a log cut below it, or rewritten
   * within it, no longer gives its root. Null when there is no checkpoint yet.
   */
  async checkAgainstCheckpoint(): Promise<{ ok: boolean; size: number; message: string } | null> {
    const checkpoint = await this.deps.tree.latestCheckpoint();
    const verifier = await this.verifier();
    if (!checkpoint || !verifier) return null;
    let opened;
    try {
      opened = openNote(checkpoint.note, [verifier]);
    } catch (err) {
      return {
        ok: false,
        size: checkpoint.size,
        message: `The stored checkpoint does not verify with the log key: ${(err as Error).message}`,
      };
    }
    const signed = parseCheckpoint(opened.text);
    const leaves: Buffer[] = [];
    for await (const batch of this.deps.store.auditEntries()) {
      for (const entry of batch) if (entry.seq <= signed.size) leaves.push(leafHash(logLeaf(entry)));
      if (leaves.length >= signed.size) break;
    }
    if (leaves.length < signed.size) {
      return {
        ok: false,
        size: signed.size,
        message: `The log was cut: checkpoint of ${checkpoint.createdAt.toISOString()} signed ${signed.size} entries, only ${leaves.length} remain`,
      };
    }
    const root = await treeHash(memorySubtrees(leaves), signed.size);
    return root.equals(signed.root)
      ? { ok: true, size: signed.size, message: `Matches the signed checkpoint of ${signed.size} entries` }
      : {
          ok: false,
          size: signed.size,
          message: `The first ${signed.size} entries no longer give the signed checkpoint's root: the log was rewritten`,
        };
  }

  private async entry(seq: number): Promise<AuditEntry> {
    for await (const batch of this.deps.store.auditEntries(seq - 1)) {
      if (batch[0]?.seq === seq) return batch[0];
      break;
    }
    throw new AppError("not_found", `No log entry ${seq}`);
  }
}
