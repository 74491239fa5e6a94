import { expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/temp-dir.js";
import { freePort } from "../helpers/free-port.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "dpki.js");

/** `npm start` runs `dpki quickstart`: on a fresh directory it must give a working API and device endpoint. */
it("quickstart creates a development CA and serves the API and the DPS device endpoint over HTTPS", async () => {
  const cwd = tempDir();
  const [api, devices] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, "quickstart", "--port", String(api), "--dps-port", String(devices)], {
    cwd,
    env: { ...process.env, DPKI_HOME: undefined, DPKI_PASSPHRASE: undefined },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    const banner = await new Promise<string>((done, fail) => {
      let text = "";
      child.stderr!.on("data", (d) => {
        text += d;
        if (text.includes("stop:")) done(text);
      });
      child.once("exit", () => fail(new Error(text)));
    });
    expect(banner).toMatch(/Created a development CA/);
    expect(banner).toMatch(new RegExp(`listening on https://localhost:${api}`));
    expect(banner).toMatch(new RegExp(`DPS endpoint on https://127\\.0\\.0\\.1:${devices}`));
    const dev = join(cwd, ".dpki");
    expect(statSync(join(dev, "dev-passphrase")).mode & 0o777).toBe(0o600);
    const ca = readFileSync(join(dev, "root.pem"));

    const health = await call(ca, api, "GET", "/healthz");
    expect(health).toMatchObject({ status: 200, body: { status: "ok" } });
    // The device endpoint speaks DPS: an unknown ID scope is a DPS-style 404.
    const register = await call(ca, devices, "PUT", "/0ne00000001/registrations/dev-1/register?api-version=2019-03-31", {
      registrationId: "dev-1",
    });
    expect(register).toMatchObject({ status: 404, body: { errorCode: 404001 } });
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  expect(existsSync(join(cwd, ".dpki", "dpki.db"))).toBe(true);
});

function call(ca: Buffer, port: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((done, fail) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port,
        path,
        method,
        ca,
        headers: payload ? { "content-type": "application/json" } : {},
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => done({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", fail);
    req.end(payload);
  });
}
