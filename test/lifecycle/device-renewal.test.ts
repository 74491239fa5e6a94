/**
 * Renewal through the device endpoint: a device registers presenting its current certificate
 * over mTLS with a new CSR; the hub then accepts the new certificate and, after the grace
 * period, refuses the old one. An expired certificate renews only inside the window, only
 * with a CSR, and the renewal is flagged in the log.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { opensslAsync } from "../helpers/openssl-async.js";
import { startTestServer, type TestServer } from "../http/harness.js";
import { deviceCall, deviceCsr, dpsToken, startListener } from "../dps/helpers.js";

const SCOPE = "0ne00RENEW";
const HOST = "hub-1.hubs.example.net";
const DAY = 86_400_000;
let t: TestServer;
let listener: { host: string; port: number; ca: string };
let key: string;

interface Held {
  key: KeyObject;
  chain: string[];
  serial: string;
}

/** The device's PUT register: over mTLS with its current certificate when given, else with its SAS token. */
async function register(current: Held | null, csr?: string) {
  const res = await deviceCall(listener, {
    path: `/${SCOPE}/registrations/meter-1/register?api-version=2025-07-01-preview`,
    body: JSON.stringify({ registrationId: "meter-1", ...(csr ? { csr } : {}) }),
    ...(current
      ? {
          cert: current.chain
            .slice(0, 2)
            .map((b64) => pemEncode("CERTIFICATE", Buffer.from(b64, "base64")))
            .join(""),
          key: current.key,
        }
      : { headers: { authorization: dpsToken(SCOPE, "meter-1", key, Math.floor(t.clock.now().getTime() / 1000) + 3600) } }),
  });
  return res;
}

async function renew(current: Held | null): Promise<Held & { response: Awaited<ReturnType<typeof register>> }> {
  const { key: newKey, csr } = await deviceCsr("meter-1");
  const response = await register(current, csr);
  expect(response.status, response.text).toBe(200);
  const chain = response.json.registrationState.issuedCertificateChain as string[];
  return { key: newKey, chain, serial: new X509Certificate(Buffer.from(chain[0]!, "base64")).serialNumber.toLowerCase(), response };
}

function hubAuth(held: Held) {
  return t.request("POST", "/v1/hubs/hub-1/device-auth", { token: t.tokens.hub, body: { certificateChain: held.chain } });
}

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), "dpki-devrenew-"));
  mkdirSync(join(base, "data"), { recursive: true });
  writeFileSync(join(base, "data", "config.json"), JSON.stringify({ renewalGrace: "1h", expiredRenewalWindow: "30d" }));
  t = await startTestServer({ dir: base });
  const admin = t.tokens.admin;
  await t.request("POST", "/v1/scopes", { token: admin, body: { idScope: SCOPE } });
  await t.request("POST", `/v1/scopes/${SCOPE}/hubs`, { token: admin, body: { name: "hub-1", hostName: HOST } });
  const e = await t.request("POST", `/v1/scopes/${SCOPE}/enrollments`, {
    token: admin,
    body: { registrationId: "meter-1", attestation: { type: "symmetricKey" }, allocation: { policy: "static", hubs: ["hub-1"] } },
  });
  key = e.json.keys.primaryKey;
  const l = await startListener(t.services);
  listener = { host: l.host, port: l.port, ca: t.rootPem };
});
afterAll(() => t?.close());

