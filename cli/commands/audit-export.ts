import { Command, InvalidArgumentError } from "commander";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tilePath, tilesForSize } from "../../tlog/tiles.js";
import { AppError } from "../../src/errors.js";
import { LOG_KEY_CERTIFICATES } from "../log-sources.js";
import { withContext } from "../run.js";

/** Tiles fetched at once: a server answers several, a local tree does not mind. */
const IN_FLIGHT = 8;

export function exportCommand(): Command {
  return new Command("export")
    .description("Copy the log for offline auditing: a signed checkpoint, its verifier key, the tiles and entry bundles (C2SP tlog-tiles)")
    .requiredOption("--out <dir>", "directory to write the copy to (created when missing)")
    .option("--since <size>", "only what a copy made at this tree size lacks (the earlier export's checkpoint size)", toSize, 0)
    .addHelpText(
      "after",
      `
The copy has the layout dpki serves under /v1/log: DIR/checkpoint (a new one is signed when
entries were added), DIR/verifier-key, DIR/log-key.pem (the log key certified by the roots),
DIR/tile/<L>/<N>[.p/<W>] and DIR/tile/entries/<N>[.p/<W>].
Check it anywhere with \`dpki audit verify DIR --key VKEY\`, with the key from a source of your own,
or \`--root ROOT.pem\` to take the key from its certificate by a root you trust.
With --server, an auditor token reads it through the API.

Examples:
  dpki audit export --out ./log-copy
  dpki audit export --out ./log-copy --since 1200        # add what came after the copy of 1200 entries`,
    )
    .action(
      withContext(async ({ ops, out }, opts) => {
        const dir = opts.out as string;
        const since = opts.since as number;
        const checkpoint = await ops.auditCheckpoint();
        if (since > checkpoint.size) {
          throw new AppError("invalid_argument", `--since ${since} is beyond the log's ${checkpoint.size} entries`);
        }
        const tiles = tilesForSize(checkpoint.size, since);
        for (let at = 0; at < tiles.length; at += IN_FLIGHT) {
          const batch = tiles.slice(at, at + IN_FLIGHT);
          const bytes = await Promise.all(batch.map((t) => ops.logTile(t)));
          batch.forEach((t, i) => write(join(dir, tilePath(t)), bytes[i]!));
        }
        // The checkpoint last: a copy cut short by a failure has no checkpoint claiming what is not there.
        write(join(dir, "verifier-key"), `${checkpoint.verifierKey}\n`);
        if (checkpoint.keyCertificates.length > 0) {
          write(join(dir, LOG_KEY_CERTIFICATES), checkpoint.keyCertificates.map((k) => k.certificate).join(""));
        }
        write(join(dir, "checkpoint"), checkpoint.note);
        const summary = { dir, size: checkpoint.size, since, tiles: tiles.length, verifierKey: checkpoint.verifierKey };
        out.print(
          summary,
          () =>
            `Exported the log of ${checkpoint.size} entries to ${dir}: checkpoint, verifier-key and ${tiles.length} tiles and bundles` +
            (since > 0 ? ` (those since ${since})` : "") +
            `\nverifier key: ${checkpoint.verifierKey}\n`,
        );
      }),
    );
}

function write(file: string, data: string | Uint8Array): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  } catch (err) {
    throw new AppError("invalid_argument", `Cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function toSize(value: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`"${value}" is not a tree size`);
  return Number(value);
}
