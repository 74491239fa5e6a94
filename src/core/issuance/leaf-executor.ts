import { buildLeaf, type BuiltLeaf } from "../../../ca/leaf-builder.js";
import type { Profile } from "../../../ca/profile.js";
import type { Issuer } from "../authority/ca-service.js";

/** What the issuance service asks to have built; the profile goes by name, resolved by the executor's policy set. */
export interface LeafJob {
  csr: string | Uint8Array;
  profile: Profile;
  validityMs?: number;
  commonNameMustEqual?: string;
  notBefore: Date;
}

/**
 * Where the CPU side of an issuance runs. Both implementations call the same `buildLeaf`:
 * inline on the calling thread (one-shot CLI commands), or on worker threads, one per core
 * (servers and batches).
 */
export interface LeafExecutor {
  build(job: LeafJob, issuer: Issuer): Promise<BuiltLeaf>;
  close(): Promise<void>;
}

export class InlineLeafExecutor implements LeafExecutor {
  build(job: LeafJob, issuer: Issuer): Promise<BuiltLeaf> {
    return buildLeaf(job, {
      name: issuer.name,
      keyId: issuer.keyId,
      notAfter: issuer.ca.notAfter,
      urls: issuer.urls,
      signer: issuer.signer,
    });
  }

  async close(): Promise<void> {}
}
