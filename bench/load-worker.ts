import { parentPort, workerData } from "node:worker_threads";
import { runCycledLoad, type CycledLoad } from "./load.js";

/** Worker-thread entry of loadOnWorker. */
parentPort!.postMessage(await runCycledLoad(workerData as CycledLoad));
