import { createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { NULL, explicit, integer, octetString, oid, sequence } from "../ca/der.js";
import { encodeExtension } from "../ca/certificate.js";
import { issuerHashes } from "../ca/ocsp.js";
import type { Services } from "../src/app.js";
import { newOperationId } from "../src/core/dps/dps-service.js";
import { createSasToken, deriveDeviceKey, encodeUriComponentStrict } from "../src/core/sas/sas.js";
import { jsonLogger } from "../src/http/logger.js";
import { startServer } from "../src/http/server.js";
import { csrPool } from "./csr-pool.js";
import { benchServices } from "./in-process.js";
import { inFlight, loadOnWorker, loadRow, type LoadResult } from "./load.js";
import { rate } from "./floor.js";
import type { Row } from "./table.js";

export interface LifecycleBenchOptions {
  /** Measured seconds per case. Default 4. */
  seconds?: number;
  /** Keep-alive connections per HTTP case. Default [16, 64]. */
  connections?: number[];
  /** Certificates to ask OCSP about (one in ten revoked). Default 256. */
  certificates?: number;
  /** Devices whose SAS tokens the hub checks. Default 256. */
  devices?: number;
}

const SCOPE = "0ne00LIFE1";
const HUB_HOST = "hub-1.bench.example.net";
const SHA1 = "1.3.14.3.2.26";
const NONCE = "1.3.6.1.5.5.7.48.1.2";

/**
 * Credential lifecycle hot paths against a real `dpki serve` on loopback HTTPS (self-issued TLS,
 * durable store, OpenAPI validation, access log formatted and discarded):
 * - OCSP: `POST /ocsp` with one CertID and a nonce per request (as `openssl ocsp` sends),
 *   answered from the live store and signed by the issuer's delegated responder (P-256);
 * - SAS verification through the hub API: `POST /v1/hubs/{hub}/device-auth` with a hub token,
 *   device tokens of an enrollment group (each check derives the device's two keys and
 *   verifies the HMAC, after reading its registration and enrollment);
 * next to the same operations called in-process, the raw P-256 signature and HMAC-SHA256 rates
 * and the HTTPS stack's own ceiling (GET /healthz) measured in the same run. The load loop runs
 * on a worker thread. Prints nothing.
 */
export async function benchLifecycle(opts: LifecycleBenchOptions = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 4;
  const connections = opts.connections ?? [16, 64];
  const { services, cleanup } = await benchServices();
  const rows: Row[] = [];
  try {
    rows.push(...rawRates(Math.min(seconds, 2)));
    const ocspRequests = await prepareOcsp(services, opts.certificates ?? 256);
    const { bodies: authBodies, hubTokenFor } = await prepareDevices(services, opts.devices ?? 256);

    // In-process baselines: the services without HTTP, 64 in flight.
    const inProcessOcsp = await inFlight(64, seconds, (i) => services.lifecycle.ocsp.respond(ocspRequests[i % ocspRequests.length]!));
    rows.push({ case: "OCSP respond in-process (64 in flight)", ...inProcessOcsp });
    const hub = await services.lifecycle.hubs.resolve({ role: "admin", scope: SCOPE, hub: null }, "hub-1");
    const inProcessAuth = await inFlight(64, seconds, async (i) => {
      const verdict = await services.lifecycle.hubs.deviceAuth(hub, JSON.parse(authBodies[i % authBodies.length]!));
      if (!verdict.allow) throw new Error(`device-auth refused: ${verdict.message}`);
    });
    rows.push({ case: "SAS device-auth in-process (64 in flight)", ...inProcessAuth });

    const server = await startServer(services, {
      host: "127.0.0.1",
      port: 0,
      tls: { self: { passphrase: "bench", iterations: 1000 } },
      logger: jsonLogger(() => {}),
    });
    try {
      const ca = readFileSync(server.rootPemFile!, "utf8");
      const token = await hubTokenFor();
      const ocspLoad = (c: number, s: number) =>
        loadOnWorker({
          url: `${server.url}/ocsp`,
          connections: c,
          seconds: s,
          method: "POST",
          items: ocspRequests.map((r) => Buffer.from(r).toString("base64")),
          binary: true,
          headers: { "content-type": "application/ocsp-request" },
          ca,
          accept: { status: 200 },
        });
      const authLoad = (c: number, s: number) =>
        loadOnWorker({
          url: `${server.url}/v1/hubs/hub-1/device-auth`,
          connections: c,
          seconds: s,
          method: "POST",
          items: authBodies,
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          ca,
          accept: { status: 200, bodyIncludes: '"allow":true' },
        });
      await ocspLoad(16, 1); // warm up: TLS sessions, validators, JIT
      await authLoad(16, 1);
      // What the HTTPS stack itself costs (TLS, express, request id, access log): the ceiling for both.
      const floor = await loadOnWorker({
        url: server.url,
        connections: 16,
        seconds,
        method: "GET",
        items: ["healthz"],
        ca,
        accept: { status: 200 },
      });
      rows.push(loadRow("GET /healthz over HTTPS, 16 conns (stack floor)", floor));
      for (const c of connections) {
        const r = await ocspLoad(c, seconds);
        rows.push(withNote(loadRow(`OCSP POST /ocsp over HTTPS, ${c} conns`, r), inProcessOcsp.throughput, r));
      }
      for (const c of connections) {
        const r = await authLoad(c, seconds);
        rows.push(withNote(loadRow(`SAS device-auth over HTTPS, ${c} conns`, r), inProcessAuth.throughput, r));
      }
    } finally {
      await server.close();
    }
    return rows;
  } finally {
    await cleanup();
  }
}

/** The floor of this run: one P-256 signature (what an OCSP answer costs) and one HMAC-SHA256 (what a SAS check costs, twice per key pair). */
function rawRates(seconds: number): Row[] {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const tbs = randomBytes(220);
  const key = randomBytes(32);
  const stringToSign = `${HUB_HOST}%2Fdevices%2Fdevice-0001\n1893456000`;
  return [
    { case: "raw P-256 sign (node:crypto, 1 thread)", throughput: rate(seconds, () => sign("sha256", tbs, privateKey)) },
    {
      case: "raw HMAC-SHA256 of a SAS string (1 thread)",
      throughput: rate(seconds, () => createHmac("sha256", key).update(stringToSign, "utf8").digest("base64")),
    },
  ];
}

/** Issues certificates (one in ten revoked) and builds one OCSP request per certificate, with a nonce. */
async function prepareOcsp(services: Services, count: number): Promise<Uint8Array[]> {
  const csrs = await csrPool(count);
  const issued = await services.issuance.issueMany(csrs.map((csr) => ({ csr, profile: "device", actor: "bench" })));
  const issuer = await services.ca.activeIssuer();
  const hashes = issuerHashes(issuer.ca.certDer).sha1;
  const requests: Uint8Array[] = [];
  for (const [i, r] of issued.entries()) {
    if (!r.ok) throw r.error;
    if (i % 10 === 0) await services.certificates.revoke(r.issued.certificate.serial, "keyCompromise", "bench");
    const certId = sequence(
      sequence(oid(SHA1), NULL),
      octetString(hashes.nameHash),
      octetString(hashes.keyHash),
      integer(Buffer.from(r.issued.certificate.serial, "hex")),
    );
    const nonce = encodeExtension(NONCE, false, octetString(randomBytes(16)));
    requests.push(sequence(sequence(sequence(sequence(certId)), explicit(2, sequence(nonce)))));
  }
  // The first answer issues the responder certificate; keep that out of the measurement.
  const first = await services.lifecycle.ocsp.respond(requests[0]!);
  if (first.responseStatus !== "successful") throw new Error(`OCSP set-up failed: ${first.responseStatus}`);
  return requests;
}

/** A scope, a hub, a symmetric-key group, `count` registered devices and their hub tokens (valid an hour). */
async function prepareDevices(services: Services, count: number): Promise<{ bodies: string[]; hubTokenFor: () => Promise<string> }> {
  const admin = services.dps.admin;
  await admin.createScope({ idScope: SCOPE }, "bench");
  await admin.createHub(SCOPE, { name: "hub-1", hostName: HUB_HOST }, "bench");
  const group = await admin.createEnrollment(SCOPE, "group", "fleet", { attestation: { type: "symmetricKey" } }, "bench");
  const groupKey = group.keys!.primaryKey;
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `device-${String(i).padStart(4, "0")}`;
    const key = deriveDeviceKey(groupKey, id);
    const device = await services.dps.registrations.admit({
      idScope: SCOPE,
      registrationId: id,
      authorization: createSasToken({ resourceUri: `${SCOPE}/registrations/${id}`, keyName: "registration", key, expiry }),
      clientCertificates: [],
      sourceAddress: "127.0.0.1",
    });
    await services.dps.registrations.register(device, {}, newOperationId());
    const sasToken = createSasToken({ resourceUri: encodeUriComponentStrict(`${HUB_HOST}/devices/${id}`), key, keyName: null, expiry });
    bodies.push(JSON.stringify({ deviceId: id, sasToken }));
  }
  return {
    bodies,
    hubTokenFor: async () => (await services.tokens.create({ role: "hub", name: "bench-hub", hub: "hub-1", scope: SCOPE }, "bench")).secret,
  };
}

function withNote(row: Row, inProcess: number, r: LoadResult): Row {
  const ratio = `${((r.throughput / inProcess) * 100).toFixed(0)}% of in-process`;
  return { ...row, note: [ratio, row.note].filter(Boolean).join("; ") };
}
