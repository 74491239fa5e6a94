import { parentPort, workerData } from "node:worker_threads";
import { runLoad } from "./load.js";

/**
 * Runs the loopback load loop on its own thread, so the client's HTTP and TLS work does not
 * share the server's event loop (it still shares the machine's cores, as a local client would).
 */
const { url, connections, seconds, bodies, headers, ca, status } = workerData as {
  url: string;
  connections: number;
  seconds: number;
  bodies: string[];
  headers: Record<string, string>;
  ca: string;
  status: number;
};
const result = await runLoad({
  url,
  connections,
  seconds,
  body: (i) => bodies[i % bodies.length]!,
  headers,
  ca,
  accept: (s) => s === status,
});
parentPort!.postMessage(result);
