import { Command, InvalidArgumentError, Option } from "commander";
import { existsSync, readdirSync, readFileSync, statSync, mkdirSync } from "node:fs";
import { basename, extname, join } from "node:path";
import cliProgress from "cli-progress";
import { REVOCATION_REASONS } from "../../ca/revocation-reason.js";
import { certificateMatchesCsr } from "../../ca/certificate-match.js";
import type { CertificateView } from "../../src/core/issuance/certificate-view.js";
import { AppError } from "../../src/errors.js";
import type { CertificateQuery, IssueInput } from "../../src/operations/certificate-operations.js";
import { csrText, readInput, writeOutput } from "../io.js";
import { formatRecord, formatTable, shortDate } from "../output.js";
import { withContext } from "../run.js";
import { certRenewCommand } from "./lifecycle.js";

export function certCommand(): Command {
  const cert = new Command("cert").description("Issue, list, inspect and revoke certificates");

  cert
    .command("issue")
    .description("Issue a certificate from a PKCS#10 CSR under a profile")
    .requiredOption("--csr <file>", "CSR file, PEM or DER; - reads standard input")
    .requiredOption("--profile <name>", "certificate profile (see `dpki profile list`)")
    .option("--validity <duration>", "lifetime, e.g. 90d (default: the profile's)")
    .option("--out <file>", "write the certificate PEM here instead of standard output")
    .option("--chain", "append the issuing CA chain to the PEM")
    .addHelpText(
      "after",
      `
The CSR's signature is verified (proof of possession) and its content checked against the
profile; anything the profile does not allow is refused with the reason, never trimmed.

Examples:
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=dev-01 -out dev.csr
  dpki cert issue --csr dev.csr --profile device --out dev.pem --chain`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const issued = await ops.issue({
          csr: csrText(readInput(opts.csr as string)),
          profile: opts.profile as string,
          validity: opts.validity as string | undefined,
        });
        const pem = issued.pem + (opts.chain ? issued.chainPem : "");
        if (opts.out) {
          writeOutput(opts.out as string, pem);
          out.print(issued.certificate, () => `Issued ${issued.certificate.serial} (${issued.certificate.subject}) to ${opts.out}\n`);
        } else {
          out.print({ ...issued.certificate, pem: issued.pem, chainPem: issued.chainPem }, () => pem);
        }
      }),
    );

  cert
    .command("list")
    .description("List certificates, newest last")
    .addOption(new Option("--status <status>", "filter by status").choices(["good", "revoked", "expired"]))
    .option("--subject <text>", "subject contains this text (case-insensitive)")
    .option("--profile <name>", "issued under this profile")
    .option("--expiring-within <duration>", "good certificates expiring within e.g. 30d")
    .option("--limit <n>", "page size (1-1000)", toInt, 100)
    .option("--after <cursor>", "continue from a previous page's cursor")
    .action(
      withContext(async ({ ops, out }, opts) => {
        const page = await ops.listCertificates({
          status: opts.status as CertificateQuery["status"],
          subject: opts.subject as string | undefined,
          profile: opts.profile as string | undefined,
          expiringWithin: opts.expiringWithin as string | undefined,
          limit: opts.limit as number,
          after: opts.after as string | undefined,
        });
        out.print(page, () => certTable(page.items) + (page.nextCursor ? `(more: --after ${page.nextCursor})\n` : ""));
      }),
    );

  cert
    .command("show")
    .argument("<id>", "serial number (hex) or SHA-256 thumbprint")
    .description("Show one certificate")
    .option("--pem", "print only the certificate PEM")
    .action(
      withContext(async ({ ops, out }, opts, id: string) => {
        const c = await ops.getCertificate(id);
        if (opts.pem) return void process.stdout.write(c.pem);
        out.print(c, () => certDetails(c));
      }),
    );

  cert
    .command("revoke")
    .argument("<id>", "serial number (hex) or SHA-256 thumbprint")
    .description("Revoke a certificate (permanent: a revoked certificate never becomes good again)")
    .addOption(new Option("--reason <reason>", "RFC 5280 reason code").choices(Object.keys(REVOCATION_REASONS)).default("unspecified"))
    .action(
      withContext(async ({ ops, out }, opts, id: string) => {
        const c = await ops.revoke(id, opts.reason as string);
        out.print(c, () => `Revoked ${c.serial} (${c.subject}) at ${c.revokedAt}, reason ${c.revocationReason}\n`);
      }),
    );

  cert
    .command("sign-batch")
    .argument("<paths...>", `CSR files, or directories whose ${CSR_GLOBS} files are read (not *.crt.pem)`)
    .description("Sign many CSRs for a factory line: one certificate per CSR, failures reported per file")
    .requiredOption("--profile <name>", "certificate profile")
    .requiredOption("--out <dir>", "directory for the certificates (<name>.crt.pem)")
    .option("--validity <duration>", "lifetime, e.g. 90d (default: the profile's)")
    .option("--force", "re-issue CSRs whose certificate file already exists and matches")
    .addHelpText(
      "after",
      `
Reads ${CSR_GLOBS} (PEM or DER) from the directories given; *.crt.pem files (its own output)
are never read as CSRs. A re-run is safe: a CSR whose <name>.crt.pem already exists, holds the
CSR's public key, is inside its validity period and was signed by this CA is skipped (and
counted as skipped); --force re-issues it (e.g. after revoking it).

Exits 0 when every CSR was signed or skipped, 65 when any failed (the others are still written).`,
    )
    .action(
      withContext(
        async ({ ops, out }, opts, paths: string[]) => {
          const files = expandCsrPaths(paths);
          if (files.length === 0) throw new AppError("invalid_argument", `No CSR files found in ${paths.join(", ")}`);
          const outDir = opts.out as string;
          mkdirSync(outDir, { recursive: true });
          const issuers = opts.force
            ? []
            : ((await ops.caChainPem()).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []);
          const now = new Date();
          const inputs: IssueInput[] = [];
          const unreadable = new Map<number, string>();
          const skipped = new Map<number, string>();
          files.forEach((file, i) => {
            try {
              const bytes = readInput(file);
              const target = join(outDir, certFileName(file));
              if (!opts.force && existsSync(target)) {
                const existing = readFileSync(target, "latin1");
                if (certificateMatchesCsr(existing, bytes, issuers, now)) {
                  skipped.set(i, target);
                  return;
                }
              }
              inputs.push({
                csr: csrText(bytes),
                profile: opts.profile as string,
                validity: opts.validity as string | undefined,
              });
            } catch (err) {
              unreadable.set(i, (err as Error).message);
            }
          });
          const toIssue = files.map((_, i) => i).filter((i) => !unreadable.has(i) && !skipped.has(i));
          const bar =
            process.stderr.isTTY && !out.json
              ? new cliProgress.SingleBar(
                  { format: "signing {bar} {value}/{total} CSRs  {eta}s left", stream: process.stderr },
                  cliProgress.Presets.shades_classic,
                )
              : null;
          bar?.start(toIssue.length, 0);
          const results = toIssue.length ? await ops.issueBatch(inputs, (done) => bar?.update(done)) : [];
          bar?.stop();
          const resultOf = new Map(toIssue.map((fileIndex, k) => [fileIndex, results[k]!]));
          const report = files.map((file, i) => {
            if (unreadable.has(i)) return { file, ok: false as const, error: { code: "not_found", message: unreadable.get(i)! } };
            if (skipped.has(i)) return { file, ok: true as const, skipped: true, out: skipped.get(i)! };
            const r = resultOf.get(i)!;
            if (!r.ok) return { file, ok: false as const, error: r.error };
            const target = join(outDir, certFileName(file));
            writeOutput(target, r.pem);
            return { file, ok: true as const, serial: r.certificate.serial, out: target };
          });
          const failed = report.filter((r) => !r.ok);
          const signed = report.length - failed.length - skipped.size;
          out.print({ signed, skipped: skipped.size, failed: failed.length, results: report }, () => {
            const lines = failed.map((f) => `FAILED ${f.file}: ${"error" in f ? f.error.message : ""}`);
            lines.push(
              `Signed ${signed} of ${report.length} CSRs into ${outDir}` +
                (skipped.size ? `; ${skipped.size} skipped (already signed; --force re-issues)` : "") +
                (failed.length ? `; ${failed.length} failed` : ""),
            );
            return lines.join("\n") + "\n";
          });
          return failed.length ? 65 : 0;
        },
        { workers: true },
      ),
    );

  cert.addCommand(certRenewCommand());

  return cert;
}

