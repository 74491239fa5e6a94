import { describe, expect, it } from "vitest";
import { canonicalEntry, canonicalJson, chainHash, GENESIS_HASH, hashEntry } from "../../src/store/audit-chain.js";
import type { AuditInput } from "../../src/store/records.js";

const at = new Date("2026-03-01T12:34:56.789Z");

/** The canonical encoding as first defined; logs written since then must keep verifying. */
function definition(seq: number, prevHash: string, input: AuditInput): string {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value && typeof value === "object" && !(value instanceof Date)) {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
      );
    }
    return value;
  };
  return JSON.stringify([
    "dpki-audit-v1",
    seq,
    input.at.toISOString(),
    input.actor,
    input.action,
    input.subject ?? null,
    input.serial ?? null,
    input.profile ?? null,
    input.policyHash ?? null,
    sortKeys(input.details ?? {}),
    prevHash,
  ]);
}

describe("audit chain encoding", () => {
  it("hashes entries exactly as logs already written were hashed", () => {
    const issued: AuditInput = {
      at,
      actor: "factory-1",
      action: "cert.issue",
      subject: "CN=device-0000001,O=Example Fleet",
      serial: "41a205e104ecb861e2b9022f58e6fb1b",
      profile: "device",
      policyHash: "ab".repeat(32),
      details: { sha256: "cd".repeat(32), issuer: "int-1a2b3c4d", notAfter: "2027-03-01T12:34:56.789Z" },
    };
    expect(chainHash(1, GENESIS_HASH, issued)).toBe("a067215419bea96725647bda2f909ffa267f48042d9706ec529e11dd3098381c");
    expect(chainHash(2, "ef".repeat(32), { at, actor: "admin", action: "ca.create" })).toBe(
      "ebc357bec03544c324edd43111f64e78174f119f96f0c4d308234f95e2d157d8",
    );
    const odd: AuditInput = {
      at,
      actor: "hub",
      action: "dps.register",
      subject: null,
      serial: null,
      details: {
        z: 1,
        a: { y: [{ b: 2, a: 1 }, "s", null], x: undefined },
        10: true,
        9: false,
        é: 'ü\u2028"',
        when: new Date(0),
        list: [undefined, 1.5e300, -0],
        A: {},
      },
    };
    expect(chainHash(3, "12".repeat(32), odd)).toBe("f90b35e10d5fa06e44cbd532c3673a2bcec5d8413221aa7a498c161e612dc683");
  });

  it("encodes any details as the definition does", () => {
    const shapes: Array<Record<string, unknown>> = [
      {},
      { b: 1, a: 2 },
      { nested: { y: 1, x: [{ d: 1, c: 2 }, [3, { f: null, e: "x" }]] } },
      { "10": 1, "9": 2, "1a": 3, "-1": 4, "": 5 },
      { __proto__: null, b: 1, a: 2 } as Record<string, unknown>,
      Object.defineProperty({ b: 1 }, "__proto__", { value: { y: 1, x: 2 }, enumerable: true }),
      { toJSON: "data", a: 1 },
      { fn: () => 1, sym: Symbol("s"), undef: undefined, list: [() => 1, undefined] },
      { when: new Date(0), never: new Date(NaN) },
      { map: new Map([["k", 1]]), buffer: Buffer.from("ab"), boxed: new String("ab") },
      { numbers: [NaN, Infinity, -0, 1e21, 0.1] },
      { holes: [1, , 3] },
      { text: 'quote" backslash\\ newline\n tab\t \u0000 \ud800 😀' },
    ];
    for (const details of shapes) {
      const input: AuditInput = { at, actor: "a", action: "x", subject: "s", details };
      expect(canonicalEntry(7, GENESIS_HASH, input)).toBe(definition(7, GENESIS_HASH, input));
    }
  });

  it("encodes random nested details as the definition does", () => {
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const keys = ["b", "a", "10", "9", "", "é", "z1", "-1"];
    const value = (depth: number): unknown => {
      const kind = depth > 5 ? rand(4) : rand(7);
      if (kind === 0) return rand(1000) / 7;
      if (kind === 1) return ["s", null, true, undefined][rand(4)];
      if (kind === 2) return `t${rand(50)}"\n`;
      if (kind === 3) return null;
      if (kind < 6) return Object.fromEntries(Array.from({ length: rand(5) }, () => [keys[rand(keys.length)]!, value(depth + 1)]));
      return Array.from({ length: rand(5) }, () => value(depth + 1));
    };
    for (let i = 0; i < 300; i++) {
      const input: AuditInput = { at, actor: "a", action: "x", details: { v: value(0) } };
      expect(canonicalEntry(i + 1, GENESIS_HASH, input)).toBe(definition(i + 1, GENESIS_HASH, input));
    }
  });

  it("encodes details of any depth without running out of stack", () => {
    let deep: unknown = [1];
    for (let i = 0; i < 200_000; i++) deep = i % 2 ? { b: deep, a: i } : [deep];
    const text = canonicalJson({ deep });
    expect(text.startsWith('{"deep":{"a":199999,"b":[{"a":199997,')).toBe(true);
    expect(text.length).toBeGreaterThan(1_000_000);
  });

  it("gives the store the hash, time and details it keeps", () => {
    const input: AuditInput = { at, actor: "a", action: "x", details: { b: 1, a: { d: 2, c: 3 } } };
    expect(hashEntry(4, GENESIS_HASH, input)).toEqual({
      hash: chainHash(4, GENESIS_HASH, input),
      at: "2026-03-01T12:34:56.789Z",
      details: '{"b":1,"a":{"d":2,"c":3}}',
    });
  });
});
