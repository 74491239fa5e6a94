import { ensureCfssl, startCfssl } from "./cfssl.js";
import { startDpkiServer } from "./dpki-server.js";
import { loadRow, runLoad, type LoadOptions, type LoadResult } from "./load.js";
import type { ProcStats } from "./proc-stats.js";
import type { Row } from "./table.js";

export interface CompareResult {
  rows: Row[];
  /** dpki/cfssl throughput by connection count; empty when cfssl could not run. */
  ratios: Array<{ connections: number; dpki: number; cfssl: number }>;
  /** Best dpki plain-HTTP throughput by connection count. */
  dpki: Map<number, number>;
  cfsslSkipped?: string;
}

/** Rounds per case: the two servers take turns, so drift on a shared machine hits both alike. */
const ROUNDS = 2;
/**
 * Seconds of load before dpki's first measured round. V8 keeps compiling the hot path on its
 * helper threads for a few seconds: after one second of warm-up they still took ~60 µs of CPU
 * per certificate in the next round, ~5 µs once settled. cfssl (compiled ahead) needs none.
 */
const WARM_UP_SECONDS = 3;

/**
 * HTTP issuance, dpki against `cfssl serve`, on the same machine in the same run, same CSRs
 * and the same load generator. cfssl signs and forgets; dpki also stores every certificate
 * and its log entry durably before answering. Both over plain HTTP for an even comparison
 * (cfssl serve speaks no TLS here), taking turns round by round and keeping each one's best
 * round; then dpki over HTTPS, its default.
 */
export async function benchHttpCompare(csrs: string[], seconds = 4, connections = [16, 64]): Promise<CompareResult> {
  const rows: Row[] = [];
  const dpki = new Map<number, number>();
  const ratios: CompareResult["ratios"] = [];
  const available = ensureCfssl();
  const cfssl = available.ok ? await startCfssl(18_462) : undefined;
  const plain = await startDpkiServer(18_460, { https: false });
  const dpkiLoad = (server: typeof plain, c: number): LoadOptions => ({
    url: `${server.url}/v1/certificates`,
    connections: c,
    seconds,
    ca: server.rootPem || undefined,
    headers: { authorization: `Bearer ${server.token}` },
    body: (i) => JSON.stringify({ csr: csrs[i % csrs.length], profile: "device" }),
    accept: (status) => status === 201,
  });
  try {
    await runLoad({ ...dpkiLoad(plain, 16), seconds: WARM_UP_SECONDS });
    for (const c of connections) {
      const ours: Measured[] = [];
      const theirs: Measured[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ours.push(await measured(plain, dpkiLoad(plain, c)));
        if (cfssl) {
          theirs.push(
            await measured(cfssl, {
              url: `${cfssl.url}/api/v1/cfssl/sign`,
              connections: c,
              seconds,
              body: (i) => JSON.stringify({ certificate_request: csrs[i % csrs.length] }),
              accept: (status, body) => status === 200 && body.includes('"success":true'),
            }),
          );
        }
      }
      const best = bestOf(ours);
      dpki.set(c, best.result.throughput);
      rows.push(row(`dpki serve HTTP, ${c} conns`, best, plain));
      if (cfssl) {
        const other = bestOf(theirs);
        rows.push(row(`cfssl serve HTTP, ${c} conns (no store)`, other, cfssl));
        ratios.push({ connections: c, dpki: best.result.throughput, cfssl: other.result.throughput });
      }
    }
  } finally {
    await plain.stop();
    await cfssl?.stop();
  }

  const tls = await startDpkiServer(18_461, { https: true });
  try {
    await runLoad({ ...dpkiLoad(tls, 16), seconds: WARM_UP_SECONDS });
    for (const c of connections) rows.push(row(`dpki serve HTTPS, ${c} conns`, await measured(tls, dpkiLoad(tls, c)), tls));
  } finally {
    await tls.stop();
  }
  return { rows, ratios, dpki, cfsslSkipped: available.ok ? undefined : available.why };
}

interface Measured {
  result: LoadResult;
  cpuPerRequest: number;
}

async function measured(server: ProcStats, load: LoadOptions): Promise<Measured> {
  const cpu0 = server.cpuMicros();
  const result = await runLoad(load);
  return { result, cpuPerRequest: (server.cpuMicros() - cpu0) / Math.max(1, result.requests) };
}

function bestOf(rounds: Measured[]): Measured {
  return rounds.reduce((a, b) => (b.result.throughput > a.result.throughput ? b : a));
}

function row(name: string, m: Measured, server: ProcStats): Row {
  const r = loadRow(name, m.result, server.peakRssMb());
  r.note = [r.note, `server CPU ${Math.round(m.cpuPerRequest)} µs/cert`].filter(Boolean).join("; ");
  return r;
}
