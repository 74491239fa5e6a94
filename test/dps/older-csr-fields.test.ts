/**
 * The older DPS certificate fields IoT Edge's identity service (aziot-identityd) uses, through
 * `dpki dps serve` in its own process: `clientCertificateCsr` (base64 DER PKCS#10, CN = the
 * registration id) in the register body, answered with `issuedClientCertificate` (PEM, leaf
 * first) and a `trustBundle` of the roots; today's `csr` → `issuedCertificateChain` beside it.
 * CSRs come from openssl, and what comes back is checked with openssl.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { initDataDir } from "../helpers/data-dir.js";
import { startNode, type ServeNode } from "../helpers/nodes.js";
import { openssl, opensslCsr, pemBlocks } from "../helpers/openssl.js";
import { deviceCall, dpsToken } from "./helpers.js";

const SCOPE = "0ne00EDGE1";
const API = "?api-version=2021-11-01-preview";

let env: Record<string, string>;
let node: ServeNode;
let polling: ServeNode;
let rootPem: string;
let key: string;
const dir = tempDir();

const cli = (...args: string[]) => {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  env = { DPKI_HOME: join(dir, "ca"), DPKI_PASSPHRASE: "edge fields" };
  await initDataDir(env.DPKI_HOME!, { passphrase: env.DPKI_PASSPHRASE! });
  // Every refusal here comes from one address: log each one.
  const configFile = join(env.DPKI_HOME!, "config.json");
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), refusalLogPerSource: 1000 }));
  cli("scope", "add", SCOPE);
  cli("hub", "add", "edge-hub", "--host-name", "edge-hub.hubs.example.net", "--scope", SCOPE);
  key = cli("enrollment", "add", "edge-gw-1", "--attestation", "symmetric-key", "--hub", "edge-hub", "--scope", SCOPE).keys.primaryKey;
  [node, polling] = await Promise.all([startNode(env, { dpsOnly: true }), startNode(env, { dpsOnly: true, args: ["--respond-within", "0"] })]);
  rootPem = readFileSync(join(env.DPKI_HOME!, "root.pem"), "utf8");
});

afterAll(async () => {
  await Promise.all([node?.stop(), polling?.stop()]);
});

/** A base64 DER CSR made by openssl, as aziot-identityd makes it (EC P-256, subject CN only). */
function opensslDerCsr(name: string, cn: string): string {
  const pem = readFileSync(opensslCsr(dir, name, { key: "ec-p256", subject: `/CN=${cn}` }), "utf8");
  return pem.replace(/-----[A-Z ]+-----|\s/g, "");
}

function register(body: object, target = node) {
  return deviceCall(
    { ...target.dps!, ca: rootPem },
    {
      path: `/${SCOPE}/registrations/edge-gw-1/register${API}`,
      body: JSON.stringify({ registrationId: "edge-gw-1", ...body }),
      headers: { authorization: dpsToken(SCOPE, "edge-gw-1", key) },
    },
  );
}

function refusals(): Array<{ details: Record<string, unknown> }> {
  return cli("audit", "log", "--action", "dps.register.refuse").items;
}

