import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { freePort } from "./free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/** One `dpki serve` process: the management API over plain HTTP, and the DPS device endpoint when asked for. */
export interface ServeNode {
  /** e.g. http://127.0.0.1:40123 */
  api: string;
  /** The DPS device endpoint (TLS, self-issued), when started with one. */
  dps?: { host: string; port: number };
  process: ChildProcess;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts `dpki serve` with `env` (data directory, passphrase, database) and waits until it
 * listens; `dpsOnly` starts `dpki dps serve` instead (no management API: `api` is empty).
 */
export async function startNode(
  env: Record<string, string>,
  options: { dps?: boolean; dpsOnly?: boolean; args?: string[] } = {},
): Promise<ServeNode> {
  const port = await freePort();
  const dpsPort = options.dps || options.dpsOnly ? await freePort() : undefined;
  const args = options.dpsOnly
    ? [BIN, "dps", "serve", "--host", "127.0.0.1", "--port", String(dpsPort), "--name", "127.0.0.1"]
    : [BIN, "serve", "--insecure-http", "--port", String(port), "--no-http"];
  if (dpsPort && !options.dpsOnly) args.push("--dps-port", String(dpsPort));
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  await new Promise<void>((ready, fail) => {
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("stop:")) ready();
    });
    child.once("exit", () => fail(new Error(`dpki serve exited: ${err}`)));
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    api: options.dpsOnly ? "" : `http://127.0.0.1:${port}`,
    dps: dpsPort ? { host: "127.0.0.1", port: dpsPort } : undefined,
    process: child,
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
  };
}

/**
 * fetch, sent again when a kept-alive connection turned out closed by the server as it went idle
 * (the request never reached it, so sending it again is safe). A node that is gone still fails.
 */
export async function get(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw err;
    return fetch(url, init);
  }
}

/** A JSON call to a node's API with a bearer token. */
export async function api(node: ServeNode, method: string, path: string, token: string, body?: unknown) {
  const res = await get(node.api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (a DER body)
  }
  return { status: res.status, json, text };
}
