import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { encodeName, formatName, parseName } from "../../ca/name.js";
import { OID } from "../../ca/oids.js";
import type { NameAttribute } from "../../ca/x509-types.js";

const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString("hex");

describe("encodeName", () => {
  it("picks RFC 5280 default string types and matches @peculiar/x509 given the same types", () => {
    const attrs: NameAttribute[] = [
      { oid: OID.domainComponent, value: "example" },
      { oid: OID.countryName, value: "DE" },
      { oid: OID.organizationName, value: "Müller & Söhne" },
      { oid: OID.serialNumber, value: "SN-0042" },
      { oid: OID.commonName, value: "device-0001" },
      { oid: OID.emailAddress, value: "ops@example.com" },
    ];
    const library = new x509.Name([
      { DC: [{ ia5String: "example" }] },
      { C: [{ printableString: "DE" }] },
      { O: [{ utf8String: "Müller & Söhne" }] },
      { [OID.serialNumber]: [{ printableString: "SN-0042" }] },
      { CN: [{ utf8String: "device-0001" }] },
      { E: [{ ia5String: "ops@example.com" }] },
    ] as unknown as x509.JsonName);
    expect(hex(encodeName(attrs))).toBe(hex(library.toArrayBuffer()));
  });

  it("honours an explicit tag and refuses values the tag cannot carry", () => {
    const printable = encodeName([{ oid: OID.commonName, value: "dev", tag: 19 }]);
    expect(parseName(printable)[0]!.tag).toBe(19);
    expect(() => encodeName([{ oid: OID.commonName, value: "dév", tag: 19 }])).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => encodeName([{ oid: OID.countryName, value: "D_" }])).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(encodeName([{ oid: OID.serialNumber, value: "a_b" }])[11]).toBe(12); // not printable: UTF8String
  });

  it("encodes the empty name as an empty SEQUENCE", () => {
    expect(hex(encodeName([]))).toBe("3000");
  });
});

describe("parseName", () => {
  it("round-trips with short names, values and tags", () => {
    const attrs: NameAttribute[] = [
      { oid: OID.countryName, value: "DE" },
      { oid: OID.commonName, value: "Gerät 7" },
      { oid: "1.3.6.1.4.1.99999.1", value: "custom" },
    ];
    expect(parseName(encodeName(attrs))).toEqual([
      { oid: OID.countryName, shortName: "C", value: "DE", tag: 19 },
      { oid: OID.commonName, shortName: "CN", value: "Gerät 7", tag: 12 },
      { oid: "1.3.6.1.4.1.99999.1", value: "custom", tag: 12 },
    ]);
  });

  it("reads BMPString and flattens multi-valued RDNs", () => {
    const library = new x509.Name([{ CN: [{ bmpString: "Ω" }], O: [{ utf8String: "x" }] }] as unknown as x509.JsonName);
    const values = parseName(new Uint8Array(library.toArrayBuffer())).map((a) => [a.shortName, a.value, a.tag]);
    expect(values).toEqual(
      expect.arrayContaining([
        ["CN", "Ω", 30],
        ["O", "x", 12],
      ]),
    );
  });

  it("refuses invalid UTF-8 and malformed structure", () => {
    const emptyRdn = Uint8Array.of(0x30, 0x02, 0x31, 0x00);
    expect(() => parseName(emptyRdn)).toThrow(expect.objectContaining({ code: "bad_encoding" }));
    const invalidUtf8 = Uint8Array.of(0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, 0xff);
    expect(() => parseName(invalidUtf8)).toThrow(/invalid character encoding/);
  });
});

describe("formatName", () => {
  it("gives an OpenSSL-style one-line string with RFC 4514 escaping", () => {
    expect(
      formatName([
        { oid: OID.commonName, value: "dev-1" },
        { oid: OID.organizationName, value: "Acme, Inc." },
      ]),
    ).toBe("CN=dev-1, O=Acme\\, Inc.");
    expect(formatName([{ oid: "1.2.3.4", value: " x" }])).toBe("1.2.3.4=\\ x");
  });
});
