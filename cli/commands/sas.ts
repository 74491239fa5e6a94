import { Command, Option } from "commander";
import type { SasPolicyChange } from "../../src/core/dps/sas-on-demand.js";
import { readFileSync } from "node:fs";
import { createSasToken, encodeUriComponentStrict } from "../../src/core/sas/sas.js";
import { explainSasToken } from "../../src/core/sas/sas-explain.js";
import { parseDuration } from "../../src/duration.js";
import { AppError } from "../../src/errors.js";
import { globalOptions } from "../context.js";
import { withContext } from "../run.js";
import type { MintRequest } from "../../src/core/lifecycle/credential-service.js";
import { createOutput, formatRecord, reportError } from "../output.js";

export interface MintedToken {
  token: string;
  /** sr exactly as in the token. */
  resource: string;
  keyName: string | null;
  /** se: seconds since the epoch. */
  expiry: string;
  expiresAt: string;
}

/**
 * `dpki sas`: shared access signature tokens, byte-identical to the Azure IoT SDKs'. With an
 * explicit key these work offline; nothing is stored or logged.
 */
export function sasCommand(): Command {
  const sas = new Command("sas").description("Mint and check Azure IoT-compatible SAS tokens");

  sas
    .command("mint")
    .description(
      "Mint a SAS token (SharedAccessSignature sr=…&sig=…[&skn=…]&se=…) from a key, or from an enrollment's or hub policy's stored keys",
    )
    .option("--key <base64>", "the shared key (visible in ps: prefer --key-file or DPKI_SAS_KEY)")
    .option("--key-file <file>", "file holding the shared key")
    .option("--resource <uri>", "with a key: sr exactly as it goes into the token (already url-encoded where the SDK encodes it)")
    .option("--encode", "url-encode --resource first, as the device SDK does for {host}/devices/{id}")
    .option("--policy <name>", "shared access policy name (skn); with --hub, the hub policy whose stored key signs")
    .option("--ttl <duration>", "lifetime from now, e.g. 1h (default 1h)")
    .option("--expiry <seconds>", "absolute expiry, seconds since the epoch (instead of --ttl)")
    .option("--scope <id>", "stored keys: ID scope (env DPKI_SCOPE; default: the only one)")
    .option("--registration-id <id>", "stored keys: the device's registration id")
    .option("--device <id>", "stored keys: the hub device id (default: the registration's)")
    .option("--group <id>", "stored keys: the enrollment group whose derived key to use")
    .option("--hub <name>", "stored keys: the hub (default: the device's assigned hub)")
    .option("--module <id>", "stored keys: a module token (sr …/devices/{id}/modules/{module})")
    .option("--dps", "stored keys: a DPS registration token instead of a hub device token")
    .option("--secondary", "stored keys: sign with the secondary key")
    .addHelpText(
      "after",
      `
The string signed is sr, a newline and se; sig is base64(HMAC-SHA256(base64decode(key), that)),
url-encoded with the SDK's quirk (! ' ( ) * become %21 %27 %28 %29 %2a, lowercase).

From stored keys (the key never leaves dpki; the mint is logged):
  hub device token:   --registration-id ID [--device ID] [--hub NAME]   (sr = encoded {host}/devices/{id}, no skn)
  DPS registration:   --dps --registration-id ID [--group GROUP]        (sr = {scope}/registrations/{id}, skn registration)
  hub policy token:   --hub NAME --policy NAME [--device ID]            (sr = host, skn = policy)

Examples:
  dpki sas mint --key-file dev.key --resource 0ne00ABC123/registrations/dev-01 --policy registration
  dpki sas mint --key-file dev.key --resource myhub.example.net/devices/dev-01 --encode --ttl 1d
  dpki sas mint --registration-id sensor-0042 --ttl 1d
  dpki sas mint --hub eu-1 --policy iothubowner --json`,
    )
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const json = Boolean(globalOptions(cmd).json);
      const explicitKey = opts.key !== undefined || opts.keyFile !== undefined || opts.resource !== undefined;
      if (!explicitKey && (opts.registrationId !== undefined || opts.device !== undefined || opts.hub !== undefined)) {
        return mintStored(opts, cmd);
      }
      try {
        if (opts.resource === undefined) {
          throw new AppError(
            "invalid_argument",
            "Give --resource with --key/--key-file, or name a stored credential (--registration-id, --hub --policy)",
          );
        }
        const key = symmetricKey(readKey(opts));
        const resource = opts.encode ? encodeUriComponentStrict(opts.resource as string) : (opts.resource as string);
        const minted = mint(resource, key, (opts.policy as string | undefined) ?? null, expiryOf(opts));
        createOutput(json).print(minted, () => minted.token + "\n");
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });

  sas
    .command("verify")
    .argument("<token>", 'the token, "SharedAccessSignature sr=…" (quote it); - reads standard input')
    .description("Check a SAS token and explain every reason it fails (signature, key name, resource, expiry)")
    .option("--key <base64...>", "candidate key(s), e.g. primary and secondary")
    .option("--key-file <file...>", "file(s) holding candidate keys")
    .requiredOption("--resource <uri>", "the decoded resource the token must grant, e.g. myhub.example.net/devices/dev-01")
    .option("--policy <name>", "the key name (skn) the token must carry")
    .option("--no-policy", "the token must carry no key name (device keys)")
    .option("--ignore-case", "compare the resource case-insensitively (as IoT Hub and DPS do)")
    .option("--skew <duration>", "tolerated clock difference on expiry", "0s")
    .addHelpText(
      "after",
      `
Exit code 0 when the token is valid, 77 when it is refused (every failing check is listed).

Example:
  dpki sas verify "$TOKEN" --key-file dev.key --resource myhub.example.net/devices/dev-01 --no-policy`,
    )
    .action(async (token: string, opts: Record<string, unknown>, cmd: Command) => {
      const json = Boolean(globalOptions(cmd).json);
      try {
        const text = token === "-" ? readFileSync(0, "utf8").trim() : token;
        const keys = [
          ...((opts.key as string[] | undefined) ?? []),
          ...((opts.keyFile as string[] | undefined) ?? []).map(readKeyFile),
        ].map(symmetricKey);
        if (keys.length === 0) throw new AppError("invalid_argument", "Give the key(s) to check against: --key or --key-file");
        // commander: --policy NAME gives a string, --no-policy gives false, neither leaves it undefined (not checked).
        const keyName = typeof opts.policy === "string" ? opts.policy : opts.policy === false ? null : undefined;
        const skewMs = opts.skew === "0s" ? 0 : parseDuration(opts.skew as string);
        const result = explainSasToken(text, {
          keys,
          resource: opts.resource as string,
          keyName,
          now: new Date(),
          skewSeconds: skewMs / 1000,
          caseInsensitiveResource: Boolean(opts.ignoreCase),
        });
        createOutput(json).print(result, () =>
          result.valid
            ? formatRecord([
                ["valid", `yes (signed with key #${(result.keyIndex ?? 0) + 1})`],
                ["resource", result.fields!.resource],
                ["key name", result.fields!.skn ?? "(none)"],
                ["expires", result.fields!.expiresAt],
              ])
            : `refused:\n${result.problems.map((p) => `  - ${p.check}: ${p.message}`).join("\n")}\n`,
        );
        if (!result.valid) process.exitCode = 77;
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
  sas
    .command("policy")
    .description("Show or set the scope's policy for SAS tokens devices get on demand from the device endpoint")
    .option("--scope <id>", "ID scope (env DPKI_SCOPE; default: the only one)")
    .option("--max-ttl <duration>", "longest lifetime of a token issued on demand (longer requests get this), e.g. 1d")
    .option("--default-ttl <duration>", "lifetime when the device asks for none, e.g. 1h")
    .addOption(new Option("--device-keys <allow|deny>", "may devices sign hub tokens with their own symmetric key").choices(["allow", "deny"]))
    .option("--signing-policy <name>", "the hub shared access policy (DeviceConnect) whose key signs tokens issued on demand")
    .option("--no-signing-policy", "sign tokens issued on demand with the device's own key (symmetric-key devices only)")
    .addHelpText(
      "after",
      `
Without options it shows the policy. Defaults: --max-ttl 1d --default-ttl 1h --device-keys allow,
signed with the device's own key. With --device-keys deny the hub refuses tokens signed with a
device's key, so devices rely on tokens on demand (a signing policy is then required).
Devices ask with POST /{idScope}/registrations/{registrationId}/sasToken on the device endpoint.

Examples:
  dpki hub policy add eu-1 devices --rights DeviceConnect
  dpki sas policy --max-ttl 4h --default-ttl 1h --signing-policy devices --device-keys deny`,
    )
    .action(
      withContext(async ({ ops, out, scope }, opts) => {
        const idScope = await scope();
        const change: SasPolicyChange = {
          ...(opts.maxTtl !== undefined ? { maxTtlSeconds: seconds(opts.maxTtl as string, "--max-ttl") } : {}),
          ...(opts.defaultTtl !== undefined ? { defaultTtlSeconds: seconds(opts.defaultTtl as string, "--default-ttl") } : {}),
          ...(opts.deviceKeys !== undefined ? { deviceKeys: opts.deviceKeys === "allow" } : {}),
          // commander: --signing-policy NAME gives a string, --no-signing-policy false, neither true (the default).
          ...(typeof opts.signingPolicy === "string" ? { signingPolicy: opts.signingPolicy } : opts.signingPolicy === false ? { signingPolicy: null } : {}),
        };
        const policy = Object.keys(change).length === 0 ? await ops.sasPolicyGet(idScope) : await ops.sasPolicySet(idScope, change);
        out.print(policy, () =>
          formatRecord([
            ["scope", policy.idScope],
            ["max lifetime", `${policy.maxTtlSeconds} s`],
            ["default lifetime", `${policy.defaultTtlSeconds} s`],
            ["device keys", policy.deviceKeys ? "allowed" : "denied (the hub refuses tokens signed with them)"],
            ["signed with", policy.signingPolicy ? `hub policy ${policy.signingPolicy}` : "the device's own key"],
            ["set", policy.updatedAt ? `${policy.updatedAt} by ${policy.updatedBy}` : "(defaults)"],
          ]),
        );
      }),
    );
  return sas;
}

function seconds(duration: string, option: string): number {
  const ms = parseDuration(duration);
  if (ms % 1000 !== 0) throw new AppError("invalid_argument", `${option} ${duration} is not a whole number of seconds`);
  return ms / 1000;
}

/** `dpki sas mint` from stored keys, locally or through the server. */
const mintStored = withContext(async ({ ops, out, scope }, opts) => {
  if (opts.encode) throw new AppError("invalid_argument", "--encode applies to --resource only");
  let request: MintRequest;
  if (opts.dps) {
    if (!opts.registrationId) throw new AppError("invalid_argument", "A DPS registration token needs --registration-id");
    request = {
      kind: "registration",
      registrationId: opts.registrationId as string,
      ...(opts.group ? { groupId: opts.group as string } : {}),
    };
  } else if (opts.policy !== undefined) {
    if (!opts.hub) throw new AppError("invalid_argument", "A hub policy token needs --hub");
    request = {
      kind: "policy",
      hub: opts.hub as string,
      policy: opts.policy as string,
      ...(opts.device ? { deviceId: opts.device as string } : {}),
    };
  } else {
    request = {
      kind: "device",
      ...(opts.registrationId ? { registrationId: opts.registrationId as string } : {}),
      ...(opts.device ? { deviceId: opts.device as string } : {}),
      ...(opts.group ? { groupId: opts.group as string } : {}),
      ...(opts.hub ? { hub: opts.hub as string } : {}),
      ...(opts.module ? { moduleId: opts.module as string } : {}),
    };
  }
  if (opts.ttl !== undefined && opts.expiry !== undefined) throw new AppError("invalid_argument", "Give --ttl or --expiry, not both");
  const minted = await ops.sasMint(await scope(), request, {
    ...(opts.ttl !== undefined ? { ttl: opts.ttl as string } : {}),
    ...(opts.expiry !== undefined ? { expiry: Number(expiryOf(opts)) } : {}),
    ...(opts.secondary ? { secondary: true } : {}),
  });
  out.print(minted, () => minted.token + "\n");
});

export function mint(resource: string, key: string, keyName: string | null, expiry: string): MintedToken {
  const token = createSasToken({ resourceUri: resource, key, keyName, expiry });
  return { token, resource, keyName, expiry, expiresAt: new Date(Number(expiry) * 1000).toISOString().replace(/\.000Z$/, "Z") };
}

/** se from --expiry (verbatim, as the SDK uses a string expiry) or now + --ttl (default 1h). */
export function expiryOf(opts: Record<string, unknown>): string {
  if (opts.expiry !== undefined && opts.ttl !== undefined) throw new AppError("invalid_argument", "Give --ttl or --expiry, not both");
  if (opts.expiry !== undefined) {
    const text = String(opts.expiry).trim();
    if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new AppError("invalid_argument", `--expiry "${text}" must be seconds since the epoch`);
    return text;
  }
  const ttlMs = parseDuration((opts.ttl as string | undefined) ?? "1h");
  return String(Math.floor(Date.now() / 1000) + Math.ceil(ttlMs / 1000));
}

function readKey(opts: Record<string, unknown>): string {
  const given = [opts.key, opts.keyFile].filter((v) => v !== undefined).length;
  if (given > 1) throw new AppError("invalid_argument", "Give --key or --key-file, not both");
  if (opts.key !== undefined) return opts.key as string;
  if (opts.keyFile !== undefined) return readKeyFile(opts.keyFile as string);
  const env = process.env.DPKI_SAS_KEY;
  if (env) return env;
  throw new AppError("invalid_argument", "No key: pass --key-file FILE (or --key, or set DPKI_SAS_KEY)");
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8").trim();
  } catch (err) {
    throw new AppError("not_found", `Cannot read key file ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/** A SAS key is base64 bytes; a PEM key or certificate given by mistake would otherwise sign or verify as garbage. */
function symmetricKey(key: string): string {
  if (key.includes("-----BEGIN")) {
    throw new AppError(
      "invalid_argument",
      "The key is a PEM private key or certificate, not a base64 symmetric key (SAS tokens are signed with a shared key)",
    );
  }
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(key) || key.length % 4 === 1) {
    throw new AppError("invalid_argument", "The key is empty or not base64: a SAS key is a base64 symmetric key");
  }
  return key;
}
