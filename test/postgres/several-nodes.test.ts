/**
 * Several `dpki serve` processes on one PostgreSQL database, each a node as an operator runs
 * it: the same data directory contents (config and CA keys), --database on every command.
 * What one node writes, the others answer with at once; nothing a client was given is lost
 * when a node dies; the issuance log stays one verifiable sequence.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { createSasToken, encodeUriComponentStrict } from "../../src/core/sas/sas.js";
import { dpki, dpkiAsync } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/openssl.js";
import { opensslAsync } from "../helpers/openssl-async.js";
import { tempDir } from "../helpers/temp-dir.js";
import { createDatabase, describePg, PG_DISABLED } from "../helpers/postgres.js";
import { api, get, startNode, type ServeNode } from "../helpers/nodes.js";
import { deviceCall, deviceCsr, dpsToken, type RawResponse } from "../dps/helpers.js";

const SCOPE = "0ne00NODES";
const HUB_HOST = "hub-1.hubs.example.net";

let work: string;
let env: Record<string, string>;
let url: string;
let nodes: ServeNode[] = [];
let admin: string;
let hubToken: string;
let csrs: string[];
let db: pg.Client;

const cli = (...args: string[]) => {
  const r = dpki([...args, "--json"], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  if (PG_DISABLED) return;
  work = tempDir();
  url = await createDatabase();
  env = { DPKI_HOME: join(work, "ca"), DPKI_PASSPHRASE: "several nodes", DPKI_DATABASE_URL: url };
  expect(dpki(["init"], { env }).status).toBe(0);
  // Checkpoints signed often, by whichever node's timer fires: they must all agree with one tree.
  const configFile = join(env.DPKI_HOME!, "config.json");
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), checkpointInterval: "1s" }));
  cli("scope", "add", SCOPE);
  cli("hub", "add", "hub-1", "--host-name", HUB_HOST, "--scope", SCOPE);
  admin = cli("token", "create", "--role", "admin", "--name", "ops").secret;
  hubToken = cli("token", "create", "--role", "hub", "--name", "hub-1", "--hub", "hub-1", "--scope", SCOPE).secret;
  csrs = Array.from({ length: 12 }, (_, i) => readFileSync(opensslCsr(work, `d${i}`, { subject: `/CN=node-dev-${i}` }), "utf8"));
  // The first self-issues the device endpoint's certificate into the shared directory; the others reuse it.
  nodes.push(await startNode(env, { dps: true }));
  nodes.push(...(await Promise.all([startNode(env, { dps: true }), startNode(env)])));
  db = new pg.Client({ connectionString: url });
  await db.connect();
}, 300_000);

afterAll(async () => {
  await db?.end();
  await Promise.all(nodes.map((n) => n.stop()));
});

const issue = (node: ServeNode, token: string, i: number) =>
  api(node, "POST", "/v1/certificates", token, { csr: csrs[i % csrs.length], profile: "device" });

/** Polls `check` until it holds; returns how long that took after `since`, or throws at `limitMs`. */
async function within(limitMs: number, since: number, check: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await check()) return Date.now() - since;
    if (Date.now() - since > limitMs) throw new Error(`not seen within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function crlOf(node: ServeNode): Promise<{ number: number; serials: string[] }> {
  const res = await get(`${node.api}/v1/crl`);
  const file = join(work, `crl-${Date.now()}-${Math.random()}.der`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const out = await opensslAsync(["crl", "-inform", "DER", "-in", file, "-noout", "-crlnumber", "-text"]);
  const number = Number.parseInt(/crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(out.stdout)![1]!, 16);
  const serials = [...out.stdout.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => m[1]!.toLowerCase());
  return { number, serials };
}

/** A DPS registration, following its operation when the node answers 202 (busy machines take longer than 2 s). */
async function register(node: ServeNode, registrationId: string, key: string, body: Record<string, unknown>): Promise<RawResponse> {
  const target = { ...node.dps!, ca: await (await get(`${nodes[0]!.api}/v1/ca/root.pem`)).text() };
  const headers = { authorization: dpsToken(SCOPE, registrationId, key) };
  let res = await deviceCall(target, {
    path: `/${SCOPE}/registrations/${registrationId}/register?api-version=2021-06-01`,
    body: JSON.stringify({ registrationId, ...body }),
    headers,
  });
  for (let i = 0; res.status === 202 && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 200));
    res = await deviceCall(target, {
      method: "GET",
      path: `/${SCOPE}/registrations/${registrationId}/operations/${res.json.operationId}?api-version=2021-06-01`,
      headers,
    });
    if (res.status === 200 && res.json.status === "assigning") res = { ...res, status: 202 };
  }
  return res;
}

async function verifyLog(): Promise<void> {
  const verify = await dpkiAsync(["audit", "verify", "--json"], { env });
  expect(JSON.parse(verify.stdout), verify.stderr).toMatchObject({ ok: true });
}

describePg("several dpki nodes on one PostgreSQL database", () => {
  it("issues from three nodes at once: serials unique, every answered certificate stored and logged once, one verifiable log", async () => {
    const factory = cli("token", "create", "--role", "factory", "--profiles", "device", "--name", "line-1").secret as string;
    const answered: string[] = [];
    await Promise.all(
      nodes.flatMap((node, n) =>
        Array.from({ length: 6 }, async (_, c) => {
          for (let i = 0; i < 4; i++) {
            const res = await issue(node, factory, n * 100 + c * 10 + i);
            expect(res.status, res.text).toBe(201);
            answered.push(res.json.certificate.serial);
          }
        }),
      ),
    );
    expect(answered).toHaveLength(3 * 6 * 4);
    expect(new Set(answered).size).toBe(answered.length);
    const stored = (await db.query<{ serial: string }>("SELECT serial FROM certificates WHERE requester = 'token:line-1'")).rows.map(
      (r) => r.serial,
    );
    expect(stored.sort()).toEqual([...answered].sort());
    const logged = (
      await db.query<{ serial: string }>("SELECT serial FROM audit_log WHERE action = 'cert.issue' AND actor = 'token:line-1'")
    ).rows;
    expect(logged.map((r) => r.serial).sort()).toEqual([...answered].sort());
    await verifyLog();
    // Each node extends the Merkle tree and signs checkpoints on its own timer: one tree, one key.
    await new Promise((r) => setTimeout(r, 1500));
    const checkpoints = (await db.query<{ size: number }>("SELECT size FROM log_checkpoints ORDER BY size")).rows;
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const node of nodes) {
      const proof = await api(node, "GET", `/v1/audit/proof?serial=${answered[0]}`, admin);
      expect(proof.status, proof.text).toBe(200);
    }
  });

  it("puts a revocation made on one node in another's next CRL, OCSP answer and device auth within a second", async () => {
    const deviceKey = cli("enrollment", "add", "meter-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE).keys
      .primaryKey;
    const ca = await (await get(`${nodes[0]!.api}/v1/ca/root.pem`)).text();
    const { csr } = await deviceCsr("meter-1");
    const reg = await register(nodes[0]!, "meter-1", deviceKey, { csr });
    expect(reg.status, reg.text).toBe(200);
    const chain = reg.json.registrationState.issuedCertificateChain as string[];
    const certFile = join(work, "meter-1.pem");
    const issuerFile = join(work, "issuer.pem");
    const rootFile = join(work, "root.pem");
    const pem = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    writeFileSync(certFile, pem(chain[0]!));
    writeFileSync(issuerFile, pem(chain[1]!));
    writeFileSync(rootFile, ca);
    const serial = (await opensslAsync(["x509", "-in", certFile, "-noout", "-serial"])).stdout.trim().split("=")[1]!.toLowerCase();

    const [a, b, c] = nodes as [ServeNode, ServeNode, ServeNode];
    const ocsp = async (node: ServeNode) =>
      (await opensslAsync(["ocsp", "-issuer", issuerFile, "-cert", certFile, "-url", `${node.api}/ocsp`, "-CAfile", rootFile, "-no_nonce"]))
        .stdout;
    const deviceAuth = (node: ServeNode) =>
      api(node, "POST", "/v1/hubs/hub-1/device-auth", hubToken, { certificateChain: chain.slice(0, 2) });
    // Node B has served (and cached) its CRL and answered for the certificate before the revocation.
    expect((await crlOf(b)).serials).not.toContain(serial.replace(/^0+/, ""));
    expect(await ocsp(b)).toMatch(/: good/);
    expect((await deviceAuth(b)).json).toMatchObject({ allow: true });

    const revoked = await api(a, "POST", `/v1/certificates/${serial}/revoke`, admin, { reason: "keyCompromise" });
    expect(revoked.status, revoked.text).toBe(200);
    const at = Date.now();
    expect((await deviceAuth(b)).json).toMatchObject({ allow: false, reason: "revoked" });
    expect(await ocsp(b)).toMatch(/: revoked/);
    await within(1000, at, async () => (await crlOf(b)).serials.includes(serial.replace(/^0+/, "")));
    await within(1000, at, async () => (await crlOf(c)).serials.includes(serial.replace(/^0+/, "")));
  });

  it("only ever raises the CRL number, whichever node publishes", async () => {
    const factory = cli("token", "create", "--role", "factory", "--profiles", "device", "--name", "line-crl").secret as string;
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const node = nodes[i % 3]!;
      const cert = await issue(node, factory, i);
      await api(nodes[(i + 1) % 3]!, "POST", `/v1/certificates/${cert.json.certificate.serial}/revoke`, admin, { reason: "superseded" });
      // Two nodes asked at once for the now stale CRL: both may sign one; numbers must still only go up.
      const [x, y] = await Promise.all([crlOf(nodes[(i + 2) % 3]!), crlOf(node)]);
      seen.push(x.number, y.number);
    }
    const published = (
      await db.query<{ n: string }>("SELECT details FROM audit_log WHERE action = 'crl.publish' ORDER BY seq").then((r) => r.rows)
    ).map((r) => Number((JSON.parse((r as unknown as { details: string }).details) as { number: string }).number));
    expect(published.every((n, i) => i === 0 || n > published[i - 1]!)).toBe(true);
    expect(Math.max(...seen)).toBe(published[published.length - 1]);
  });

  it("applies factory quotas, token revocations, enrollment changes and key rotations on every node at once", async () => {
    const [a, b, c] = nodes as [ServeNode, ServeNode, ServeNode];
    // A quota of 6 a day, spent through three nodes at once: exactly 6 issued, the rest refused.
    const quota = cli("token", "create", "--role", "factory", "--profiles", "device", "--name", "line-q", "--quota", "6");
    const results = await Promise.all(Array.from({ length: 18 }, (_, i) => issue(nodes[i % 3]!, quota.secret, i)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(6);
    expect(results.filter((r) => r.status === 429)).toHaveLength(12);

    // A token revoked on A is refused by B and C on their very next request.
    const doomed = cli("token", "create", "--role", "factory", "--profiles", "device", "--name", "line-r");
    expect((await issue(b, doomed.secret, 1)).status).toBe(201);
    expect((await api(a, "POST", `/v1/tokens/${doomed.token.id}/revoke`, admin)).status).toBe(200);
    expect((await issue(b, doomed.secret, 2)).status).toBe(401);
    expect((await issue(c, doomed.secret, 3)).status).toBe(401);

    // A device with a symmetric key, registered through A: B answers for its SAS tokens.
    const keys = cli("enrollment", "add", "valve-1", "--attestation", "symmetric-key", "--hub", "hub-1", "--scope", SCOPE).keys;
    const reg = await register(a, "valve-1", keys.primaryKey, {});
    expect(reg.status, reg.text).toBe(200);
    const sas = (key: string) =>
      createSasToken({
        resourceUri: encodeUriComponentStrict(`${HUB_HOST}/devices/valve-1`),
        key,
        keyName: null,
        expiry: Math.ceil(Date.now() / 1000) + 3600,
      });
    const auth = (node: ServeNode, key: string) =>
      api(node, "POST", "/v1/hubs/hub-1/device-auth", hubToken, { deviceId: "valve-1", sasToken: sas(key) }).then((r) => r.json);
    expect(await auth(b, keys.primaryKey)).toMatchObject({ allow: true });

    // The primary key rotated through A: B refuses the old one and takes the new one at once.
    const rotated = await dpkiAsync(
      [
        "key",
        "rotate",
        "--enrollment",
        "valve-1",
        "--key",
        "primary",
        "--yes",
        "--scope",
        SCOPE,
        "--json",
        "--server",
        a.api,
        "--token",
        admin,
      ],
      { env },
    );
    expect(rotated.status, rotated.stderr).toBe(0);
    const fresh = JSON.parse(rotated.stdout).primaryKey as string;
    expect(await auth(b, keys.primaryKey)).toMatchObject({ allow: false });
    expect(await auth(c, fresh)).toMatchObject({ allow: true });

    // A `dpki dps serve` node on the same database takes the new key at once too.
    const devices = await startNode(env, { dpsOnly: true });
    try {
      const withNew = await register(devices, "valve-1", fresh, {});
      expect(withNew.json?.registrationState?.status, withNew.text).toBe("assigned");
      expect((await register(devices, "valve-1", keys.primaryKey, {})).status).toBe(401);
    } finally {
      await devices.stop();
    }

    // Disabled through A: refused by B at once, and its DPS registration on B too.
    const disabled = await dpkiAsync(["enrollment", "disable", "valve-1", "--scope", SCOPE, "--server", a.api, "--token", admin], { env });
    expect(disabled.status, disabled.stderr).toBe(0);
    expect(await auth(b, fresh)).toMatchObject({ allow: false });
    const again = await register(b, "valve-1", fresh, {});
    expect(again.json?.registrationState?.status, again.text).toBe("disabled");
  });

  it("loses nothing answered when one node is killed under load, and the others keep serving", async () => {
    const factory = cli("token", "create", "--role", "factory", "--profiles", "device", "--name", "line-k").secret as string;
    const answered: string[] = [];
    const afterKill: string[] = [];
    let killedAt = 0;
    let stop = false;
    const victim = nodes[2]!;
    const load = (node: ServeNode, n: number) =>
      (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const res = await issue(node, factory, n * 37 + i);
            if (res.status === 201) {
              answered.push(res.json.certificate.serial);
              if (killedAt && node !== victim) afterKill.push(res.json.certificate.serial);
            }
          } catch {
            if (node === victim) return; // its connections died with it
            throw new Error("a surviving node stopped answering");
          }
        }
      })();
    const clients = nodes.flatMap((node, n) => Array.from({ length: 8 }, (_, c) => load(node, n * 8 + c)));
    await new Promise((r) => setTimeout(r, 1500));
    await victim.kill();
    killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await Promise.all(clients);
    nodes = nodes.filter((n) => n !== victim);
    expect(afterKill.length).toBeGreaterThan(10);

    const stored = new Set((await db.query<{ serial: string }>("SELECT serial FROM certificates")).rows.map((r) => r.serial));
    const logged = new Set(
      (await db.query<{ serial: string }>("SELECT serial FROM audit_log WHERE action = 'cert.issue'")).rows.map((r) => r.serial),
    );
    expect(answered.filter((s) => !stored.has(s) || !logged.has(s))).toEqual([]);
    expect([...stored].filter((s) => !logged.has(s))).toEqual([]);
    await verifyLog();
    // The survivors still answer, and are ready.
    for (const node of nodes) expect((await get(`${node.api}/readyz`)).status).toBe(200);
  });
});
