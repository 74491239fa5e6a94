import { ensureCfssl, startCfssl } from "./cfssl.js";
import { startDpkiServer } from "./dpki-server.js";
import { loadRow, runLoad, type LoadResult } from "./load.js";
import type { Row } from "./table.js";

export interface CompareResult {
  rows: Row[];
  /** dpki/cfssl throughput by connection count; empty when cfssl could not run. */
  ratios: Array<{ connections: number; dpki: number; cfssl: number }>;
  cfsslSkipped?: string;
}

/**
 * HTTP issuance, dpki against `cfssl serve`, on the same machine in the same run, same CSRs
 * and the same load generator. cfssl signs and forgets; dpki also stores every certificate
 * and its log entry durably before answering. Both over plain HTTP for an even comparison
 * (cfssl serve speaks no TLS here), plus dpki over HTTPS, its default.
 */
export async function benchHttpCompare(csrs: string[], seconds = 5, connections = [16, 64]): Promise<CompareResult> {
  const rows: Row[] = [];
  const dpkiRates = new Map<number, number>();
  for (const https of [false, true]) {
    const server = await startDpkiServer(https ? 18_461 : 18_460, { https });
    try {
      for (const c of connections) {
        const cpu0 = server.cpuMicros();
        const r: LoadResult = await runLoad({
          url: `${server.url}/v1/certificates`,
          connections: c,
          seconds,
          ca: server.rootPem || undefined,
          headers: { authorization: `Bearer ${server.token}` },
          body: (i) => JSON.stringify({ csr: csrs[i % csrs.length], profile: "device" }),
          accept: (status) => status === 201,
        });
        const cpuPerRequest = (server.cpuMicros() - cpu0) / Math.max(1, r.requests);
        const row = loadRow(`dpki serve ${https ? "HTTPS" : "HTTP"}, ${c} conns`, r, server.peakRssMb());
        row.note = [row.note, `server CPU ${Math.round(cpuPerRequest)} µs/cert`].filter(Boolean).join("; ");
        rows.push(row);
        if (!https) dpkiRates.set(c, r.throughput);
      }
    } finally {
      await server.stop();
    }
  }

  const available = ensureCfssl();
  if (!available.ok) return { rows, ratios: [], cfsslSkipped: available.why };
  const cfssl = await startCfssl(18_462);
  const ratios: CompareResult["ratios"] = [];
  try {
    for (const c of connections) {
      const r = await runLoad({
        url: `${cfssl.url}/api/v1/cfssl/sign`,
        connections: c,
        seconds,
        body: (i) => JSON.stringify({ certificate_request: csrs[i % csrs.length] }),
        accept: (status, body) => status === 200 && body.includes('"success":true'),
      });
      rows.push(loadRow(`cfssl serve HTTP, ${c} conns (no store)`, r));
      ratios.push({ connections: c, dpki: dpkiRates.get(c)!, cfssl: r.throughput });
    }
  } finally {
    await cfssl.stop();
  }
  return { rows, ratios };
}
