/** Shared set-up for the DPS tests: a CA, a scope with hubs, a device listener and a raw HTTPS client. */
import { request } from "node:https";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll } from "vitest";
import type { Services } from "../../src/app.js";
import { servicesWithCa } from "../helpers/services.js";
import { DeviceListener, type DeviceListenerOptions } from "../../src/dps/device-listener.js";
import { issueListenerCertificate } from "../../src/dps/listener-certificate.js";
import { DpsService } from "../../src/core/dps/dps-service.js";
import { allocationPolicies } from "../../src/core/allocation/policies.js";
import type { CustomAllocationOptions } from "../../src/core/allocation/custom.js";
import { pemEncode } from "../../ca/pem.js";
import { buildCertificateRequest } from "../../ca/certificate-request-builder.js";
import { createSasToken } from "../../src/core/sas/sas.js";

export const ACTOR = "test";

export interface DpsFixture {
  services: Services;
  rootPem: string;
  idScope: string;
}

/** Services with a CA and one scope. */
export async function dpsFixture(idScope = "0ne00TEST"): Promise<DpsFixture> {
  const services = await servicesWithCa();
  await services.dps.admin.createScope({ idScope, description: "tests" }, ACTOR);
  const root = await services.ca.root();
  return { services, rootPem: pemEncode("CERTIFICATE", root.certDer), idScope };
}

/** A registration service with custom-webhook trust and the fixture's skew. */
export function registrationService(services: Services, custom: CustomAllocationOptions = {}): DpsService {
  return new DpsService({
    store: services.dps.store,
    certificates: services.store,
    issuance: services.issuance,
    ca: services.ca,
    clock: services.clock,
    allocation: allocationPolicies(custom),
    skewMs: 5 * 60_000,
  });
}

/** Starts a device listener on `host:port` (port 0 picks one) with a dpki-issued server certificate. */
export async function startListener(
  services: Services,
  options: Partial<DeviceListenerOptions> & { host?: string; names?: string[] } = {},
): Promise<{ listener: DeviceListener; port: number; host: string }> {
  const host = options.host ?? "127.0.0.1";
  const tls = await issueListenerCertificate(services.issuance, options.names ?? [host, "localhost"], ACTOR);
  const listener = new DeviceListener({
    registrations: options.registrations ?? services.dps.registrations,
    tls,
    host,
    port: options.port ?? 0,
    rateLimit: options.rateLimit ?? false,
    ...options,
  });
  const address = await listener.listen();
  afterAll(() => listener.close());
  return { listener, port: address.port, host };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** PEM client certificate chain and key. */
  cert?: string;
  key?: string | KeyObject;
  localAddress?: string;
  servername?: string;
}

/** One HTTPS request to the listener, trusting the dpki root. */
export function deviceCall(target: { host: string; port: number; ca: string }, req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = req.body ?? "";
    const r = request(
      {
        host: target.host,
        port: target.port,
        method: req.method ?? "PUT",
        path: req.path,
        ca: target.ca,
        agent: false,
        ...(req.cert
          ? { cert: req.cert, key: typeof req.key === "string" ? req.key : req.key!.export({ format: "pem", type: "pkcs8" }) }
          : {}),
        ...(req.localAddress ? { localAddress: req.localAddress } : {}),
        headers: {
          "content-type": "application/json; charset=utf-8",
          "content-length": String(Buffer.byteLength(body)),
          ...req.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown = undefined;
          try {
            json = JSON.parse(text);
          } catch {
            // left undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    r.on("error", reject);
    r.end(body);
  });
}

/** A SAS token exactly as the SDK's SymmetricKeySecurityClient makes it (raw sr). */
export function dpsToken(idScope: string, registrationId: string, key: string, expiry = Math.ceil(Date.now() / 1000 + 3600)): string {
  return createSasToken({ resourceUri: `${idScope}/registrations/${registrationId}`, keyName: "registration", key, expiry });
}

/** A fresh P-256 key and a base64 DER CSR with CN = `cn`. */
export async function deviceCsr(cn: string): Promise<{ key: KeyObject; csr: string }> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = await buildCertificateRequest(privateKey, cn);
  return { key: privateKey, csr: Buffer.from(der).toString("base64") };
}
