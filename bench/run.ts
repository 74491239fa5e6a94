import "reflect-metadata";
import { measureFloor } from "./floor.js";
import { benchInProcess } from "./in-process.js";
import { benchStages } from "./stages.js";
import { benchBatch } from "./batch.js";
import { benchHttpCompare } from "./http-compare.js";
import { benchCrl } from "./crl.js";
import { benchMemory } from "./memory.js";
import { csrPool } from "./csr-pool.js";
import { benchHttpIssuance } from "./http-issuance.js";
import { benchDpsRegistration } from "./dps-registration.js";
import { benchLifecycle } from "./lifecycle.js";
import { benchPostgres } from "./postgres.js";
import { benchLog } from "./log.js";
import { benchHsm } from "./hsm.js";
import { fmt, printTable } from "./table.js";

/**
 * `npm run bench`: every figure is printed next to a baseline measured in the same run (raw
 * signature rates, cfssl on the same machine), because absolute numbers on shared machines
 * drift. `npm run bench -- issuance http` runs only the named sections:
 * stages, issuance, batch, api, http, dps, lifecycle, crl, log, memory, hsm, pg.
 */
const wanted = new Set(process.argv.slice(2));
const want = (name: string) => wanted.size === 0 || wanted.has(name);
const say = (text: string) => process.stdout.write(text + "\n");

const { floor, rows: floorRows } = await measureFloor();
printTable("Cryptographic floor (this run): one P-256 signature + one P-256 verification per issuance", floorRows);
const floorAllCores = floor.issuancePerCore * 2;
const csrs = await csrPool(512);

// First, on a clean heap: later sections (a 1M-entry CRL among them) would inflate the baseline.
if (want("memory")) {
  const { rows, ratio } = await benchMemory(csrs);
  printTable("Memory: in-process issuance of 1,000,000 certificates", rows);
  say(`\nratio RSS after 1M / after 10k: ${ratio.toFixed(2)} (goal: within 1.5)`);
}

if (want("stages")) {
  printTable("Where the time of one issuance goes: each step timed on its own, one thread", await benchStages(csrs));
}

let inProcess = 0;
if (want("issuance")) {
  const { rows, best } = await benchInProcess(csrs);
  inProcess = best;
  printTable("In-process issuance (P-256; CSR parse + proof of possession + profile + encode + sign + durable store + log entry)", rows);
  say(
    `\nratio in-process/floor: ${(best / floorAllCores).toFixed(2)} of the two-core floor (${fmt(floorAllCores)}/s = 2 x ${fmt(floor.issuancePerCore)}/s)`,
  );
  say(
    `ratio in-process/floor with key import: ${(best / (2 * floor.withImportPerCore)).toFixed(2)} (${fmt(2 * floor.withImportPerCore)}/s on two cores)`,
  );
}

if (want("batch")) {
  const { rows, best } = await benchBatch(csrs);
  printTable("Batch issuance (factory line)", rows);
  if (inProcess) say(`\nratio batch/in-process: ${(best / inProcess).toFixed(2)}`);
}

if (want("api")) {
  const rows = await benchHttpIssuance({ csrs });
  printTable("HTTPS API issuance (POST /v1/certificates) next to in-process, same run", rows);
}

if (want("http")) {
  const result = await benchHttpCompare(csrs);
  printTable(
    `HTTP issuance: dpki (stores and logs every certificate, fsync'd) vs cfssl serve (stores nothing); plain HTTP: best of 2 rounds, servers taking turns`,
    result.rows,
  );
  if (result.cfsslSkipped) say(`\ncfssl column skipped: ${result.cfsslSkipped}`);
  for (const r of result.ratios) {
    say(`ratio dpki/cfssl at ${r.connections} conns: ${(r.dpki / r.cfssl).toFixed(2)} (${fmt(r.dpki)}/s vs ${fmt(r.cfssl)}/s)`);
  }
  for (const [c, rate] of result.dpki) say(`ratio dpki HTTP/floor at ${c} conns: ${(rate / floorAllCores).toFixed(2)}`);
}

if (want("dps")) {
  printTable("DPS device registration over HTTPS (64 devices), next to in-process issuance", await benchDpsRegistration());
}

if (want("lifecycle")) {
  printTable("OCSP and hub SAS checks, in-process and over HTTPS, next to raw signature and HMAC rates", await benchLifecycle());
}

if (want("pg")) {
  const result = await benchPostgres(csrs);
  if (result.skipped) say(`\nPostgreSQL section skipped: ${result.skipped}`);
  else {
    printTable("HTTP issuance on PostgreSQL (1 and 2 nodes on one database) next to one node on SQLite, same run", result.rows);
    for (const [c, sqlite] of result.rates.sqlite) {
      const one = result.rates.pg1.get(c)!;
      const two = result.rates.pg2.get(c)!;
      say(`ratio PostgreSQL 1 node/SQLite at ${c} conns: ${(one / sqlite).toFixed(2)} (goal: at least 0.7)`);
      say(`ratio PostgreSQL 2 nodes/1 node at ${c} conns: ${(two / one).toFixed(2)} (goal: at least 1.0)`);
    }
  }
}

if (want("hsm")) {
  const r = await benchHsm(csrs);
  if (r.skipped) say(`\nhsm section skipped: ${r.skipped}`);
  else {
    printTable(
      "Issuance with the issuing key in a PKCS#11 token (SoftHSM2), next to the token's raw sign rate and to file keys, same run",
      r.rows,
    );
    const goal = Math.min(0.8 * r.raw, 0.7 * r.file);
    say(`\nratio HSM issuance/raw PKCS#11 sign: ${(r.hsm / r.raw).toFixed(2)} (${fmt(r.hsm)}/s vs ${fmt(r.raw)}/s)`);
    say(`ratio HSM issuance/file-key issuance: ${(r.hsm / r.file).toFixed(2)} (${fmt(r.hsm)}/s vs ${fmt(r.file)}/s)`);
    say(`goal: at least the lower of 0.8 x raw and 0.7 x file = ${fmt(goal)}/s: ${r.hsm >= goal ? "met" : "NOT met"}`);
  }
}

if (want("crl")) {
  printTable("CRL generation (encode + sign)", await benchCrl());
}

if (want("log")) {
  printTable(
    "The verifiable log at 1,000,000 entries: proofs, checkpoints, offline verification; issuance with and without the tree",
    await benchLog(csrs),
  );
}
