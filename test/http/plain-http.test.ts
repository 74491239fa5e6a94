import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { startTestServer, type TestServer } from "./harness.js";
import { dpsFixture, deviceCall, startListener } from "../dps/helpers.js";

/** Sends `bytes` on a raw TCP connection and collects everything until the server closes it. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((done, fail) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    let text = "";
    socket.on("data", (d) => (text += d));
    socket.on("error", fail);
    socket.on("close", () => done(text));
  });
}

const REQUEST = "GET /v1/ca/chain HTTP/1.1\r\nHost: localhost\r\n\r\n";

describe("plain HTTP sent to an HTTPS port", () => {
  let api: TestServer;
  beforeAll(async () => {
    api = await startTestServer();
  });
  afterAll(() => api?.close());

  it("the management API answers a plain-text 400 naming https, and still speaks TLS", async () => {
    const reply = await raw(api.server.port, REQUEST);
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply).toMatch(/Content-Type: text\/plain/);
    expect(reply).toMatch(/plain HTTP request was sent to an HTTPS port\. Use https:\/\//);
    expect((await api.request("GET", "/healthz")).status).toBe(200);
  });

  it("the DPS device listener does the same", async () => {
    const { services, rootPem } = await dpsFixture();
    const { port, host } = await startListener(services);
    const reply = await raw(port, REQUEST);
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Use https:\/\//);
    const tls = await deviceCall(
      { host, port, ca: rootPem },
      { method: "GET", path: "/0ne00TEST/registrations/x?api-version=2019-03-31", servername: "localhost" },
    );
    expect(tls.status).toBeGreaterThanOrEqual(400);
    expect(tls.status).toBeLessThan(500);
  });
});