export function certTable(items: CertificateView[]): string {
  return formatTable(items, [
    { header: "serial", value: (c) => c.serial },
    { header: "status", value: (c) => c.status },
    { header: "profile", value: (c) => c.profile },
    { header: "not after", value: (c) => shortDate(c.notAfter) },
    { header: "subject", value: (c) => c.subject },
  ]);
}

function certDetails(c: CertificateView): string {
  return formatRecord([
    ["serial", c.serial],
    ["sha256", c.sha256],
    ["subject", c.subject],
    ["SANs", c.subjectAltNames.join(", ") || null],
    ["status", c.status],
    ["not before", c.notBefore],
    ["not after", c.notAfter],
    ["profile", c.profile],
    ["issuer", c.issuer],
    ["requester", c.requester],
    ["issued at", c.createdAt],
    ["revoked at", c.revokedAt],
    ["reason", c.revocationReason],
  ]);
}

const CSR_EXTENSIONS = new Set([".csr", ".pem", ".der", ".req"]);
const CSR_GLOBS = [...CSR_EXTENSIONS].map((e) => `*${e}`).join(", ");
const OUTPUT_SUFFIX = ".crt.pem";

function expandCsrPaths(paths: string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      files.push(p); // reported as unreadable per file
      continue;
    }
    if (isDir) {
      for (const name of readdirSync(p).sort()) {
        // Its own output may share the directory: a re-run must not read certificates as CSRs.
        if (CSR_EXTENSIONS.has(extname(name).toLowerCase()) && !name.toLowerCase().endsWith(OUTPUT_SUFFIX)) files.push(join(p, name));
      }
    } else files.push(p);
  }
  return files;
}

function certFileName(csrFile: string): string {
  return basename(csrFile).replace(/\.(csr|pem|der|req)$/i, "") + ".crt.pem";
}

export function toInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return n;
}
