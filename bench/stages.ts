import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCsr, verifyCsr } from "../ca/csr.js";
import { grantFromProfile } from "../ca/profile.js";
import { randomSerial } from "../ca/serial.js";
import { leafCertificateParams } from "../ca/ca-certificates.js";
import { certificateThumbprint, encodeCertificate } from "../ca/certificate.js";
import { createSoftwareSigner } from "../ca/software-signer.js";
import { formatName } from "../ca/name.js";
import { openServices } from "../src/app.js";
import { getProfile } from "../src/policy/policy-set.js";
import type { AuditInput, CertificateRecord } from "../src/store/records.js";
import type { Row } from "./table.js";

/**
 * Where the time of one issuance goes: each step of the leaf builder timed on its own, one
 * thread, over `count` CSRs, then the durable store write (certificate row + log entry,
 * groups of 32 per fsync'd transaction as the group commit makes under load). The steps are
 * the functions `buildLeaf` and the store run, called in the same order.
 */
export async function benchStages(csrs: string[], count = 4000): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-stages-"));
  const services = openServices({ dataDir: join(dir, "data"), passphrase: "bench", keyIterations: 1000, create: true });
  try {
    await services.ca.init({ algorithm: "P-256", organization: "Bench", actor: "bench" });
    const issuer = await services.ca.activeIssuer();
    const signer = createSoftwareSigner(issuer.signer.inMemoryKey!, { sync: true });
    const profile = getProfile(services.policies, "device");
    const spent = new Map<string, number>();
    const timed = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
      const start = process.hrtime.bigint();
      const result = await fn();
      spent.set(stage, (spent.get(stage) ?? 0) + Number(process.hrtime.bigint() - start) / 1000);
      return result;
    };
    const items: Array<{ cert: CertificateRecord; audit: AuditInput }> = [];
    for (let i = 0; i < count; i++) {
      const csr = await timed("parse CSR (PEM + DER)", () => parseCsr(csrs[i % csrs.length]!));
      await timed("proof of possession (key import + verify)", () => verifyCsr(csr));
      const grant = await timed("profile check", () => grantFromProfile(csr, profile));
      const serial = await timed("serial", () => randomSerial());
      const now = new Date();
      const params = await timed("certificate fields (names, key ids, validity)", () =>
        leafCertificateParams({
          grant,
          issuer: issuer.name,
          issuerKeyId: issuer.keyId,
          spki: csr.spki,
          serial,
          notBefore: now,
          urls: issuer.urls,
        }),
      );
      const der = await timed("encode + sign", () => encodeCertificate(params, signer));
      const cert = await timed("thumbprint + record", () => record(der, serial, grant.subject, params, issuer.ca.id, now));
      items.push({
        cert,
        audit: {
          at: now,
          actor: "bench",
          action: "cert.issue",
          subject: cert.subject,
          serial: cert.serial,
          profile: profile.name,
          policyHash: services.policies.hash,
          details: { sha256: cert.sha256, issuer: issuer.ca.id, notAfter: cert.notAfter.toISOString() },
        },
      });
    }
    for (let i = 0; i < items.length; i += 32) {
      await timed("store: row + log entry, 32 per fsync'd commit", () => services.store.insertCertificates(items.slice(i, i + 32)));
    }
    const total = [...spent.values()].reduce((a, b) => a + b, 0);
    const rows: Row[] = [...spent].map(([stage, micros]) => ({
      case: stage,
      throughput: (count * 1e6) / micros,
      note: `${(micros / count).toFixed(1)} µs/cert, ${((micros / total) * 100).toFixed(0)}%`,
    }));
    rows.push({ case: "all steps, one thread", throughput: (count * 1e6) / total, note: `${(total / count).toFixed(1)} µs/cert` });
    return rows;
  } finally {
    await services.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function record(
  der: Uint8Array,
  serial: Uint8Array,
  subject: Parameters<typeof formatName>[0],
  params: { notBefore: Date; notAfter: Date },
  issuerCaId: string,
  now: Date,
): CertificateRecord {
  return {
    serial: Buffer.from(serial).toString("hex"),
    sha256: certificateThumbprint(der),
    issuerCaId,
    subject: formatName(subject),
    commonName: null,
    subjectAltNames: [],
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    profile: "device",
    requester: "bench",
    scope: null,
    status: "good",
    revokedAt: null,
    revocationReason: null,
    der,
    createdAt: now,
  };
}
