import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SharedAccessSignature } from "azure-iot-common";
import { describe, expect, it } from "vitest";
import {
  createSasToken,
  deriveDeviceKey,
  encodeUriComponentStrict,
  makeSymmetricKey,
  parseSasToken,
  verifySasToken,
} from "../../src/core/sas/sas.js";

interface Vector {
  id: string;
  input: { resourceUri: string; keyName: string | null; key: string; expiry: number | string };
  stringToSign: string;
  signatureBase64: string;
  sig: string;
  skn: string | null;
  token: string;
}
interface VectorFile {
  vectors: Vector[];
  derivedKeys: { groupKey: string; registrationId: string; derivedKey: string }[];
}

// CI checks out shared/ beside the repository clone.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const file = JSON.parse(readFileSync(path.resolve(repoRoot, "..", "shared", "reference", "sas-vectors.json"), "utf8")) as VectorFile;
const byId = (id: string): Vector => {
  const v = file.vectors.find((x) => x.id === id);
  if (v === undefined) throw new Error(`vector ${id} missing`);
  return v;
};

const BEFORE_EXPIRY = new Date("2029-12-31T00:00:00Z"); // vectors expire at 1893456000 = 2030-01-01T00:00:00Z
const EXPIRES_AT = new Date("2030-01-01T00:00:00Z");
const DPS_RESOURCE = "0ne00ABC123/registrations/sensor:line-3.unit_07";

describe("sas-vectors.json", () => {
  it("holds the expected number of vectors", () => {
    expect(file.vectors).toHaveLength(12);
    expect(file.derivedKeys).toHaveLength(4);
  });

  it.each(file.vectors.map((v) => [v.id, v] as const))("%s: token reproduced byte for byte", (_id, v) => {
    const token = createSasToken(v.input);
    expect(token).toBe(v.token);
    const fields = parseSasToken(token);
    expect(fields.sr).toBe(v.input.resourceUri);
    expect(fields.sig).toBe(v.sig);
    expect(fields.skn ?? null).toBe(v.skn);
    expect(fields.se).toBe(String(v.input.expiry));
    expect(`${fields.sr}\n${fields.se}`).toBe(v.stringToSign);
    expect(decodeURIComponent(fields.sig)).toBe(v.signatureBase64);
    expect(encodeUriComponentStrict(v.signatureBase64)).toBe(v.sig);
  });

  it.each(file.vectors.map((v) => [v.id, v] as const))("%s: verifies with its own key and sr", (_id, v) => {
    const result = verifySasToken(v.token, {
      keys: [v.input.key],
      resource: decodeURIComponent(v.input.resourceUri),
      keyName: v.input.keyName,
      now: BEFORE_EXPIRY,
    });
    expect(result).toEqual({ ok: true, keyIndex: 0, expiresAt: EXPIRES_AT });
  });

  it.each(file.derivedKeys.map((d) => [d.registrationId, d] as const))("derives the device key for %s", (_id, d) => {
    expect(deriveDeviceKey(d.groupKey, d.registrationId)).toBe(d.derivedKey);
  });

  it("derives the key used by the group-enrollment vector", () => {
    const v = byId("dps-registration-group-derived") as Vector & { context: { groupKey: string; registrationId: string } };
    expect(deriveDeviceKey(v.context.groupKey, v.context.registrationId)).toBe(v.input.key);
  });
});

describe("encodeUriComponentStrict", () => {
  it("escapes ! ' ( ) * with lowercase hex and everything else as encodeURIComponent does", () => {
    expect(encodeUriComponentStrict("d3v!ce(01)*'_,:=@$?.%-")).toBe("d3v%21ce%2801%29%2a%27_%2C%3A%3D%40%24%3F.%25-");
    expect(encodeUriComponentStrict("a/b+c=")).toBe("a%2Fb%2Bc%3D");
    expect(encodeUriComponentStrict("ü é")).toBe("%C3%BC%20%C3%A9");
  });
});

