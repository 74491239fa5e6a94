/**
 * Worker-thread entry of WorkerLeafExecutor: builds leaves with the issuer keys it is given,
 * answering each batch of jobs with one message.
 */
import { parentPort } from "node:worker_threads";
import type { KeyObject } from "node:crypto";
import { buildLeaf, type LeafIssuer } from "../../../ca/leaf-builder.js";
import { createSoftwareSigner } from "../../../ca/software-signer.js";
import { errorToWire } from "../../errors.js";
import type { Profile } from "../../../ca/profile.js";
import type { PublicationUrls } from "../../../ca/ca-certificates.js";
import { type WorkerJob, type WorkerMessage, type WorkerResult } from "./leaf-worker-protocol.js";

const issuers = new Map<string, LeafIssuer>();
const profiles = new Map<string, Profile>();

parentPort!.on("message", async (message: WorkerMessage) => {
  if (message.type === "issuer") {
    const { id, key, name, keyId, notAfter, urls } = message as {
      id: string;
      key: KeyObject;
      name: Uint8Array;
      keyId: Uint8Array;
      notAfter: number;
      urls: PublicationUrls;
    };
    issuers.set(id, { name, keyId, notAfter: new Date(notAfter), urls, signer: createSoftwareSigner(key, { sync: true }) });
    return;
  }
  if (message.type === "profile") {
    profiles.set(message.profile.name, message.profile);
    return;
  }
  // Answer in chunks, by count or by time, so finished certificates go on to be committed
  // while this thread signs the rest: waiting for the whole batch would hold every request
  // of it for as long as the slowest.
  let results: WorkerResult[] = [];
  let since = performance.now();
  for (const job of message.jobs) {
    results.push(await run(job));
    if (results.length === CHUNK || performance.now() - since >= CHUNK_MS) {
      parentPort!.postMessage({ type: "built", results });
      results = [];
      since = performance.now();
    }
  }
  if (results.length) parentPort!.postMessage({ type: "built", results });
});

const CHUNK = 16;
const CHUNK_MS = 1;

async function run(job: WorkerJob): Promise<WorkerResult> {
  try {
    const issuer = issuers.get(job.issuerId)!;
    const profile = profiles.get(job.profile)!;
    const leaf = await buildLeaf(
      {
        csr: job.csr,
        profile,
        validityMs: job.validityMs,
        commonNameMustEqual: job.commonNameMustEqual,
        notBefore: new Date(job.notBefore),
      },
      issuer,
    );
    return { id: job.id, ok: true, leaf };
  } catch (err) {
    return { id: job.id, ok: false, error: errorToWire(err) };
  }
}
