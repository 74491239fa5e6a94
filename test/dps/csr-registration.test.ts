/** Certificate issuance at registration: the chain verifies with openssl, obeys the profile, and is in the log with its registration. */
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pemEncode } from "../../ca/pem.js";
import { readFileSync } from "node:fs";
import { openssl, opensslCsr } from "../helpers/openssl.js";
import { stateCounts } from "../helpers/services.js";
import { tempDir } from "../helpers/temp-dir.js";
import { ACTOR, deviceCall, deviceCsr, dpsFixture, dpsToken, startListener } from "./helpers.js";

describe("CSR at registration", async () => {
  const fx = await dpsFixture("0ne00CSR1");
  const { services, idScope } = fx;
  const admin = services.dps.admin;
  const dir = tempDir();
  await admin.createHub(idScope, { name: "hub", hostName: "hub.example.net" }, ACTOR);
  const dev = await admin.createEnrollment(idScope, "individual", "meter-7", { attestation: { type: "symmetricKey" } }, ACTOR);
  const gw = await admin.createEnrollment(
    idScope,
    "individual",
    "gw-1",
    { attestation: { type: "symmetricKey" }, profile: "gateway" },
    ACTOR,
  );
  const { host, port } = await startListener(services);
  const polling = await startListener(services, { respondWithinMs: 0 });
  const target = { host, port, ca: fx.rootPem };

  const register = (id: string, key: string, body: object, t = target) =>
    deviceCall(t, {
      path: `/${idScope}/registrations/${id}/register?api-version=2025-07-01-preview`,
      body: JSON.stringify({ registrationId: id, ...body }),
      headers: { authorization: dpsToken(idScope, id, key) },
    });

  it("returns a chain (leaf first, base64 DER, no self-signed root) that openssl verifies against root.pem, under the enrollment's profile", async () => {
    const { csr } = await deviceCsr("meter-7");
    const res = await register("meter-7", dev.keys!.primaryKey, { csr });
    expect(res.status, res.text).toBe(200);
    const chain = res.json.registrationState.issuedCertificateChain as string[];
    expect(chain).toHaveLength(2);
    const pems = chain.map((b64) => pemEncode("CERTIFICATE", Buffer.from(b64, "base64")));
    const leafFile = join(dir, "leaf.pem");
    const untrusted = join(dir, "inter.pem");
    const rootFile = join(dir, "root.pem");
    writeFileSync(leafFile, pems[0]!);
    writeFileSync(untrusted, pems[1]!);
    writeFileSync(rootFile, fx.rootPem);
    expect(pems).not.toContain(fx.rootPem);
    const verify = openssl(["verify", "-CAfile", rootFile, "-untrusted", untrusted, "-purpose", "sslclient", leafFile]);
    expect(verify.stdout + verify.stderr).toContain(": OK");
    expect(verify.status).toBe(0);

    const leaf = new X509Certificate(pems[0]!);
    expect(leaf.subject).toBe("CN=meter-7");
    expect(leaf.ca).toBe(false);
    const text = openssl(["x509", "-noout", "-text", "-in", leafFile]).stdout;
    expect(text).toMatch(/Extended Key Usage:\s*\n\s*TLS Web Client Authentication\n/);
    expect(text).toMatch(/Key Usage: critical\s*\n\s*Digital Signature\n/);
    const days = (new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(365);
  });

  it("logs the issuance with the registration that caused it", async () => {
    const { csr } = await deviceCsr("meter-7");
    const res = await register("meter-7", dev.keys!.primaryKey, { csr });
    const reg = await admin.getRegistration(idScope, "meter-7");
    const serial = reg.issuedSerial!;
    expect(
      new X509Certificate(Buffer.from(res.json.registrationState.issuedCertificateChain[0], "base64")).serialNumber.toLowerCase(),
    ).toBe(serial);
    const entries = (await services.audit.list({ serial }, null, 100)).items;
    const issue = entries.find((e) => e.action === "cert.issue")!;
    const registered = entries.find((e) => e.action === "dps.register")!;
    expect(issue.details).toMatchObject({
      registrationId: "meter-7",
      idScope,
      enrollment: "individual:meter-7",
      operationId: res.json.operationId,
    });
    expect(issue.actor).toBe(`dps:${idScope}/meter-7`);
    expect(issue.profile).toBe("device");
    expect(registered.details).toMatchObject({
      registrationId: "meter-7",
      status: "assigned",
      assignedHub: "hub.example.net",
      operationId: res.json.operationId,
    });
    expect(registered.seq).toBeGreaterThan(issue.seq);
    expect((await services.audit.verify()).ok).toBe(true);
  });

  it("lists the registration by its hub's name as well as its host name", async () => {
    for (const hub of ["hub", "hub.example.net", "HUB"]) {
      const page = await admin.listRegistrations(idScope, { assignedHub: hub });
      expect(page.items.map((r) => r.registrationId)).toContain("meter-7");
    }
    expect((await admin.listRegistrations(idScope, { assignedHub: "other" })).items).toEqual([]);
  });

  it("issues under the enrollment's own profile (gateway: serverAuth too)", async () => {
    const { csr } = await deviceCsr("gw-1");
    const res = await register("gw-1", gw.keys!.primaryKey, { csr });
    expect(res.status).toBe(200);
    const leaf = Buffer.from(res.json.registrationState.issuedCertificateChain[0], "base64");
    const text = openssl(["x509", "-noout", "-text", "-inform", "DER"], leaf).stdout;
    expect(text).toContain("TLS Web Server Authentication");
  });

  it("returns the chain on the poll too", async () => {
    const { csr } = await deviceCsr("meter-7");
    const put = await register("meter-7", dev.keys!.primaryKey, { csr }, { host: polling.host, port: polling.port, ca: fx.rootPem });
    expect(put.status).toBe(202);
    expect(put.headers["retry-after"]).toBe("1");
    expect(put.json).toEqual({ operationId: expect.any(String), status: "assigning" });
    let get;
    for (let i = 0; i < 50; i++) {
      get = await deviceCall(
        { host: polling.host, port: polling.port, ca: fx.rootPem },
        {
          method: "GET",
          path: `/${idScope}/registrations/meter-7/operations/${put.json.operationId}`,
          body: "{}",
          headers: { authorization: dpsToken(idScope, "meter-7", dev.keys!.primaryKey) },
        },
      );
      if (get.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(get!.status).toBe(200);
    expect(get!.json.registrationState.issuedCertificateChain).toHaveLength(2);
  });

  for (const [what, make, message] of [
    ["a CN other than the registration id", () => deviceCsr("meter-8").then((r) => r.csr), 'CN must equal "meter-7"'],
    [
      "a key the profile refuses (P-521)",
      async () => {
        const pem = readFileSync(opensslCsr(dir, "p521", { key: "ec-p521", subject: "/CN=meter-7" }), "utf8");
        return pem.replace(/-----[A-Z ]+-----|\s/g, "");
      },
      "EC curve P-521",
    ],
    [
      "a CSR whose signature does not verify",
      async () => {
        const der = Buffer.from((await deviceCsr("meter-7")).csr, "base64");
        der[der.length - 5] ^= 0xff;
        return der.toString("base64");
      },
      "",
    ],
  ] as const) {
    it(`refuses ${what}: 400, no certificate, no registration change`, async () => {
      const before = await stateCounts(services);
      const regBefore = await admin.getRegistration(idScope, "meter-7");
      const res = await register("meter-7", dev.keys!.primaryKey, { csr: await make() });
      expect(res.status, res.text).toBe(400);
      expect(res.json.errorCode).toBe(400004);
      if (message) expect(res.json.message).toContain(message);
      expect(await stateCounts(services)).toEqual(before);
      expect(await admin.getRegistration(idScope, "meter-7")).toEqual(regBefore);
    });
  }
});
