import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dpki } from "../helpers/cli.js";

interface Vector {
  id: string;
  input: { resourceUri: string; keyName: string | null; key: string; expiry: number | string };
  token: string;
}

const VECTORS = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "..", "shared", "reference", "sas-vectors.json"), "utf8"),
) as {
  vectors: Vector[];
};

describe("dpki sas mint", () => {
  it.each(VECTORS.vectors.map((v) => [v.id, v] as const))("reproduces vector %s byte for byte", (_id, v) => {
    const args = ["sas", "mint", "--key", v.input.key, "--resource", v.input.resourceUri, "--expiry", String(v.input.expiry)];
    if (v.input.keyName) args.push("--policy", v.input.keyName);
    const r = dpki(args);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(v.token + "\n");
  });

  it("covers every vector of the file, including the lowercase-escape quirk", () => {
    expect(VECTORS.vectors.length).toBe(12);
    expect(VECTORS.vectors.some((v) => v.token.includes("%2a") && v.token.includes("%21"))).toBe(true);
  });

  it("encodes a raw resource with --encode as the device SDK does, and prints JSON with --json", () => {
    const v = VECTORS.vectors.find((x) => x.id === "hub-device-token-special-chars")!;
    const r = dpki([
      "--json",
      "sas",
      "mint",
      "--key",
      v.input.key,
      "--resource",
      "contoso-hub.azure-devices.net/devices/d3v!ce(01)*'_,:=@$?.%-",
      "--encode",
      "--expiry",
      "1893456000",
    ]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.token).toBe(v.token);
    expect(out).toMatchObject({ resource: v.input.resourceUri, keyName: null, expiry: "1893456000", expiresAt: "2030-01-01T00:00:00Z" });
  });

  it("takes a lifetime with --ttl and the key from DPKI_SAS_KEY", () => {
    const before = Math.floor(Date.now() / 1000);
    const r = dpki(["--json", "sas", "mint", "--resource", "h.example.net/devices/d1", "--encode", "--ttl", "2h"], {
      env: { DPKI_SAS_KEY: "rcaZpjxHoikWICDFwXm+tzBp1YXQm5OXT6wp3u7FT2o=" },
    });
    // The CLI reads the clock somewhere between the spawn and its exit, which on a loaded machine
    // can be seconds apart: bound the expiry by both ends, not by a guess at start-up time.
    const after = Math.floor(Date.now() / 1000);
    expect(r.status).toBe(0);
    const se = Number(JSON.parse(r.stdout).expiry);
    expect(se).toBeGreaterThanOrEqual(before + 7200);
    expect(se).toBeLessThanOrEqual(after + 7200);
  });

  it("refuses a missing key, an empty key and --ttl with --expiry, as usage errors", () => {
    expect(dpki(["sas", "mint", "--resource", "x"], { env: { DPKI_SAS_KEY: "" } }).status).toBe(64);
    expect(dpki(["sas", "mint", "--resource", "x", "--key", "!!!!"]).stderr).toMatch(/empty or not base64/);
    expect(dpki(["sas", "mint", "--resource", "x", "--key", "AAAA", "--ttl", "1h", "--expiry", "1893456000"]).status).toBe(64);
  });
});

describe("dpki sas verify", () => {
  const KEY = "rcaZpjxHoikWICDFwXm+tzBp1YXQm5OXT6wp3u7FT2o=";
  const hub = VECTORS.vectors.find((x) => x.id === "hub-device-token")!;
  const policy = VECTORS.vectors.find((x) => x.id === "hub-policy-iothubowner")!;

  it("accepts a good token, naming the key that signed it", () => {
    const r = dpki([
      "sas",
      "verify",
      hub.token,
      "--key",
      "AAAA",
      "--key",
      KEY,
      "--resource",
      "contoso-hub.azure-devices.net/devices/my-device-01",
      "--no-policy",
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/valid:\s+yes \(signed with key #2\)/);
    expect(r.stdout).toMatch(/expires:\s+2030-01-01T00:00:00Z/);
  });

  it("explains every reason a token fails: signature, key name, resource, expiry", () => {
    const r = dpki([
      "--json",
      "sas",
      "verify",
      policy.token,
      "--key",
      "AAAA",
      "--resource",
      "other-hub.example.net/devices/x",
      "--no-policy",
    ]);
    expect(r.status).toBe(77);
    const out = JSON.parse(r.stdout);
    expect(out.valid).toBe(false);
    expect(out.problems.map((p: { check: string }) => p.check)).toEqual(["signature", "key_name", "resource"]);
    const expired = dpki([
      "sas",
      "mint",
      "--key",
      KEY,
      "--resource",
      "h.example.net/devices/d",
      "--encode",
      "--expiry",
      "1000000000",
    ]).stdout.trim();
    const e = dpki(["sas", "verify", expired, "--key", KEY, "--resource", "h.example.net/devices/d", "--policy", "device"]);
    expect(e.status).toBe(77);
    expect(e.stdout).toContain('key_name: Token has no key name (skn); expected "device"');
    expect(e.stdout).toMatch(/expired: Token expired at 2001-09-09T01:46:40Z/);
    expect(e.stdout).not.toContain("signature");
  });

  it("compares the resource as a segment prefix, case-sensitively unless --ignore-case", () => {
    const args = ["sas", "verify", policy.token, "--key", KEY, "--policy", "iothubowner"];
    expect(dpki([...args, "--resource", "contoso-hub.azure-devices.net/devices/dev-9"]).status).toBe(0);
    expect(dpki([...args, "--resource", "contoso-hub.azure-devices.netx"]).stdout).toContain("resource: Token is for resource");
    expect(dpki([...args, "--resource", "CONTOSO-HUB.azure-devices.net"]).status).toBe(77);
    expect(dpki([...args, "--resource", "CONTOSO-HUB.azure-devices.net", "--ignore-case"]).status).toBe(0);
  });

  it("reports a malformed token", () => {
    const r = dpki(["sas", "verify", "SharedAccessSignature sr=a&se=1", "--key", KEY, "--resource", "a"]);
    expect(r.status).toBe(77);
    expect(r.stdout).toContain('malformed: Cannot parse SAS token: missing field "sig"');
  });
});
