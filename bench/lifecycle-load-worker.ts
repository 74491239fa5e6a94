import { parentPort, workerData } from "node:worker_threads";
import { runRequestLoad, type RequestLoadOptions } from "./lifecycle-load.js";

/** Runs the lifecycle load loop on its own thread, off the server's event loop (still on the machine's cores). */
parentPort!.postMessage(await runRequestLoad(workerData as RequestLoadOptions));