describe("createSasToken", () => {
  const key = byId("hub-device-token").input.key;
  it("omits skn for an empty or null key name", () => {
    for (const keyName of [undefined, null, ""]) {
      expect(createSasToken({ resourceUri: "h/devices/d", key, keyName, expiry: 10 })).not.toContain("skn=");
    }
  });
  it("decodes url-safe keys leniently like Node's Buffer", () => {
    const std = "rcaZpjxHoikWICDFwXm+tzBp1YXQm5OXT6wp3u7FT2o=";
    const urlSafe = "rcaZpjxHoikWICDFwXm-tzBp1YXQm5OXT6wp3u7FT2o";
    expect(createSasToken({ resourceUri: "r", key: urlSafe, expiry: 10 })).toBe(createSasToken({ resourceUri: "r", key: std, expiry: 10 }));
  });
  it.each([
    [{ resourceUri: "", key, expiry: 10 }, "resourceUri"],
    [{ resourceUri: "r", key: "", expiry: 10 }, "key"],
    [{ resourceUri: "r", key: "!!!!", expiry: 10 }, "key"],
    [{ resourceUri: "r", key, expiry: 0 }, "expiry"],
    [{ resourceUri: "r", key, expiry: "" }, "expiry"],
    [{ resourceUri: "r", key, expiry: 1.5 }, "expiry"],
    [{ resourceUri: "r", key, expiry: "soon" }, "expiry"],
  ])("rejects %o naming %s", (opts, field) => {
    expect(() => createSasToken(opts)).toThrow(
      expect.objectContaining({ code: "invalid_argument", detail: { field }, message: expect.stringContaining(field) }),
    );
  });
});

describe("parseSasToken", () => {
  const v = byId("hub-policy-iothubowner");
  it("returns raw values as transmitted", () => {
    expect(parseSasToken(byId("hub-policy-on-behalf-of-device").token)).toEqual({
      sr: "contoso-hub.azure-devices.net%2Fdevices%2Fmy-device-01",
      sig: "vgg9jG0SwivKWU9C1vODULbklJF2LD3Y77IMgQEJ0go%3D",
      skn: "my%20policy%20%28ops%29%21%2a",
      se: "1893456000",
    });
    expect(parseSasToken(byId("hub-device-token").token)).not.toHaveProperty("skn");
  });
  it("tolerates field order and unknown fields", () => {
    const f = parseSasToken("SharedAccessSignature se=5&x=y&sig=abc&sr=a/b");
    expect(f).toEqual({ sr: "a/b", sig: "abc", se: "5" });
  });
  it.each([
    ["sr=a&sig=b&se=1", undefined],
    ["Bearer sr=a&sig=b&se=1", undefined],
    ["SharedAccessSignature sr=a&sig=b", "se"],
    ["SharedAccessSignature sig=b&se=1", "sr"],
    ["SharedAccessSignature sr=a&se=1", "sig"],
    ["SharedAccessSignature sr=a&sig=&se=1", "sig"],
    ["SharedAccessSignature sr=a&sig=b&se=1&sig=c", "sig"],
    ["SharedAccessSignature sr=a&sig=b&se=soon", "se"],
    ["SharedAccessSignature sr=a&sig=b&se=-1", "se"],
    ["SharedAccessSignature sr=a&sig=b&se=99999999999999999", "se"],
    ["SharedAccessSignature sr=a&sig=b&junk&se=1", undefined],
  ])("rejects %s", (token, field) => {
    let caught: unknown;
    try {
      parseSasToken(token);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "bad_request", message: expect.stringMatching(/^Cannot parse SAS token: /) });
    if (field !== undefined) {
      expect((caught as { detail: unknown }).detail).toEqual({ field });
      expect((caught as Error).message).toContain(field);
    }
  });
  it("agrees with the SDK's parser", () => {
    const ours = parseSasToken(v.token);
    const sdk = SharedAccessSignature.parse(v.token);
    expect({ sr: sdk.sr, sig: sdk.sig, skn: sdk.skn, se: String(sdk.se) }).toEqual(ours);
  });
});

