import type { KeyProvider } from "../../../ca/key-provider.js";
import { isKeyAlgorithm, type KeyAlgorithm } from "../../../ca/key-algorithm.js";
import { certificateThumbprint, encodeCertificate } from "../../../ca/certificate.js";
import { crossCertificateParams } from "../../../ca/ca-certificates.js";
import { readCertificateFields } from "../../../ca/certificate-fields.js";
import { formatName } from "../../../ca/name.js";
import { OID } from "../../../ca/oids.js";
import { randomSerial, serialToHex } from "../../../ca/serial.js";
import { isRevocationReason, type RevocationReason } from "../../../ca/revocation-reason.js";
import type { NameAttribute } from "../../../ca/x509-types.js";
import type { Store } from "../../store/store.js";
import type { AuditInput, CaRecord } from "../../store/records.js";
import type { CrossCertificateRecord, LifecycleStore } from "../../store/lifecycle-store.js";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors.js";
import { certRevokedAudit } from "../issuance/certificate-service.js";
import { isOfflineKeyRef } from "../../../ca/offline-key.js";
import { caCreatedAudit, caSubject, caView, rootInService, servedChain, type CaService, type CaView } from "./ca-service.js";

export interface RotateOptions {
  /** Also create a new root, cross-signed by the current one, and put the new intermediate under it. */
  newRoot?: boolean;
  /** Key algorithm of the new CA keys; the current issuer's when absent. */
  algorithm?: KeyAlgorithm;
  intermediateValidityMs?: number;
  rootValidityMs?: number;
  actor: string;
}

export interface RotationResult {
  /** The intermediate that signs new certificates from now on. */
  active: CaView;
  /** The intermediate it replaced; it keeps signing its CRL and OCSP answers. */
  previous: CaView;
  /** The new root, when one was made. */
  root?: CaView;
  /** The new root's certificate signed by the old root. */
  crossCertificate?: { serial: string; sha256: string; issuer: string; notAfter: string };
}

/** Where an intermediate stands in its lifecycle. */
export type CaLifecycleState = "active" | "serving" | "retired" | "expired" | "revoked";

export interface CaStatusView extends CaView {
  /**
   * active: signs new certificates (a root: in the trust bundle); serving: an intermediate no
   * longer signing but still answering for certificates it issued; retired: nothing left to
   * answer for (a root: taken out of the trust bundle by `dpki ca retire`).
   */
  state: CaLifecycleState;
  /** Latest notAfter among its certificates, revoked ones included (intermediates): it serves until then. */
  lastCertificateExpiry: string | null;
  revokedAt: string | null;
  revocationReason: RevocationReason | null;
}

export interface CaRevocationResult {
  ca: CaStatusView;
  certificatesRevoked: number;
}

/**
 * Issuing-CA rollover and revocation. A rotation creates a new intermediate under the root (or
 * under a new root cross-signed by the old one) and makes it the active issuer in one
 * transaction; retired intermediates keep their keys and go on signing their CRLs and OCSP
 * answers until their last certificate expires, and the chain and trust bundles list both
 * generations while that overlap lasts.
 */
export class CaRotationService {
  /** Called after a rotation or a CA revocation in this process (caches of the CA set drop their copy). */
  onChange: Array<() => void | Promise<void>> = [];

  constructor(
    private readonly store: Store,
    private readonly lifecycle: LifecycleStore,
    private readonly keys: KeyProvider,
    private readonly ca: CaService,
    private readonly clock: Clock,
  ) {}