describe("renewal through the device endpoint", () => {
  let first: Held;
  let second: Held;

  it("issues a new certificate with the same identity to a device presenting its current one, and the hub accepts it", async () => {
    first = await renew(null);
    expect((await hubAuth(first)).json).toMatchObject({ allow: true, credential: { type: "x509", issuedByDpki: true } });

    second = await renew(first);
    expect(second.serial).not.toBe(first.serial);
    expect(second.response.json.registrationState).toMatchObject({ status: "assigned", assignedHub: HOST, deviceId: "meter-1" });
    const newLeaf = new X509Certificate(Buffer.from(second.chain[0]!, "base64"));
    expect(newLeaf.subject).toBe("CN=meter-1");
    const registration = await t.request("GET", `/v1/scopes/${SCOPE}/registrations/meter-1`, { token: t.tokens.auditor });
    expect(registration.json.attestation).toMatchObject({ method: "x509", renewal: true });

    const accepted = await hubAuth(second);
    expect(accepted.json).toMatchObject({ allow: true, reason: "ok", deviceId: "meter-1", credential: { serial: second.serial } });
    // The old one is still good during the grace period, but a hub may not cache it beyond it.
    const old = await hubAuth(first);
    expect(old.json.allow).toBe(true);
    expect(old.json.cacheTtlSeconds).toBeLessThanOrEqual(60);
    const device = await t.request("GET", "/v1/hubs/hub-1/devices/meter-1", { token: t.tokens.hub });
    const certs = device.json.certificates as Array<{ serial: string; supersededAt: string | null; status: string }>;
    expect(certs.map((c) => c.serial)).toEqual([second.serial, first.serial]);
    expect(certs[1]!.supersededAt).not.toBeNull();
    expect(certs[0]!.supersededAt).toBeNull();

    const log = await t.request("GET", `/v1/audit?order=oldest&serial=${first.serial}&action=cert.renew`, { token: t.tokens.auditor });
    expect(log.json.items[0].details).toMatchObject({ renewedBy: second.serial, via: "dps", registrationId: "meter-1" });
  });

  it("refuses a second renewal of a certificate that already has a successor, before issuing anything", async () => {
    const issuedBefore = (await t.request("GET", "/v1/audit?order=oldest&action=cert.issue&limit=1000", { token: t.tokens.auditor })).json
      .items.length;
    const { csr } = await deviceCsr("meter-1");
    const again = await register(first, csr);
    expect(again.status, again.text).toBe(409);
    expect(again.json.message).toContain(`its successor is ${second.serial}`);
    const issuedAfter = (await t.request("GET", "/v1/audit?order=oldest&action=cert.issue&limit=1000", { token: t.tokens.auditor })).json
      .items.length;
    expect(issuedAfter).toBe(issuedBefore);
  });

  it("refuses the old certificate after the grace period (hub API, OCSP, CRL) while the new one stays good", async () => {
    t.clock.offsetMs = 61 * 60_000;
    try {
      const old = await hubAuth(first);
      expect(old.json).toMatchObject({ allow: false, reason: "revoked" });
      expect(old.json.message).toMatch(/superseded/);
      expect((await hubAuth(second)).json.allow).toBe(true);

      const dir = t.dir;
      const issuer = join(dir, "renew-issuer.pem");
      const oldFile = join(dir, "renew-old.pem");
      writeFileSync(issuer, pemEncode("CERTIFICATE", Buffer.from(first.chain[1]!, "base64")));
      writeFileSync(oldFile, pemEncode("CERTIFICATE", Buffer.from(first.chain[0]!, "base64")));
      const at = ["-attime", String(Math.floor(t.clock.now().getTime() / 1000)), "-validity_period", "7200"];
      const o = await opensslAsync([
        "ocsp",
        "-issuer",
        issuer,
        "-cert",
        oldFile,
        "-url",
        `https://127.0.0.1:${t.server.port}/ocsp`,
        "-CAfile",
        t.rootPemFile,
        ...at,
      ]);
      expect(o.stdout).toContain(`${oldFile}: revoked`);
      expect(o.stdout).toContain("Reason: superseded");

      // A device still holding the old certificate cannot use it to register either.
      expect((await register(first)).status).toBe(401);

      await t.services.lifecycle.renewals.sweep();
      const shown = await t.request("GET", `/v1/certificates/${first.serial}`, { token: t.tokens.auditor });
      expect(shown.json).toMatchObject({ status: "revoked", revocationReason: "superseded" });
      const feed = await t.request("GET", "/v1/hubs/hub-1/changes?limit=1000", { token: t.tokens.hub });
      expect(
        feed.json.items.filter((c: { kind: string }) => c.kind === "revoked").map((c: { details: { serial: string } }) => c.details.serial),
      ).toEqual([first.serial]);
    } finally {
      t.clock.offsetMs = 0;
    }
  });

  it("lets a certificate that expired while offline renew only inside the window, only with a CSR, flagged in the log", async () => {
    const notAfter = new Date(new X509Certificate(Buffer.from(second.chain[0]!, "base64")).validTo).getTime();
    t.clock.offsetMs = notAfter + 2 * DAY - Date.now();
    let third: Held;
    try {
      expect((await hubAuth(second)).json).toMatchObject({ allow: false, reason: "expired" });
      const plain = await register(second);
      expect(plain.status).toBe(401);
      expect(plain.text).toMatch(/only be presented to renew itself/);

      third = await renew(second);
      expect(third.response.json.registrationState.status).toBe("assigned");
      const log = await t.request("GET", `/v1/audit?order=oldest&serial=${second.serial}`, { token: t.tokens.auditor });
      const renewal = log.json.items.find((e: { action: string }) => e.action === "cert.renew");
      expect(renewal.details).toMatchObject({ expiredRenewal: true, via: "dps", renewedBy: third.serial });
      const revoked = log.json.items.find((e: { action: string }) => e.action === "cert.revoke");
      expect(revoked.details).toMatchObject({ reason: "superseded" });
      const registered = await t.request("GET", `/v1/audit?order=oldest&action=dps.register&limit=1000`, { token: t.tokens.auditor });
      const last = registered.json.items[registered.json.items.length - 1];
      expect(last.details.attestation).toMatchObject({ method: "x509", renewal: true, expiredRenewal: true });
      expect((await hubAuth(third)).json.allow).toBe(true);
    } finally {
      t.clock.offsetMs = 0;
    }

    // Past the window: refused, and nothing is issued.
    const thirdNotAfter = new Date(new X509Certificate(Buffer.from(third!.chain[0]!, "base64")).validTo).getTime();
    t.clock.offsetMs = thirdNotAfter + 31 * DAY - Date.now();
    try {
      const before = await t.services.store.countCertificates();
      const { csr } = await deviceCsr("meter-1");
      const late = await register(third!, csr);
      expect(late.status).toBe(401);
      expect(late.text).toMatch(/expired/);
      expect(await t.services.store.countCertificates()).toBe(before);
    } finally {
      t.clock.offsetMs = 0;
    }
  });
});
