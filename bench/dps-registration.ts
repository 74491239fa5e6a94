import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCertificateRequest } from "../ca/certificate-request-builder.js";
import { pemEncode } from "../ca/pem.js";
import { openServices, type Services } from "../src/app.js";
import { createSasToken, deriveDeviceKey } from "../src/core/sas/sas.js";
import { DeviceListener } from "../src/dps/device-listener.js";
import { issueListenerCertificate } from "../src/dps/listener-certificate.js";
import type { Row } from "./table.js";
import { inFlight, runLoad } from "./load.js";

export interface DpsBenchOptions {
  /** Concurrent devices (each its own keep-alive connection). Default 64. */
  devices?: number;
  /** Measured seconds per case (after a short warm-up). Default 5. */
  seconds?: number;
  /** Distinct registration ids cycled through; default 4096. */
  ids?: number;
}

const SCOPE = "0ne00BENCH";

/**
 * DPS registrations per second over loopback HTTPS: `devices` concurrent devices, each on its
 * own keep-alive TLS connection, registering with symmetric keys derived from one enrollment
 * group (hashed allocation over four hubs, durable store, one log entry per registration),
 * without and with a CSR issued at registration; next to the in-process issuance rate of the
 * same run. Prints nothing: returns rows for bench/run.ts.
 */
export async function benchDpsRegistration(opts: DpsBenchOptions = {}): Promise<Row[]> {
  const devices = opts.devices ?? 64;
  const seconds = opts.seconds ?? 5;
  const idCount = Math.max(devices, opts.ids ?? 4096);
  const dir = mkdtempSync(join(tmpdir(), "dpki-bench-dps-"));
  const services = openServices({ dataDir: join(dir, "data"), passphrase: "bench", keyIterations: 1000, create: true, workers: true });
  let listener: DeviceListener | undefined;
  try {
    await services.ca.init({ algorithm: "P-256", organization: "Bench", actor: "bench" });
    const admin = services.dps.admin;
    await admin.createScope({ idScope: SCOPE }, "bench");
    for (let i = 1; i <= 4; i++) await admin.createHub(SCOPE, { name: `hub-${i}`, hostName: `hub-${i}.example.net`, weight: i }, "bench");
    const group = await admin.createEnrollment(SCOPE, "group", "fleet", { attestation: { type: "symmetricKey" } }, "bench");
    const groupKey = group.keys!.primaryKey;

    const tls = await issueListenerCertificate(services.issuance, ["127.0.0.1"], "bench");
    listener = new DeviceListener({ registrations: services.dps.registrations, tls, host: "127.0.0.1", port: 0, rateLimit: false });
    const { port } = await listener.listen();
    const ca = pemEncode("CERTIFICATE", (await services.ca.root()).certDer);

    const expiry = Math.ceil(Date.now() / 1000) + 3600;
    const ids = Array.from({ length: idCount }, (_, i) => `bench-dev-${i}`);
    const tokens = ids.map((id) =>
      createSasToken({ resourceUri: `${SCOPE}/registrations/${id}`, keyName: "registration", key: deriveDeviceKey(groupKey, id), expiry }),
    );
    const csrIds = ids.slice(0, Math.min(idCount, 1024));
    const csrs = await Promise.all(csrIds.map(csrFor));

    const rows: Row[] = [];
    const run = async (name: string, withCsr: boolean) => {
      const n = withCsr ? csrIds.length : ids.length;
      const body = (i: number) => JSON.stringify(withCsr ? { registrationId: ids[i], csr: csrs[i] } : { registrationId: ids[i] });
      await load({ port, ca, devices, seconds: 1, count: n, body, tokens, ids }); // warm-up
      const r = await load({ port, ca, devices, seconds, count: n, body, tokens, ids });
      rows.push({
        case: name,
        throughput: r.throughput,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        note: r.errors ? `${r.errors} errors, first: ${r.firstError}` : undefined,
      });
    };
    await run(`DPS register, symmetric key, ${devices} devices over HTTPS`, false);
    await run(`DPS register + CSR issuance, ${devices} devices over HTTPS`, true);
    rows.push(await inProcessIssuance(services, csrs, devices, Math.min(seconds, 3)));
    return rows;
  } finally {
    await listener?.close();
    await services.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function csrFor(id: string): Promise<string> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return Buffer.from(await buildCertificateRequest(privateKey, id)).toString("base64");
}

interface LoadArgs {
  port: number;
  ca: string;
  devices: number;
  seconds: number;
  count: number;
  body: (i: number) => string;
  tokens: string[];
  ids: string[];
}

/** Closed loop: each device sends its next registration when the previous answer arrives, for a bounded time. */
function load(a: LoadArgs) {
  return runLoad({
    url: `https://127.0.0.1:${a.port}/`,
    connections: a.devices,
    seconds: a.seconds,
    ca: a.ca,
    method: "PUT",
    path: (i) => `/${SCOPE}/registrations/${a.ids[i % a.count]}/register?api-version=2019-03-31`,
    headers: (i) => ({ "content-type": "application/json; charset=utf-8", authorization: a.tokens[i % a.count]! }),
    body: (i) => a.body(i % a.count),
    accept: (status, text) => status === 200 && text.includes('"status":"assigned"'),
  });
}

/** The issuance path alone (no HTTP, no registration), same CSRs and concurrency: the reference figure. */
async function inProcessIssuance(services: Services, csrs: string[], n: number, seconds: number): Promise<Row> {
  const r = await inFlight(n, seconds, (i) =>
    services.issuance.issue({ csr: Buffer.from(csrs[i % csrs.length]!, "base64"), profile: "device", actor: "bench" }),
  );
  return { case: `issuance in-process (same run), ${n} in flight`, ...r };
}
