import { Command, Option } from "commander";
import { readFileSync } from "node:fs";
import { KEY_ALGORITHMS } from "../../ca/key-algorithm.js";
import { systemClock } from "../../src/clock.js";
import { parseCrlRequest, parseIntermediateRequest, parseSignedIntermediate } from "../../src/core/authority/ceremony-files.js";
import { OfflineRootSigner, type CeremonySummary } from "../../src/core/authority/offline-root-signer.js";
import { openServices, type Services } from "../../src/app.js";
import { AppError } from "../../src/errors.js";
import { pemEncode } from "../../ca/pem.js";
import { actorFor, globalOptions } from "../context.js";
import { writeOutput } from "../io.js";
import { createOutput, formatRecord, type Output } from "../output.js";
import { readRootKeyFile, rootPassphrase, writeRootKeyFile } from "../root-key-file.js";
import { withErrors } from "../run.js";

const CEREMONY = `
The offline-root ceremony (README "Offline root"): on the online machine
  dpki ca request-intermediate --out request.json
on the offline machine, with the root key file
  dpki ca sign-intermediate request.json --root-key root-key.pem --out signed.json
back on the online machine
  dpki ca import-intermediate signed.json
A root CRL alone: request-crl, sign-crl, import-crl, the same way round. A new root
(cross-signed by the current one): request-intermediate --new-root, then sign-intermediate
with --new-root-key-out FILE for the new root's key.`;

/** Adds the offline-root ceremony commands to `dpki ca`. */
export function addCeremonyCommands(ca: Command): Command {
  ca.command("request-intermediate")
    .description("Offline root, online machine: make a new intermediate key here and write the request the offline root signs")
    .requiredOption("--out <file>", "the request file to carry to the offline machine")
    .addOption(new Option("--algorithm <alg>", "key algorithm (default: the current issuer's)").choices([...KEY_ALGORITHMS]))
    .option("--new-root", "also a new offline root, cross-signed by the current one, above the new intermediate")
    .addHelpText("after", CEREMONY)
    .action(
      withLocal(async ({ services, out, actor }, opts) => {
        const request = await services.offlineRoot.requestIntermediate({
          algorithm: opts.algorithm as string | undefined,
          newRoot: Boolean(opts.newRoot),
          actor,
        });
        writeOutput(opts.out as string, JSON.stringify(request, null, 2) + "\n");
        out.print({ file: opts.out, root: request.root.id, keyAlgorithm: request.keyAlgorithm, keyRef: request.keyRef }, () =>
          formatRecord([
            ["request", `${opts.out as string} (carry it to the offline machine)`],
            ["root", request.root.id],
            ["new key", `${request.keyAlgorithm}, ${request.keyRef}`],
            ["root CRL", `number ${request.rootCrl.number}, ${request.rootCrl.revoked.length} revoked intermediates`],
            ["new root", request.newRoot ? `${request.newRoot.subject} (${request.newRoot.keyAlgorithm}), made offline` : null],
          ]),
        );
      }),
    );

  ca.command("sign-intermediate")
    .argument("<request>", "the file `dpki ca request-intermediate` wrote")
    .description("Offline root, offline machine: sign the requested intermediate and a fresh root CRL with the root key")
    .requiredOption("--root-key <file>", "the encrypted root key (`dpki init --offline-root` wrote it)")
    .requiredOption("--out <file>", "the signed file to carry back")
    .option("--root-passphrase-file <file>", "file holding the root key passphrase (else env DPKI_ROOT_PASSPHRASE)")
    .option(
      "--new-root-key-out <file>",
      "for a request made with --new-root: where the new root's key goes (encrypted under the same passphrase)",
    )
    .addHelpText("after", `\nNeeds no data directory: only the request, the root key file and its passphrase.\n${CEREMONY}`)
    .action(
      withErrors(async (opts, cmd, requestFile: string) => {
        const out = createOutput(Boolean(globalOptions(cmd).json));
        const request = parseIntermediateRequest(readText(requestFile), requestFile);
        if (opts.newRootKeyOut && !request.newRoot) {
          throw new AppError("bad_request", `--new-root-key-out: ${requestFile} asks for no new root (made without --new-root)`);
        }
        const passphrase = rootPassphrase(opts.rootPassphraseFile as string | undefined);
        const signer = await OfflineRootSigner.open(readRootKeyFile(opts.rootKey as string), passphrase, systemClock);
        const newRootKey = opts.newRootKeyOut
          ? { passphrase, save: (pem: string) => writeRootKeyFile(opts.newRootKeyOut as string, pem) }
          : undefined;
        const { signed, summary } = await signer.signIntermediate(request, newRootKey);
        writeOutput(opts.out as string, JSON.stringify(signed, null, 2) + "\n");
        printSummary(out, summary, opts.out as string);
      }),
    );

  ca.command("import-intermediate")
    .argument("<signed>", "the file `dpki ca sign-intermediate` wrote")
    .description("Offline root, online machine: install the signed intermediate as the active issuer, and the root CRL")
    .addHelpText("after", CEREMONY)
    .action(
      withLocal(async ({ services, out, actor }, _opts, signedFile: string) => {
        const result = await services.offlineRoot.importIntermediate(parseSignedIntermediate(readText(signedFile), signedFile), actor);
        out.print(result, () =>
          formatRecord([
            ["active issuer", `${result.active.id} (${result.active.subject})`],
            ["retired", `${result.previous.id} (serves its certificates until they expire)`],
            ["new root", result.root ? `${result.root.id} (${result.root.subject}); distribute the new root.pem (\`dpki ca root\`)` : null],
            [
              "cross certificate",
              result.crossCertificate ? `${result.crossCertificate.serial}, signed by ${result.crossCertificate.issuer}` : null,
            ],
            ["root CRL", `number ${result.rootCrl.number}, next update ${result.rootCrl.nextUpdate}`],
          ]),
        );
      }),
    );

  ca.command("request-crl")
    .description("Offline root, online machine: write the request for a fresh root CRL (after `ca revoke`, or before the last one expires)")
    .requiredOption("--out <file>", "the request file to carry to the offline machine")
    .option("--ca <root-id>", "the offline root (default: the active issuer's root)")
    .addHelpText("after", CEREMONY)
    .action(
      withLocal(async ({ services, out }, opts) => {
        const request = await services.offlineRoot.requestCrl(opts.ca as string | undefined);
        writeOutput(opts.out as string, JSON.stringify(request, null, 2) + "\n");
        out.print({ file: opts.out, root: request.root.id, number: request.crl.number, revoked: request.crl.revoked.length }, () =>
          formatRecord([
            ["request", `${opts.out as string} (carry it to the offline machine)`],
            ["root", request.root.id],
            ["root CRL", `number ${request.crl.number}, ${request.crl.revoked.length} revoked intermediates`],
          ]),
        );
      }),
    );

  ca.command("sign-crl")
    .argument("<request>", "the file `dpki ca request-crl` wrote")
    .description("Offline root, offline machine: sign the root CRL with the root key (writes a PEM CRL)")
    .requiredOption("--root-key <file>", "the encrypted root key")
    .requiredOption("--out <file>", "the CRL (PEM) to carry back")
    .option("--root-passphrase-file <file>", "file holding the root key passphrase (else env DPKI_ROOT_PASSPHRASE)")
    .addHelpText("after", CEREMONY)
    .action(
      withErrors(async (opts, cmd, requestFile: string) => {
        const out = createOutput(Boolean(globalOptions(cmd).json));
        const request = parseCrlRequest(readText(requestFile), requestFile);
        const { der, summary } = await (await openRoot(opts)).signCrl(request);
        writeOutput(opts.out as string, pemEncode("X509 CRL", der));
        printSummary(out, summary, opts.out as string);
      }),
    );

  ca.command("import-crl")
    .argument("<crl>", "the CRL `dpki ca sign-crl` wrote (PEM or DER)")
    .description("Offline root, online machine: publish the root CRL signed offline")
    .addHelpText("after", CEREMONY)
    .action(
      withLocal(async ({ services, out, actor }, _opts, crlFile: string) => {
        const crl = await services.offlineRoot.importCrl(readFileSync(crlFile), actor);
        if (crl.missingRevocations > 0) {
          out.note(
            `${crl.missingRevocations} revoked intermediates are not in this CRL yet (revoked after the request): run the CRL ceremony again`,
          );
        }
        out.print(
          crl,
          () => `Imported CRL number ${crl.number} of ${crl.issuer} (${crl.entries} entries, next update ${crl.nextUpdate})\n`,
        );
      }),
    );
  return ca;
}

