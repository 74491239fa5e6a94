import { X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { PkiError } from "./pki-error.js";

/**
 * A certificate dpki did not encode itself (a device's, an enrollment group's CA, a file an
 * operator hands over, a TLS peer's), parsed once and read through one type, so the rest of
 * dpki never handles a parser of its own. Node's parser does the ASN.1; what it gives back is
 * normalised here: lowercase hex thumbprints and serials, Dates, one CN or none.
 */
export class ParsedCertificate {
  private constructor(private readonly x: X509Certificate) {}

  /** PEM (the first certificate) or DER; `what` names it in the error. */
  static parse(input: string | Uint8Array, what = "certificate"): ParsedCertificate {
    try {
      return new ParsedCertificate(new X509Certificate(typeof input === "string" ? input : Buffer.from(input)));
    } catch {
      throw new PkiError("bad_encoding", `Cannot parse ${what}: expected a PEM or DER X.509 certificate`);
    }
  }

  get der(): Uint8Array {
    return new Uint8Array(this.x.raw);
  }

  /** PEM, one certificate. */
  get pem(): string {
    return this.x.toString();
  }

  /** SHA-256 of the DER, lowercase hex. */
  get sha256(): string {
    return this.x.fingerprint256.replace(/:/g, "").toLowerCase();
  }

  /** SHA-1 of the DER, lowercase hex (what IoT Hub shows as a thumbprint). */
  get sha1(): string {
    return this.x.fingerprint.replace(/:/g, "").toLowerCase();
  }

  /** Lowercase hex, as dpki stores serials. */
  get serial(): string {
    return this.x.serialNumber.toLowerCase();
  }

  get notBefore(): Date {
    return new Date(this.x.validFrom);
  }

  get notAfter(): Date {
    return new Date(this.x.validTo);
  }

  get isCa(): boolean {
    return this.x.ca;
  }

  /** "CN=…, O=…" as Node renders the subject, one line. */
  get subject(): string {
    return this.x.subject.split("\n").join(", ");
  }

  get issuer(): string {
    return this.x.issuer.split("\n").join(", ");
  }

  /** The subject's one CN, or null when it has none or several. */
  get commonName(): string | null {
    const cns = this.x.subject.split("\n").filter((line) => line.startsWith("CN="));
    return cns.length === 1 ? cns[0]!.slice(3) : null;
  }

  /** DNS names and IP addresses of the subjectAltName, wildcards left out. */
  get hostNames(): string[] {
    return (this.x.subjectAltName ?? "")
      .split(", ")
      .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
      .filter((name): name is string => Boolean(name) && !name!.startsWith("*"));
  }

  get publicKey(): KeyObject {
    return this.x.publicKey;
  }

  /** DER SubjectPublicKeyInfo. */
  get spki(): Uint8Array {
    return new Uint8Array(this.x.publicKey.export({ type: "spki", format: "der" }));
  }

  /** Names and key identifiers link, and the issuer's key verifies the signature. */
  issuedBy(issuer: ParsedCertificate): boolean {
    try {
      return this.x.checkIssued(issuer.x) && this.x.verify(issuer.x.publicKey);
    } catch {
      return false;
    }
  }

  /** Whether a TLS client would accept it for `name` (a host name, no wildcards, or an IP address). */
  covers(name: string): boolean {
    return isIP(name) ? this.x.checkIP(name) !== undefined : this.x.checkHost(name, { wildcards: false }) !== undefined;
  }

  /** Whether `privateKey` is the private half of the certificate's key. */
  matchesKey(privateKey: KeyObject): boolean {
    return this.x.checkPrivateKey(privateKey);
  }

  /** Inside its validity period at `now`, give or take `skewMs`. */
  validAt(now: Date, skewMs = 0): boolean {
    const t = now.getTime();
    return this.notBefore.getTime() - skewMs <= t && t <= this.notAfter.getTime() + skewMs;
  }
}
