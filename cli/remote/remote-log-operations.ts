import { tilePath, type TileRef } from "../../tlog/tiles.js";
import type { LogConsistencyView, LogOperations } from "../../src/operations/log-operations.js";
import { queryString, type ApiClient } from "./api-client.js";

/** LogOperations over the HTTP API: the log's tiles under /v1/log and GET /v1/audit/consistency. */
export class RemoteLogOperations implements LogOperations {
  constructor(private readonly api: ApiClient) {}

  logTile(ref: TileRef) {
    return this.api.call("GET", `/v1/log/${tilePath(ref)}`, { accept: "application/octet-stream" });
  }

  auditConsistency(from: number, to: number) {
    return this.api.json<LogConsistencyView>("GET", "/v1/audit/consistency" + queryString({ from, to }));
  }
}
