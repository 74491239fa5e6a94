import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pemEncode } from "../ca/pem.js";
import type { CaRotationService } from "./core/authority/ca-rotation-service.js";

/**
 * Writes <data-dir>/root.pem: every root in service, the active issuer's first (what `dpki ca root`
 * prints and GET /v1/ca/root.pem serves): the file an operator distributes to devices and uses
 * with `curl --cacert` and the CLI's --server mode. Written only when its content changes.
 */
export async function writeRootPem(dataDirRoot: string, rotation: Pick<CaRotationService, "trustBundle">): Promise<string> {
  const file = join(dataDirRoot, "root.pem");
  const pem = (await rotation.trustBundle()).map((der) => pemEncode("CERTIFICATE", der)).join("");
  if (!existsSync(file) || readFileSync(file, "utf8") !== pem) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, pem, { mode: 0o644 });
    renameSync(tmp, file);
  }
  return file;
}
