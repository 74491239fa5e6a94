import { tilePath, type TileRef } from "../tlog/tiles.js";
import type { LogConsistencyView, LogOperations } from "../src/log-operations.js";
import type { LogCheckpointView } from "../src/operations.js";
import { ApiClient, queryString, type RemoteOptions } from "./api-client.js";

/** LogOperations over the HTTP API: the audit routes and the log's tiles under /v1/log. */
export class RemoteLogOperations implements LogOperations {
  private readonly api: ApiClient;

  constructor(options: RemoteOptions) {
    this.api = new ApiClient(options);
  }

  close(): void {
    this.api.close();
  }

  checkpoint() {
    return this.api.json<LogCheckpointView>("GET", "/v1/audit/checkpoint");
  }

  tile(ref: TileRef) {
    return this.api.call("GET", `/v1/log/${tilePath(ref)}`, { accept: "application/octet-stream" });
  }

  consistency(from: number, to: number) {
    return this.api.json<LogConsistencyView>("GET", "/v1/audit/consistency" + queryString({ from, to }));
  }
}
