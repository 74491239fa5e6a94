import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import type { Profile } from "../../ca/profile.js";
import { AppError } from "../errors.js";
import { parseDuration } from "../duration.js";
import { PROFILES_SCHEMA } from "./profile-schema.js";
import { PACKAGE_ROOT } from "../package-root.js";

/** The profiles in force, and the hash that every log entry records of them. */
export interface PolicySet {
  profiles: ReadonlyMap<string, Profile>;
  /** SHA-256 (hex) of the profiles file exactly as read. */
  hash: string;
  source: string;
}

export const DEFAULT_PROFILES_FILE = join(PACKAGE_ROOT, "policies", "profiles.yaml");

interface ProfileYaml {
  description: string;
  keyAlgorithms: Profile["keyAlgorithms"];
  minRsaBits?: number;
  validity: { default: string; max: string };
  subject: Profile["subject"];
  subjectAltNames: { allowed: Profile["subjectAltNames"]["allowed"]; required?: boolean };
  keyUsage: Profile["keyUsage"];
  extendedKeyUsage: Profile["extendedKeyUsage"];
}

export function loadPolicySet(file: string = DEFAULT_PROFILES_FILE): PolicySet {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new AppError("config_error", `Cannot read profiles file ${file}`);
  }
  return parsePolicySet(bytes, file);
}

export function parsePolicySet(bytes: Uint8Array, source: string): PolicySet {
  let doc: unknown;
  try {
    doc = parseYaml(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new AppError("config_error", `Cannot parse profiles file ${source}: ${(err as Error).message}`);
  }
  const ajv = new Ajv({ allErrors: false, strict: true });
  addFormats.default(ajv);
  const validate = ajv.compile(PROFILES_SCHEMA);
  if (!validate(doc)) {
    const e = validate.errors![0]!;
    throw new AppError("config_error", `Invalid profiles file ${source}: ${e.instancePath || "/"} ${e.message}`);
  }
  const profiles = new Map<string, Profile>();
  for (const [name, p] of Object.entries((doc as { profiles: Record<string, ProfileYaml> }).profiles)) {
    const defaultValidityMs = parseDuration(p.validity.default);
    const maxValidityMs = parseDuration(p.validity.max);
    if (defaultValidityMs > maxValidityMs) {
      throw new AppError("config_error", `Invalid profiles file ${source}: profile ${name} has a default validity above its maximum`);
    }
    profiles.set(name, {
      name,
      description: p.description,
      keyAlgorithms: p.keyAlgorithms,
      minRsaBits: p.minRsaBits ?? 2048,
      defaultValidityMs,
      maxValidityMs,
      subject: p.subject,
      subjectAltNames: { allowed: p.subjectAltNames.allowed, required: p.subjectAltNames.required ?? false },
      keyUsage: p.keyUsage,
      extendedKeyUsage: p.extendedKeyUsage,
    });
  }
  return { profiles, hash: createHash("sha256").update(bytes).digest("hex"), source };
}

export function getProfile(policies: PolicySet, name: string): Profile {
  const profile = policies.profiles.get(name);
  if (!profile) {
    throw new AppError("not_found", `Unknown profile "${name}" (known: ${[...policies.profiles.keys()].join(", ")})`);
  }
  return profile;
}