interface LocalContext {
  services: Services;
  out: Output;
  actor: string;
}

/** A ceremony step on the local data directory (never through --server: the files stay on this machine). */
function withLocal<P extends unknown[]>(body: (ctx: LocalContext, opts: Record<string, unknown>, ...positionals: P) => Promise<void>) {
  return withErrors(async (opts, cmd, ...positionals: P) => {
    const global = globalOptions(cmd);
    const services = openServices({ dataDir: global.dataDir, passphraseFile: global.passphraseFile });
    try {
      await body({ services, out: createOutput(Boolean(global.json)), actor: actorFor(global) }, opts, ...positionals);
    } finally {
      await services.close();
    }
  });
}

async function openRoot(opts: Record<string, unknown>): Promise<OfflineRootSigner> {
  const pem = readRootKeyFile(opts.rootKey as string);
  return OfflineRootSigner.open(pem, rootPassphrase(opts.rootPassphraseFile as string | undefined), systemClock);
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new AppError("not_found", `Cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function printSummary(out: Output, summary: CeremonySummary, file: string): void {
  out.print({ file, ...summary }, () =>
    formatRecord([
      ["signed", `${file} (carry it back to the online machine)`],
      ["root", summary.rootId],
      ...(summary.newRoot
        ? ([
            ["new root", `${summary.newRoot.id} (${summary.newRoot.subject}), until ${summary.newRoot.notAfter}`],
            ["new root sha256", summary.newRoot.sha256],
            ["cross certificate", `sha256 ${summary.newRoot.crossCertificateSha256}`],
          ] as Array<[string, string]>)
        : []),
      ...(summary.intermediate
        ? ([
            ["intermediate", `${summary.intermediate.subject}, serial ${summary.intermediate.serial}`],
            ["valid until", summary.intermediate.notAfter],
            ["sha256", summary.intermediate.sha256],
          ] as Array<[string, string]>)
        : []),
      ["root CRL", `number ${summary.rootCrl.number}, ${summary.rootCrl.entries} entries, next update ${summary.rootCrl.nextUpdate}`],
    ]),
  );
}
