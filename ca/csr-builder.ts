/**
 * Builds PKCS #10 certification requests (RFC 2986) with the DER writer: for dpki's own
 * listener certificates and for device-side tooling and tests. The signer proves possession.
 */
import { bitString, implicit, integer, oid, sequence, setOf } from "./der.js";
import { encodeExtension } from "./certificate.js";
import { encodeGeneralNames } from "./general-name.js";
import { encodeName } from "./name.js";
import { OID } from "./oids.js";
import type { Signer } from "./signer.js";
import type { NameAttribute, SubjectAltName } from "./x509-types.js";

export interface CsrParams {
  subject: NameAttribute[];
  /** Requested through an extensionRequest attribute when present. */
  subjectAltNames?: SubjectAltName[];
  signer: Signer;
}

/** DER CSR signed by `signer` over its own public key. */
export async function buildCsr(params: CsrParams): Promise<Uint8Array> {
  const attributes: Uint8Array[] = [];
  if (params.subjectAltNames?.length) {
    const extensions = sequence(encodeExtension(OID.subjectAltName, false, encodeGeneralNames(params.subjectAltNames)));
    attributes.push(sequence(oid(OID.extensionRequest), setOf(extensions)));
  }
  const info = sequence(
    integer(Uint8Array.of(0)),
    encodeName(params.subject),
    params.signer.spki,
    implicit(0, Buffer.concat(attributes), true),
  );
  const signature = await params.signer.sign(info);
  return sequence(info, params.signer.signatureAlgorithm, bitString(signature));
}

/** A subject with just a CN (the DPS registration id, a host name). */
export function commonNameSubject(cn: string): NameAttribute[] {
  return [{ oid: OID.commonName, shortName: "CN", value: cn }];
}
