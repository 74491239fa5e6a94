import { join } from "node:path";

/** Where `dpki serve` keeps its own TLS certificate and key, and the root CA clients trust, inside the data directory. */
export function serverTlsFiles(dataDirRoot: string): { dir: string; cert: string; key: string; root: string } {
  const dir = join(dataDirRoot, "tls");
  return { dir, cert: join(dir, "server.crt.pem"), key: join(dir, "server.key.pem"), root: join(dataDirRoot, "root.pem") };
}
