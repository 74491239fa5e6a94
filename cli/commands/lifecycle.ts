import { Command, Option } from "commander";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { KEY_ALGORITHMS } from "../../ca/key-algorithm.js";
import { parseCsr } from "../../ca/csr.js";
import { REVOCATION_REASONS } from "../../ca/revocation-reason.js";
import type { CaStatusView } from "../../src/core/authority/ca-rotation-service.js";
import { AppError } from "../../src/errors.js";
import { csrText, readInput, writeOutput } from "../io.js";
import { confirm } from "../confirm.js";
import { withContext } from "../run.js";
import { formatRecord, formatTable, shortDate } from "../output.js";

/** Adds `rotate`, `status`, `revoke`, `retire` and `root` (alias `trust-bundle`) to `dpki ca`. */
export function addCaLifecycleCommands(ca: Command): Command {
  ca.command("rotate")
    .description("Roll the issuing CA over: a new intermediate signs from now on, the old one keeps answering for its certificates")
    .option("--new-root", "also create a new root, cross-signed by the current one, and put the new intermediate under it")
    .option("--yes", "with --new-root: do not ask for confirmation (required when not run on a terminal)")
    .addOption(
      new Option("--algorithm <alg>", "key algorithm of the new CA keys (default: the current issuer's)").choices([...KEY_ALGORITHMS]),
    )
    .addHelpText(
      "after",
      `
The previous intermediate is retired, not revoked: it keeps signing its CRL and OCSP answers
until its last certificate expires, and \`dpki ca chain\` / GET /v1/ca/chain list both while
that overlap lasts. With --new-root, root.pem (\`dpki ca root\`) lists both roots and served
chains carry the cross certificate until \`dpki ca retire <old-root>\`. A running server picks
the new issuer up within seconds.

Examples:
  dpki ca rotate
  dpki ca rotate --new-root --algorithm P-384 --yes

A new root changes what every device and client must trust: on a terminal dpki asks first;
scripts pass --yes (without it, and without a terminal, exit 64).`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        if (opts.newRoot) await confirm("Create a new root that every device and client will have to trust?", Boolean(opts.yes));
        const result = await ops.caRotate({ newRoot: Boolean(opts.newRoot), algorithm: opts.algorithm as string | undefined });
        out.print(result, () =>
          formatRecord([
            ["active issuer", `${result.active.id} (${result.active.subject})`],
            ["retired", `${result.previous.id} (serves its certificates until they expire)`],
            ["new root", result.root ? `${result.root.id} (${result.root.subject})` : null],
            [
              "cross certificate",
              result.crossCertificate ? `${result.crossCertificate.serial}, signed by ${result.crossCertificate.issuer}` : null,
            ],
          ]),
        );
      }),
    );

  ca.command("status")
    .description("Every CA with its lifecycle state (active, serving, retired, expired, revoked)")
    .action(
      withContext(async ({ ops, out }) => {
        const cas = await ops.caList();
        out.print(cas, () => caStatusTable(cas));
      }),
    );

  ca.command("revoke")
    .argument("<ca-id>", "a retired issuing intermediate (see `dpki ca status`)")
    .description("Revoke an issuing CA and every certificate it issued, in one logged operation")
    .addOption(new Option("--reason <reason>", "RFC 5280 reason code").choices(Object.keys(REVOCATION_REASONS)).default("cACompromise"))
    .option("--yes", "do not ask for confirmation (required when not run on a terminal)")
    .addHelpText(
      "after",
      `
Every device whose certificate chains to this CA is refused from then on, and it cannot be undone:
on a terminal dpki asks first; scripts pass --yes (without it, and without a terminal, exit 64).
The active issuer cannot be revoked (exit 75): run \`dpki ca rotate\` first.`,
    )
    .action(
      withContext(async ({ ops, out }, opts, caId: string) => {
        await confirm(`Revoke CA ${caId} and every certificate it issued, refusing every device below it?`, Boolean(opts.yes));
        const result = await ops.caRevoke(caId, opts.reason as string);
        out.print(
          result,
          () =>
            `Revoked ${result.ca.id} (${result.ca.subject}) and ${result.certificatesRevoked} certificates it issued, reason ${opts.reason}\n`,
        );
      }),
    );

  ca.command("retire")
    .argument("<root-id>", "a root that no longer anchors an active or serving intermediate (see `dpki ca status`)")
    .description("Take a root out of service: it leaves root.pem and served chains, and devices may drop it")
    .addHelpText(
      "after",
      `
Refused (exit 75, HTTP 409) for the active issuer's root and while an intermediate
under it still signs or answers for certificates: revoke it (\`dpki ca revoke\`) or let its
certificates expire first. <data-dir>/root.pem is rewritten; a running server drops the cross
certificate from its chain within seconds.`,
    )
    .action(
      withContext(async ({ ops, out }, _opts, caId: string) => {
        const ca = await ops.caRetire(caId);
        out.print(
          ca,
          () => `Retired root ${ca.id} (${ca.subject}): distribute the new root.pem (\`dpki ca root\`); devices may drop this root\n`,
        );
      }),
    );

  ca.command("root")
    .alias("trust-bundle")
    .description("Print the roots in service (PEM), the active issuer's first: root.pem, the file devices and clients trust")
    .option("--out <file>", "write to a file (e.g. root.pem)")
    .action(
      withContext(async ({ ops, out }, opts) => {
        const pem = await ops.caTrustBundlePem();
        if (opts.out) writeOutput(opts.out as string, pem);
        else out.print({ pem }, () => pem);
      }),
    );
  return ca;
}

