import type { TileRef } from "../../tlog/tiles.js";
import type { Services } from "../app.js";
import { AppError } from "../errors.js";
import type { LogConsistencyView, LogOperations } from "./log-operations.js";

/** LogOperations on in-process services. The log covers every scope: a scoped caller reads it only when it is public. */
export class LocalLogOperations implements LogOperations {
  constructor(
    private readonly services: Services,
    _actor: string,
    private readonly scope: string | null = null,
  ) {}

  async logTile(ref: TileRef) {
    if (this.scope !== null && !this.services.config.logPublic) {
      throw new AppError("forbidden", "The log covers every scope: read it with an unscoped token");
    }
    return this.services.logTiles.tile(ref);
  }

  async auditConsistency(from: number, to: number): Promise<LogConsistencyView> {
    if (this.scope !== null) throw new AppError("forbidden", "Log proofs cover every scope: ask with an unscoped token");
    const proof = await this.services.log.consistency(from, to);
    const [fromRoot, toRoot] = await Promise.all([this.services.log.rootAt(from), this.services.log.rootAt(to)]);
    return {
      from,
      to,
      fromRoot: fromRoot.toString("base64"),
      toRoot: toRoot.toString("base64"),
      proof: proof.map((h) => h.toString("base64")),
    };
  }
}