  async rotate(options: RotateOptions): Promise<RotationResult> {
    const cas = await this.store.listCas();
    const previous = cas.find((c) => c.kind === "intermediate" && c.status === "active");
    if (!previous) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    const currentRoot = cas.find((c) => c.id === previous.parentId);
    if (!currentRoot) throw new AppError("internal", `The active intermediate ${previous.id} has no root`);
    const algorithm = options.algorithm ?? (previous.keyAlgorithm as KeyAlgorithm);
    if (!isKeyAlgorithm(algorithm)) throw new AppError("invalid_argument", `Unknown key algorithm "${algorithm}"`);
    // Checked before any key is made: with the root offline, nothing here could be finished.
    if (isOfflineKeyRef(currentRoot.keyRef)) throw offlineRootRotation(currentRoot.id, Boolean(options.newRoot));

    const now = this.clock.now();
    const organization =
      readCertificateFields(currentRoot.certDer, "CA certificate").subjectAttributes.find((a) => a.oid === OID.organizationName)?.value ??
      "dpki";
    const audit: AuditInput[] = [];
    const newCas: CaRecord[] = [];
    const crossCertificates: CrossCertificateRecord[] = [];

    // The parent of the new intermediate: the current root, or a new root cross-signed by it.
    let parent = currentRoot;
    if (options.newRoot) {
      const root = await this.ca.createRoot({
        algorithm,
        subject: uniqueSubject(organization, "Root CA", cas, "root"),
        validityMs: options.rootValidityMs,
      });
      newCas.push(root);
      audit.push(caCreatedAudit(root, now, options.actor));

      // The cross certificate: the new root's name and key, signed by the old root, so a device
      // that trusts only the old root can still build leaf → new intermediate → (cross) → old root.
      const rootFields = readCertificateFields(root.certDer, "CA certificate");
      const crossSerial = randomSerial();
      const crossParams = crossCertificateParams({
        subject: rootFields.subject,
        issuer: readCertificateFields(currentRoot.certDer, "CA certificate").subject,
        issuerKeyId: Buffer.from(currentRoot.subjectKeyId, "hex"),
        spki: rootFields.spki,
        serial: crossSerial,
        notBefore: root.notBefore,
        notAfter: new Date(Math.min(root.notAfter.getTime(), currentRoot.notAfter.getTime())),
        urls: this.ca.urlsOf(currentRoot),
      });
      const crossDer = await encodeCertificate(crossParams, await this.keys.signer(currentRoot.keyRef));
      const cross: CrossCertificateRecord = {
        caId: root.id,
        issuerCaId: currentRoot.id,
        serial: serialToHex(crossSerial),
        certDer: crossDer,
        notBefore: crossParams.notBefore,
        notAfter: crossParams.notAfter,
        createdAt: now,
      };
      crossCertificates.push(cross);
      audit.push({
        at: now,
        actor: options.actor,
        action: "ca.cross-sign",
        subject: root.subject,
        serial: cross.serial,
        details: { caId: root.id, issuer: currentRoot.id, sha256: certificateThumbprint(crossDer), notAfter: cross.notAfter.toISOString() },
      });
      parent = root;
    }

    const inter = await this.ca.createIntermediate(parent, {
      algorithm,
      subject: uniqueSubject(organization, "Issuing CA", [...cas, ...newCas], "intermediate"),
      validityMs: options.intermediateValidityMs,
    });
    newCas.push(inter);
    audit.push(caCreatedAudit(inter, now, options.actor));
    audit.push({
      at: now,
      actor: options.actor,
      action: "ca.rotate",
      subject: inter.subject,
      serial: caSerial(inter),
      details: { from: previous.id, to: inter.id, root: parent.id, newRoot: Boolean(options.newRoot) },
    });

    await this.lifecycle.rotateCa({ cas: newCas, crossCertificates, activate: inter.id, audit });
    this.ca.refreshActive();
    for (const listener of this.onChange) await listener();

    const cross = crossCertificates[0];
    return {
      active: caView(inter),
      previous: caView({ ...previous, status: "retired" }),
      ...(options.newRoot ? { root: caView(newCas[0]!) } : {}),
      ...(cross
        ? {
            crossCertificate: {
              serial: cross.serial,
              sha256: certificateThumbprint(cross.certDer),
              issuer: cross.issuerCaId,
              notAfter: cross.notAfter.toISOString(),
            },
          }
        : {}),
    };
  }

  /**
   * Makes an intermediate signed elsewhere (by an offline root, in the ceremony) the active
   * issuer, as a rotation does: the previous one retires and keeps answering for its certificates.
   */
  async installIntermediate(
    inter: CaRecord,
    actor: string,
    /** A new root above it, with its cross certificate from the current root. */
    newRoot?: { root: CaRecord; crossCertificate: CrossCertificateRecord },
  ): Promise<RotationResult> {
    const cas = await this.store.listCas();
    const previous = cas.find((c) => c.kind === "intermediate" && c.status === "active");
    if (!previous) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    for (const ca of [inter, ...(newRoot ? [newRoot.root] : [])]) {
      if (cas.some((c) => c.id === ca.id)) throw new AppError("already_exists", `${ca.id} is already installed`);
    }
    const now = this.clock.now();
    const audit: AuditInput[] = [];
    if (newRoot) {
      const x = newRoot.crossCertificate;
      audit.push(caCreatedAudit(newRoot.root, now, actor), {
        at: now,
        actor,
        action: "ca.cross-sign",
        subject: newRoot.root.subject,
        serial: x.serial,
        details: {
          caId: newRoot.root.id,
          issuer: x.issuerCaId,
          sha256: certificateThumbprint(x.certDer),
          notAfter: x.notAfter.toISOString(),
        },
      });
    }
    audit.push(caCreatedAudit(inter, now, actor), {
      at: now,
      actor,
      action: "ca.rotate",
      subject: inter.subject,
      serial: caSerial(inter),
      details: { from: previous.id, to: inter.id, root: inter.parentId, newRoot: Boolean(newRoot), ceremony: "offline-root" },
    });
    await this.lifecycle.rotateCa({
      cas: newRoot ? [newRoot.root, inter] : [inter],
      crossCertificates: newRoot ? [newRoot.crossCertificate] : [],
      activate: inter.id,
      audit,
    });
    this.ca.refreshActive();
    for (const listener of this.onChange) await listener();
    const x = newRoot?.crossCertificate;
    return {
      active: caView(inter),
      previous: caView({ ...previous, status: "retired" }),
      ...(newRoot ? { root: caView(newRoot.root) } : {}),
      ...(x
        ? {
            crossCertificate: {
              serial: x.serial,
              sha256: certificateThumbprint(x.certDer),
              issuer: x.issuerCaId,
              notAfter: x.notAfter.toISOString(),
            },
          }
        : {}),
    };
  }

