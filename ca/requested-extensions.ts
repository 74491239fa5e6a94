import { DerReader, TAG } from "./der.js";
import { OID } from "./oids.js";
import type { KeyUsage, RequestedExtension } from "./x509-types.js";

const KEY_USAGE_BITS: KeyUsage[] = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

const EKU_NAMES = new Map<string, string>([
  [OID.serverAuth, "serverAuth"],
  [OID.clientAuth, "clientAuth"],
  [OID.codeSigning, "codeSigning"],
  [OID.emailProtection, "emailProtection"],
  [OID.timeStamping, "timeStamping"],
  ["1.3.6.1.5.5.7.3.9", "ocspSigning"],
  ["2.5.29.37.0", "anyExtendedKeyUsage"],
]);

/** What a CSR asks for beyond its subject and SANs, so a profile can refuse more than it grants. */
export interface RequestedConstraints {
  ca: boolean;
  keyUsage: KeyUsage[];
  /** Names for known purposes, dotted OIDs otherwise. */
  extendedKeyUsage: string[];
}

export function readRequestedConstraints(extensions: readonly RequestedExtension[]): RequestedConstraints {
  const result: RequestedConstraints = { ca: false, keyUsage: [], extendedKeyUsage: [] };
  for (const ext of extensions) {
    if (ext.oid === OID.basicConstraints) {
      const reader = new DerReader("requested basicConstraints");
      const fields = reader.sequence(reader.parse(ext.value), "BasicConstraints", 0, 2);
      // cA is DEFAULT FALSE, so DER omits it unless true (X.690 §11.5).
      result.ca = fields[0]?.tag === TAG.BOOLEAN && reader.boolean(fields[0], "cA");
    } else if (ext.oid === OID.keyUsage) {
      const reader = new DerReader("requested keyUsage");
      const bits = reader.expect(reader.parse(ext.value), TAG.BIT_STRING, "KeyUsage").value;
      if (bits.length === 0) reader.fail("empty BIT STRING");
      for (let i = 0; i < (bits.length - 1) * 8; i++) {
        const byte = bits[1 + (i >> 3)] as number;
        if (byte & (0x80 >> (i & 7))) result.keyUsage.push(KEY_USAGE_BITS[i] ?? (`bit${i}` as KeyUsage));
      }
    } else if (ext.oid === OID.extKeyUsage) {
      const reader = new DerReader("requested extKeyUsage");
      for (const purpose of reader.sequence(reader.parse(ext.value), "ExtKeyUsageSyntax", 1)) {
        const dotted = reader.oid(purpose, "KeyPurposeId");
        result.extendedKeyUsage.push(EKU_NAMES.get(dotted) ?? dotted);
      }
    }
  }
  return result;
}