describe("clientCertificateCsr (IoT Edge's identity service)", () => {
  it("answers issuedClientCertificate (PEM, leaf then issuing CA) that openssl verifies against the trust bundle's root", async () => {
    const res = await register({ clientCertificateCsr: opensslDerCsr("edge", "edge-gw-1") });
    expect(res.status, res.text).toBe(200);
    const state = res.json.registrationState;
    expect(res.json.status).toBe("assigned");
    expect(state).toMatchObject({ registrationId: "edge-gw-1", assignedHub: "edge-hub.hubs.example.net", deviceId: "edge-gw-1" });
    expect(state.issuedCertificateChain).toBeUndefined();
    expect(typeof state.issuedClientCertificate).toBe("string");
    const blocks = pemBlocks(state.issuedClientCertificate);
    expect(blocks).toHaveLength(2);
    expect(new X509Certificate(blocks[0]!).subject).toBe("CN=edge-gw-1");

    const bundle = state.trustBundle.certificates as Array<{ certificate: string; metadata: Record<string, unknown> }>;
    expect(bundle).toHaveLength(1);
    expect(bundle[0]!.certificate.trim()).toBe(rootPem.trim());
    const leafFile = join(dir, "edge-leaf.pem");
    const interFile = join(dir, "edge-inter.pem");
    const bundleFile = join(dir, "edge-bundle.pem");
    writeFileSync(leafFile, blocks[0]!);
    writeFileSync(interFile, blocks[1]!);
    writeFileSync(bundleFile, bundle[0]!.certificate);
    const verify = openssl(["verify", "-CAfile", bundleFile, "-untrusted", interFile, "-purpose", "sslclient", leafFile]);
    expect(verify.stdout + verify.stderr).toContain(": OK");

    // The metadata beside each bundle certificate, as openssl reads the certificate.
    const fingerprint = (alg: string) =>
      openssl(["x509", "-noout", "-fingerprint", `-${alg}`, "-in", bundleFile])
        .stdout.split("=")[1]!
        .trim()
        .replace(/:/g, "");
    const serial = openssl(["x509", "-noout", "-serial", "-in", bundleFile]).stdout.split("=")[1]!.trim();
    const root = new X509Certificate(rootPem);
    expect(bundle[0]!.metadata).toEqual({
      subjectName: root.subject.split("\n").join(", "),
      sha1Thumbprint: fingerprint("sha1"),
      sha256Thumbprint: fingerprint("sha256"),
      issuerName: root.issuer.split("\n").join(", "),
      notBeforeUtc: new Date(root.validFrom).toISOString().replace(/\.000Z$/, "Z"),
      notAfterUtc: new Date(root.validTo).toISOString().replace(/\.000Z$/, "Z"),
      serialNumber: expect.any(String),
      version: 3,
    });
    expect((bundle[0]!.metadata.serialNumber as string).replace(/^0+/, "")).toBe(serial.replace(/^0+/, ""));

    // The registration names the certificate, and the log has its issuance.
    const reg = cli("registration", "show", "edge-gw-1", "--scope", SCOPE);
    expect(new X509Certificate(blocks[0]!).serialNumber.toLowerCase()).toBe(reg.issuedSerial);
    expect(cli("audit", "log", "--serial", reg.issuedSerial).items.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(["cert.issue", "dps.register"]),
    );
  });

  it("answers in the same format on the poll (202 first, as Azure DPS does)", async () => {
    const put = await register({ clientCertificateCsr: opensslDerCsr("edge-poll", "edge-gw-1") }, polling);
    expect(put.status, put.text).toBe(202);
    let get;
    for (let i = 0; i < 100; i++) {
      get = await deviceCall(
        { ...polling.dps!, ca: rootPem },
        {
          method: "GET",
          path: `/${SCOPE}/registrations/edge-gw-1/operations/${put.json.operationId}${API}`,
          headers: { authorization: dpsToken(SCOPE, "edge-gw-1", key) },
        },
      );
      if (get.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(get!.status, get!.text).toBe(200);
    expect(pemBlocks(get!.json.registrationState.issuedClientCertificate)).toHaveLength(2);
    expect(get!.json.registrationState.trustBundle.certificates).toHaveLength(1);
    expect(get!.json.registrationState.issuedCertificateChain).toBeUndefined();
  });

  it("keeps today's csr answered with issuedCertificateChain (base64 DER) and no trust bundle", async () => {
    const res = await register({ csr: opensslDerCsr("today", "edge-gw-1") });
    expect(res.status, res.text).toBe(200);
    expect(res.json.registrationState.issuedCertificateChain).toHaveLength(2);
    expect(res.json.registrationState.issuedClientCertificate).toBeUndefined();
    expect(res.json.registrationState.trustBundle).toBeUndefined();
  });

  for (const [what, body, message] of [
    ["both fields at once", () => ({ csr: opensslDerCsr("b1", "edge-gw-1"), clientCertificateCsr: opensslDerCsr("b2", "edge-gw-1") }), "not both"],
    [
      "a PEM-armoured clientCertificateCsr",
      () => ({ clientCertificateCsr: readFileSync(opensslCsr(dir, "pem", { subject: "/CN=edge-gw-1" }), "utf8") }),
      "clientCertificateCsr must be a base64 DER PKCS#10",
    ],
    ["a clientCertificateCsr that is base64 but no CSR", () => ({ clientCertificateCsr: Buffer.from("not a csr").toString("base64") }), ""],
    ["a clientCertificateCsr for another CN", () => ({ clientCertificateCsr: opensslDerCsr("other", "edge-gw-2") }), 'CN must equal "edge-gw-1"'],
    ["a clientCertificateCsr that is not a string", () => ({ clientCertificateCsr: 42 }), "clientCertificateCsr must be"],
  ] as const) {
    it(`refuses ${what}: 400 400004, nothing issued, the registration unchanged, a refusal entry`, async () => {
      const before = cli("registration", "show", "edge-gw-1", "--scope", SCOPE);
      const certs = cli("cert", "list", "--limit", "1000").items.length;
      const refused = refusals().length;
      const res = await register(body());
      expect(res.status, res.text).toBe(400);
      expect(res.json.errorCode).toBe(400004);
      if (message) expect(res.json.message).toContain(message);
      expect(cli("registration", "show", "edge-gw-1", "--scope", SCOPE)).toEqual(before);
      expect(cli("cert", "list", "--limit", "1000").items.length).toBe(certs);
      const after = refusals();
      // One entry per refused request (a refused CSR was once logged twice, by the flow and again by the listener).
      expect(after.length).toBe(refused + 1);
      expect(after[0]!.details).toMatchObject({ idScope: SCOPE, registrationId: "edge-gw-1", stage: "register" });
    });
  }
});
