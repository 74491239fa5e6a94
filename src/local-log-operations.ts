import type { TileRef } from "../tlog/tiles.js";
import type { Services } from "./app.js";
import { LocalOperations } from "./local-operations.js";
import type { LogConsistencyView, LogOperations } from "./log-operations.js";

/** LogOperations on in-process services: what the CLI uses locally and the HTTP routes answer with. */
export class LocalLogOperations implements LogOperations {
  constructor(
    private readonly services: Services,
    private readonly actor: string,
  ) {}

  checkpoint() {
    return new LocalOperations(this.services, this.actor).auditCheckpoint();
  }

  tile(ref: TileRef) {
    return this.services.logTiles.tile(ref);
  }

  async consistency(from: number, to: number): Promise<LogConsistencyView> {
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