  /** Every CA with its lifecycle state, roots first. */
  async status(): Promise<CaStatusView[]> {
    const now = this.clock.now();
    const [cas, revocations] = await Promise.all([this.store.listCas(), this.lifecycle.caRevocations()]);
    const revoked = new Map(revocations.map((r) => [r.caId, r]));
    const out: CaStatusView[] = [];
    for (const ca of cas) {
      const last = ca.kind === "intermediate" ? await this.lifecycle.lastCertificateExpiry(ca.id) : null;
      const revocation = revoked.get(ca.id);
      out.push({
        ...caView(ca),
        state: stateOf(ca, last, revocation !== undefined, now),
        lastCertificateExpiry: last?.toISOString() ?? null,
        revokedAt: revocation?.revokedAt.toISOString() ?? null,
        revocationReason: revocation?.reason ?? null,
      });
    }
    return out;
  }

  /**
   * Intermediates that still answer for certificates: the active one, and retired ones until
   * their last certificate expires (and while their own certificate is valid), revoked ones
   * included: their certificates must be reported revoked, not unknown.
   */
  async servingIntermediates(): Promise<CaRecord[]> {
    const now = this.clock.now();
    const out: CaRecord[] = [];
    for (const ca of await this.store.listCas()) {
      if (ca.kind !== "intermediate" || ca.notAfter <= now) continue;
      if (ca.status === "active") {
        out.push(ca);
        continue;
      }
      const last = await this.lifecycle.lastCertificateExpiry(ca.id);
      if (last && last > now) out.push(ca);
    }
    return out;
  }

  /**
   * What a relying party needs above a leaf for any certificate in service: the active
   * intermediate and its cross certificates first, then retired intermediates still serving
   * (newest first) with theirs. No self-signed root: roots come from the trust bundle (root.pem).
   */
  async chainBundle(): Promise<Uint8Array[]> {
    const now = this.clock.now();
    const cas = await this.store.listCas();
    const serving = newestFirst(await this.servingIntermediates());
    const active = serving.find((c) => c.status === "active");
    if (!active) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    const crosses = await this.lifecycle.listCrossCertificates();
    return dedupe([active, ...serving.filter((c) => c !== active)].flatMap((c) => servedChain(c, cas, crosses, now)));
  }

  /**
   * The trust anchors in service, what an operator distributes as root.pem: the active issuer's
   * root first, then every other root not retired (newest first). Devices may drop a root once
   * it is retired (`dpki ca retire`).
   */
  async trustBundle(): Promise<Uint8Array[]> {
    const now = this.clock.now();
    const cas = await this.store.listCas();
    const active = cas.find((c) => c.kind === "intermediate" && c.status === "active");
    if (!active) throw new AppError("not_initialized", "No CA yet: run `dpki init` first");
    const roots = newestFirst(cas.filter((c) => rootInService(c, now)));
    const first = roots.find((r) => r.id === active.parentId);
    return dedupe([...(first ? [first] : []), ...roots.filter((r) => r !== first)].map((r) => r.certDer));
  }