/** `dpki cert renew`. */
export function certRenewCommand(): Command {
  return new Command("renew")
    .argument("<id>", "serial number (hex) or SHA-256 thumbprint of the certificate to renew")
    .description("Renew a certificate from a new CSR: same identity, the old one revoked as superseded after the grace period")
    .requiredOption("--csr <file>", "the new CSR (PEM or DER); - reads standard input")
    .option(
      "--old-key <file>",
      "the old certificate's private key (PEM), to prove possession when renewing an expired certificate with a new key; it is used locally, never sent",
    )
    .option("--proof <file>", "a signature by the old key over the new CSR's DER (instead of --old-key)")
    .option("--out <file>", "write the new certificate PEM here instead of standard output")
    .option("--chain", "append the issuing CA chain to the PEM")
    .addHelpText(
      "after",
      `
The CSR must ask for the same subject and subjectAltNames; the profile is the old certificate's.
The old certificate stays good for the configured grace period (renewalGrace, default 1d).
An expired certificate can be renewed only within expiredRenewalWindow (default 30d) of its
expiry and with proof of possession of its key (a CSR signed by it, or --old-key / --proof);
such renewals are flagged in the log.

Examples:
  dpki cert renew 5a3c9e1f0b2d4a6c8e0f1a3b5c7d9e1f --csr dev-new.csr --out dev.pem --chain`,
    )
    .action(
      withContext(async ({ ops, out }, opts, id: string) => {
        const csr = csrText(readInput(opts.csr as string));
        let proof: string | undefined;
        if (opts.oldKey && opts.proof) throw new AppError("invalid_argument", "Give --old-key or --proof, not both");
        if (opts.oldKey) proof = proofWithKey(readInput(opts.oldKey as string), csr);
        if (opts.proof) proof = readInput(opts.proof as string).toString("base64");
        const renewed = await ops.certRenew(id, { csr, ...(proof ? { proof } : {}) });
        const pem = renewed.pem + (opts.chain ? renewed.chainPem : "");
        const summary = `Renewed ${renewed.previous.serial} as ${renewed.certificate.serial} (${renewed.certificate.subject}); the old certificate is superseded at ${renewed.previous.supersededAt}${renewed.expiredRenewal ? " (expired-certificate renewal, flagged in the log)" : ""}`;
        if (opts.out) {
          writeOutput(opts.out as string, pem);
          out.print(renewed, () => `${summary}\nWrote ${opts.out}\n`);
        } else {
          if (!out.json) out.note(summary);
          out.print(renewed, () => pem);
        }
      }),
    );
}

/** The old key's signature over the new CSR's DER (SHA-256; Ed25519 signs the message itself). */
function proofWithKey(keyPem: Buffer, csr: string): string {
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new AppError("bad_encoding", "Cannot read --old-key: not an unencrypted PEM private key");
  }
  const der = parseCsr(csr.includes("-----BEGIN") ? csr : Buffer.from(csr, "base64")).der;
  const digest = key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";
  return cryptoSign(digest, der, key).toString("base64");
}

export function caStatusTable(cas: CaStatusView[]): string {
  return formatTable(cas, [
    { header: "id", value: (c) => c.id },
    { header: "kind", value: (c) => c.kind },
    { header: "state", value: (c) => c.state },
    { header: "parent", value: (c) => c.parentId ?? "-" },
    { header: "not after", value: (c) => shortDate(c.notAfter) },
    { header: "last cert expires", value: (c) => (c.lastCertificateExpiry ? shortDate(c.lastCertificateExpiry) : "-") },
    { header: "subject", value: (c) => c.subject },
  ]);
}
