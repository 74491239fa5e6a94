import type { BuiltLeaf } from "../../../ca/leaf-builder.js";
import type { Profile } from "../../../ca/profile.js";
import type { WireError } from "../../errors.js";

/** Messages between WorkerLeafExecutor and its workers (structured clone; KeyObjects included). */
export type WorkerMessage =
  | { type: "issuer"; id: string; key: unknown; name: Uint8Array; keyId: Uint8Array; notAfter: number; urls: unknown }
  | { type: "profile"; profile: Profile }
  | { type: "build"; jobs: WorkerJob[] };

export interface WorkerJob {
  id: number;
  issuerId: string;
  profile: string;
  csr: string | Uint8Array;
  validityMs?: number;
  commonNameMustEqual?: string;
  notBefore: number;
}

export type WorkerResult = { id: number; ok: true; leaf: BuiltLeaf } | { id: number; ok: false; error: WireError };