  /**
   * Takes a root out of service: it leaves the trust bundle (root.pem), its cross certificates
   * leave served chains, and devices may drop it. Refused for the active issuer's root and while
   * an intermediate under it still signs or answers for certificates (revoke it or let them expire).
   */
  async retireRoot(caId: string, actor: string): Promise<CaStatusView> {
    const states = await this.status();
    const root = states.find((c) => c.id === caId);
    if (!root) throw new AppError("not_found", `No CA with id ${caId}`);
    if (root.kind !== "root")
      throw new AppError("invalid_argument", `${caId} is an intermediate: only roots are retired (intermediates retire on rotation)`);
    if (root.state !== "active") throw new AppError("conflict", `${caId} is ${root.state}, not a root in service`);
    const below = states.filter((c) => c.parentId === caId && (c.state === "active" || c.state === "serving"));
    const active = below.find((c) => c.state === "active");
    if (active) throw new AppError("conflict", `${caId} is the root of the active issuer ${active.id}: rotate with --new-root first`);
    if (below.length > 0) {
      const until = below
        .map((c) => c.lastCertificateExpiry)
        .sort()
        .at(-1);
      throw new AppError(
        "conflict",
        `${caId} still has serving intermediates (${below.map((c) => c.id).join(", ")}) with certificates valid until ${until}: revoke them (\`dpki ca revoke\`) or wait`,
      );
    }
    const ca = (await this.store.listCas()).find((c) => c.id === caId)!;
    await this.lifecycle.retireRoot(caId, {
      at: this.clock.now(),
      actor,
      action: "ca.retire",
      subject: ca.subject,
      serial: caSerial(ca),
      details: { caId, sha256: certificateThumbprint(ca.certDer) },
    });
    this.ca.refreshActive();
    for (const listener of this.onChange) await listener();
    return (await this.status()).find((c) => c.id === caId)!;
  }

  /**
   * Revokes an issuing intermediate and, in the same transaction, every good certificate it
   * issued (each with its own log entry, plus one for the CA). The active issuer cannot be
   * revoked: rotate first, so new issuance has somewhere to go.
   */
  async revoke(caId: string, reason: string, actor: string): Promise<CaRevocationResult> {
    if (!isRevocationReason(reason)) throw new AppError("invalid_argument", `Unknown revocation reason "${reason}"`);
    const cas = await this.store.listCas();
    const ca = cas.find((c) => c.id === caId);
    if (!ca) throw new AppError("not_found", `No CA with id ${caId}`);
    if (ca.kind !== "intermediate") {
      throw new AppError("invalid_argument", `${caId} is a root; only issuing intermediates can be revoked (rotate to a new root instead)`);
    }
    if (ca.status === "active") {
      throw new AppError("conflict", `${caId} is the active issuer: run \`dpki ca rotate\` first, then revoke it`);
    }
    const now = this.clock.now();
    const { revoked } = await this.lifecycle.revokeCa(
      { caId, revokedAt: now, reason: reason as RevocationReason, revokedBy: actor },
      {
        at: now,
        actor,
        action: "ca.revoke",
        subject: ca.subject,
        serial: caSerial(ca),
        details: { caId, reason, sha256: certificateThumbprint(ca.certDer) },
      },
      (cert) => certRevokedAudit(cert, reason, actor, now, { cascade: `ca:${caId}` }),
    );
    for (const listener of this.onChange) await listener();
    const status = (await this.status()).find((c) => c.id === caId)!;
    return { ca: status, certificatesRevoked: revoked };
  }
}

function stateOf(ca: CaRecord, lastCertificateExpiry: Date | null, revoked: boolean, now: Date): CaLifecycleState {
  if (revoked) return "revoked";
  if (ca.notAfter <= now) return "expired";
  if (ca.status === "active") return "active";
  if (ca.kind === "root") return "retired";
  return lastCertificateExpiry && lastCertificateExpiry > now ? "serving" : "retired";
}

function offlineRootRotation(rootId: string, newRoot: boolean): AppError {
  return new AppError(
    "key_offline",
    newRoot
      ? `The key of root ${rootId} is offline: a new root cross-signed by it is made in the offline-root ceremony (\`dpki ca request-intermediate --new-root --out request.json\` here, \`dpki ca sign-intermediate request.json --root-key ROOT-KEY --new-root-key-out NEW-ROOT-KEY --out signed.json\` on the offline machine, \`dpki ca import-intermediate signed.json\` here)`
      : `The key of root ${rootId} is offline: a new intermediate under it is signed in the offline-root ceremony (\`dpki ca request-intermediate --out request.json\` here, \`dpki ca sign-intermediate request.json --root-key ROOT-KEY --out signed.json\` on the offline machine, \`dpki ca import-intermediate signed.json\` here)`,
    { caId: rootId },
  );
}

/** "<org> Issuing CA <n>" (or "Root CA <n>") with the first n not used by an existing CA of that kind. */
export function uniqueSubject(organization: string, label: string, cas: CaRecord[], kind: CaRecord["kind"]): NameAttribute[] {
  const taken = new Set(cas.filter((c) => c.kind === kind).map((c) => c.subject));
  for (let n = cas.filter((c) => c.kind === kind).length + 1; ; n++) {
    const subject = caSubject(organization, `${label} ${n}`);
    if (!taken.has(formatName(subject))) return subject;
  }
}

function caSerial(ca: CaRecord): string {
  return caView(ca).serial;
}

function newestFirst(cas: CaRecord[]): CaRecord[] {
  return [...cas].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.notAfter.getTime() - a.notAfter.getTime());
}

function dedupe(ders: Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return ders.filter((der) => {
    const key = certificateThumbprint(der);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
