import "reflect-metadata";
import { measureFloor } from "./floor.js";
import { benchInProcess } from "./in-process.js";
import { benchCrl } from "./crl.js";
import { csrPool } from "./csr-pool.js";
import { fmt, printTable } from "./table.js";

/**
 * `npm run bench`: every figure is printed next to a baseline measured in the same run
 * (raw signature rates), because absolute numbers on shared machines drift.
 * `npm run bench -- issuance crl` runs only the named sections.
 */
const wanted = new Set(process.argv.slice(2));
const want = (name: string) => wanted.size === 0 || wanted.has(name);

const { floor, rows: floorRows } = await measureFloor();
printTable("Cryptographic floor (this run)", floorRows);

if (want("issuance")) {
  const csrs = await csrPool(256);
  const { rows, best } = await benchInProcess(csrs);
  printTable("In-process issuance (P-256, durable store + log entry)", rows);
  process.stdout.write(
    `\nratio issuance/floor: ${(best / floor.issuancePerCore).toFixed(2)} of one core's floor (${fmt(floor.issuancePerCore)}/s), ` +
      `${(best / floor.issuanceAllCores).toFixed(2)} of the all-core floor (${fmt(floor.issuanceAllCores)}/s)\n`,
  );
}

if (want("crl")) {
  printTable("CRL generation", await benchCrl());
}