describe("verifySasToken", () => {
  const raw = byId("dps-registration-group-derived");
  const encoded = byId("dps-registration-encoded-sr");
  const deviceKey = raw.input.key;
  const other = makeSymmetricKey();
  const dps = { keys: [deviceKey], resource: DPS_RESOURCE, keyName: "registration", now: BEFORE_EXPIRY };

  it("accepts the raw-sr and the encoded-sr DPS tokens", () => {
    expect(verifySasToken(raw.token, dps)).toEqual({ ok: true, keyIndex: 0, expiresAt: EXPIRES_AT });
    expect(verifySasToken(encoded.token, dps)).toEqual({ ok: true, keyIndex: 0, expiresAt: EXPIRES_AT });
  });

  it("accepts the secondary key with keyIndex 1, and checks every key", () => {
    expect(verifySasToken(raw.token, { ...dps, keys: [other, deviceKey] })).toMatchObject({ ok: true, keyIndex: 1 });
    expect(verifySasToken(raw.token, { ...dps, keys: [deviceKey, deviceKey] })).toMatchObject({ ok: true, keyIndex: 0 });
  });

  it("refuses a token signed with another key", () => {
    expect(verifySasToken(raw.token, { ...dps, keys: [other] })).toEqual({
      ok: false,
      reason: "signature",
      message: "Token signature does not match any key",
    });
  });

  it("refuses a tampered token", () => {
    const tamperedSr = raw.token.replace("unit_07", "unit_08");
    expect(verifySasToken(tamperedSr, dps)).toMatchObject({ ok: false, reason: "signature" });
    const tamperedSe = raw.token.replace("se=1893456000", "se=1893456001");
    expect(verifySasToken(tamperedSe, dps)).toMatchObject({ ok: false, reason: "signature" });
    const truncatedSig = raw.token.replace("%3D&", "&");
    expect(verifySasToken(truncatedSig, dps)).toMatchObject({ ok: false, reason: "signature" });
  });

  it("refuses malformed tokens", () => {
    expect(verifySasToken("garbage", dps)).toMatchObject({ ok: false, reason: "malformed" });
    expect(verifySasToken("SharedAccessSignature sr=a&se=1", dps)).toEqual({
      ok: false,
      reason: "malformed",
      message: 'Cannot parse SAS token: missing field "sig"',
    });
    expect(verifySasToken("SharedAccessSignature sr=a%zz&sig=b&se=1", dps)).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("refuses an expired token, honouring the skew", () => {
    const justAfter = new Date(EXPIRES_AT.getTime() + 1000);
    expect(verifySasToken(raw.token, { ...dps, now: justAfter })).toEqual({
      ok: false,
      reason: "expired",
      message: "Token expired at 2030-01-01T00:00:00Z",
    });
    expect(verifySasToken(raw.token, { ...dps, now: EXPIRES_AT })).toMatchObject({ ok: true });
    expect(verifySasToken(raw.token, { ...dps, now: justAfter, skewSeconds: 30 })).toMatchObject({ ok: true });
    expect(verifySasToken(raw.token, { ...dps, now: new Date(EXPIRES_AT.getTime() + 31_000), skewSeconds: 30 })).toMatchObject({
      ok: false,
      reason: "expired",
    });
  });

  it("refuses a token for another resource", () => {
    expect(verifySasToken(raw.token, { ...dps, resource: "0ne00ABC123/registrations/other" })).toEqual({
      ok: false,
      reason: "resource",
      message: `Token is for resource ${DPS_RESOURCE}, not 0ne00ABC123/registrations/other`,
    });
  });

  it("compares resources case-insensitively only when asked", () => {
    const upper = DPS_RESOURCE.replace("0ne00ABC123", "0NE00ABC123");
    expect(verifySasToken(raw.token, { ...dps, resource: upper })).toMatchObject({ ok: false, reason: "resource" });
    expect(verifySasToken(raw.token, { ...dps, resource: upper, caseInsensitiveResource: true })).toMatchObject({ ok: true });
  });

  it("matches sr as a segment prefix of the resource", () => {
    const key = makeSymmetricKey(64);
    const token = createSasToken({ resourceUri: encodeUriComponentStrict("hub.example/devices/a"), key, expiry: 1893456000 });
    const check = (resource: string) => verifySasToken(token, { keys: [key], resource, now: BEFORE_EXPIRY });
    expect(check("hub.example/devices/a")).toMatchObject({ ok: true });
    expect(check("hub.example/devices/a/modules/m")).toMatchObject({ ok: true });
    expect(check("hub.example/devices/ab")).toMatchObject({ ok: false, reason: "resource" });
    expect(check("hub.example/devices")).toMatchObject({ ok: false, reason: "resource" });
    const policy = byId("hub-policy-registryRead-devices");
    expect(
      verifySasToken(policy.token, { keys: [policy.input.key], resource: "contoso-hub.azure-devices.net/devices/x", now: BEFORE_EXPIRY }),
    ).toMatchObject({ ok: true });
  });

  it("checks the key name: required value, required absence, or not at all", () => {
    expect(verifySasToken(raw.token, { ...dps, keyName: "service" })).toEqual({
      ok: false,
      reason: "key_name",
      message: 'Token names key "registration", not "service"',
    });
    expect(verifySasToken(raw.token, { ...dps, keyName: null })).toMatchObject({ ok: false, reason: "key_name" });
    const { keyName: _unused, ...noKeyName } = dps;
    expect(verifySasToken(raw.token, noKeyName)).toMatchObject({ ok: true });
    const device = byId("hub-device-token");
    const deviceOpts = { keys: [device.input.key], resource: "contoso-hub.azure-devices.net/devices/my-device-01", now: BEFORE_EXPIRY };
    expect(verifySasToken(device.token, { ...deviceOpts, keyName: null })).toMatchObject({ ok: true });
    expect(verifySasToken(device.token, { ...deviceOpts, keyName: "registration" })).toMatchObject({
      ok: false,
      reason: "key_name",
      message: 'Token has no key name; expected "registration"',
    });
    const policy = byId("hub-policy-on-behalf-of-device");
    expect(verifySasToken(policy.token, { ...deviceOpts, keyName: "my policy (ops)!*" })).toMatchObject({ ok: true });
  });

  it("refuses to verify without usable keys", () => {
    expect(() => verifySasToken(raw.token, { ...dps, keys: [] })).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(() => verifySasToken(raw.token, { ...dps, keys: [""] })).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});

describe("makeSymmetricKey", () => {
  it("makes fresh 32- and 64-byte base64 keys", () => {
    expect(Buffer.from(makeSymmetricKey(), "base64")).toHaveLength(32);
    expect(Buffer.from(makeSymmetricKey(64), "base64")).toHaveLength(64);
    expect(makeSymmetricKey()).not.toBe(makeSymmetricKey());
  });
});

describe("cross-check with azure-iot-common", () => {
  const resources = [
    () => `0ne00${Math.random().toString(36).slice(2, 8)}/registrations/dev:${Math.random().toString(36).slice(2)}`,
    () => encodeUriComponentStrict(`hub-${Math.random().toString(36).slice(2, 6)}.azure-devices.net/devices/d(${Math.random()})!*'`),
    () => `hub${Math.floor(Math.random() * 1000)}.azure-devices.net`,
  ];
  const keyNames = [null, "registration", "iothubowner", "my policy (ops)!*", `n-${Math.random()}`];

  it("produces the same tokens as SharedAccessSignature.create for random inputs", () => {
    for (let i = 0; i < 200; i++) {
      const resourceUri = resources[i % resources.length]!();
      const keyName = keyNames[i % keyNames.length]!;
      const key = makeSymmetricKey(i % 2 === 0 ? 32 : 64);
      const expiry = 1_700_000_000 + Math.floor(Math.random() * 1e8);
      const sdk = SharedAccessSignature.create(resourceUri, keyName as string, key, expiry).toString();
      expect(createSasToken({ resourceUri, key, keyName, expiry })).toBe(sdk);
      const resource = decodeURIComponent(resourceUri);
      expect(verifySasToken(sdk, { keys: [key], resource, keyName, now: new Date(1_600_000_000_000) })).toMatchObject({ ok: true });
    }
  });
});
