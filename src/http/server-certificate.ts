import { ParsedCertificate } from "../../ca/x509-certificate.js";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { pemEncode } from "../../ca/pem.js";
import { decryptPrivateKey, encryptPrivateKey } from "../../ca/private-key.js";
import type { Services } from "../app.js";
import { AppError, toAppError } from "../errors.js";
import { serverTlsFiles } from "./tls-files.js";
import { writeRootPem as writeRootPemFile } from "../root-pem.js";
import { issueServerCertificate } from "../core/issuance/server-certificate-request.js";

export interface ServerCertificate {
  /** The server certificate, the issuing CA and its cross certificates to older roots in service (what a TLS server sends). */
  certPem: string;
  /** Unencrypted PKCS#8 PEM, in memory only. */
  keyPem: string;
  notAfter: Date;
  serial: string;
  /** True when a new certificate was issued by this call. */
  issued: boolean;
}

export interface ServerCertificateOptions {
  /** DNS names and IP addresses the certificate must cover. */
  names: string[];
  /** Encrypts the key file at rest (the CA passphrase). */
  passphrase: string;
  /** PBKDF2 iterations for the key file (tests lower it). */
  iterations?: number;
}

export { serverTlsFiles };

/**
 * The server's own TLS certificate, issued by dpki's CA under the `server` profile through the
 * normal issuance path (so it is in the log and revocable like any other). Kept in
 * <data-dir>/tls/: the certificate with its chain, and the key as an encrypted PKCS#8 file
 * (0600, the CA passphrase). Reused across restarts while it covers the names, was issued by
 * the active issuing CA, is not revoked and has more than a third of its lifetime left.
 */
export async function ensureServerCertificate(services: Services, options: ServerCertificateOptions): Promise<ServerCertificate> {
  const files = serverTlsFiles(services.dataDir.root);
  const issuer = await services.ca.activeIssuer();
  const existing = await reusable(services, files, options, issuer);
  if (existing) return existing;

  const { privateKey, issued } = await issueServerCertificate(services.issuance, options.names, {
    actor: "system:serve",
    purpose: "dpki server TLS certificate",
  });
  const certPem = [issued.der, ...issued.chain].map((der) => pemEncode("CERTIFICATE", der)).join("");
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  writeAtomic(files.key, encryptPrivateKey(privateKey, options.passphrase, { iterations: options.iterations }), 0o600);
  writeAtomic(files.cert, certPem, 0o644);
  return {
    certPem,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    notAfter: new Date(issued.certificate.notAfter),
    serial: issued.certificate.serial,
    issued: true,
  };
}

/** Writes <data-dir>/root.pem, the roots in service (see src/root-pem.ts). */
export function writeRootPem(services: Pick<Services, "dataDir" | "lifecycle">): Promise<string> {
  return writeRootPemFile(services.dataDir.root, services.lifecycle.rotation);
}

async function reusable(
  services: Services,
  files: ReturnType<typeof serverTlsFiles>,
  options: ServerCertificateOptions,
  active: { ca: { certDer: Uint8Array }; chain: Uint8Array[] },
): Promise<ServerCertificate | null> {
  if (!existsSync(files.cert) || !existsSync(files.key)) return null;
  try {
    const cert = ParsedCertificate.parse(readFileSync(files.cert, "utf8"), "server certificate");
    const issuer = ParsedCertificate.parse(active.ca.certDer, "CA certificate");
    // The chain is today's, not the file's: cross certificates come and go with the roots in service.
    const certPem = [cert.der, ...active.chain].map((der) => pemEncode("CERTIFICATE", der)).join("");
    const now = services.clock.now().getTime();
    const from = cert.notBefore.getTime();
    const to = cert.notAfter.getTime();
    if (to - now < (to - from) / 3) return null;
    if (!cert.issuedBy(issuer)) return null;
    if (!options.names.every((name) => cert.covers(name))) return null;
    const record = await services.certificates.find(cert.serial);
    if (record.status !== "good") return null;
    const key = decryptPrivateKey(readFileSync(files.key, "utf8"), options.passphrase);
    if (!cert.matchesKey(key)) return null;
    return {
      certPem,
      keyPem: key.export({ type: "pkcs8", format: "pem" }) as string,
      notAfter: new Date(to),
      serial: record.serial,
      issued: false,
    };
  } catch (err) {
    // A wrong passphrase is the operator's to fix; anything else (damaged file, unknown serial) means issue anew.
    if (toAppError(err).code === "key_unavailable") {
      throw new AppError("key_unavailable", `Cannot open ${files.key}: wrong passphrase or damaged file (delete it to issue a new one)`);
    }
    return null;
  }
}

function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
