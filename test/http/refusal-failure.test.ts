/**
 * A refusal's log entry is written in a transaction of its own, after the refusal is decided: when
 * it cannot be written, the caller still gets the refusal (401), never an internal error, and the
 * server's log says the entry was lost. The database is closed under the running server.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

it("answers 401 on both paths when the log cannot take the refusal's entry", async () => {
  await t.services.store.close();
  const express = await t.request("GET", "/v1/ca", { headers: { authorization: "Basic c2VjcmV0" } });
  expect(express.status, express.text).toBe(401);
  const lean = await t.request("POST", "/v1/certificates", {
    headers: { authorization: "Basic c2VjcmV0" },
    body: { csr: "x", profile: "device" },
  });
  expect(lean.status, lean.text).toBe(401);
  expect(t.logs.filter((line) => line.includes("cannot log a refused request"))).toHaveLength(2);
});
