import type { Allowlists } from "../../store/dps-records.js";
import { networkMatcher } from "./cidr.js";

/** What an enrollment's allowlists are checked against. */
export interface AllowlistSubject {
  registrationId: string;
  /** The device's request payload; `payload.hardwareId` is its hardware id. */
  payload: unknown;
  sourceAddress: string;
}

const REGISTRATION_ID = /^[A-Za-z0-9._:-]{0,127}[A-Za-z0-9-]$/;
/** Registration-id glob patterns: the id alphabet plus `*` and `?`. */
const GLOB = /^[A-Za-z0-9._:*?-]{1,128}$/;

/** DPS registration ids: 1-128 of `A-Z a-z 0-9 - . _ :`, ending in an alphanumeric or `-`. */
export function isRegistrationId(id: string): boolean {
  return REGISTRATION_ID.test(id);
}

export function isRegistrationIdPattern(pattern: string): boolean {
  return GLOB.test(pattern);
}

const compiled = new Map<string, RegExp>();

/** `*` any run, `?` one character, everything else literal, case-insensitive, whole id. */
export function globMatches(pattern: string, id: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.*?+^${}()|[\]\\]/g, (c) => (c === "*" ? ".*" : c === "?" ? "." : `\\${c}`));
    re = new RegExp(`^${body}$`, "is");
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(id);
}

/** The device's hardware id: a string `hardwareId` in its payload object, or null. */
export function hardwareIdOf(payload: unknown): string | null {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return null;
  const value = (payload as Record<string, unknown>).hardwareId;
  return typeof value === "string" ? value : null;
}

/** Why the enrollment's allowlists refuse this device, or null when they admit it. Empty lists admit everyone. */
export function allowlistRefusal(lists: Allowlists, subject: AllowlistSubject): string | null {
  if (lists.registrationIds.length > 0 && !lists.registrationIds.some((p) => globMatches(p, subject.registrationId))) {
    return `Registration id ${subject.registrationId} is not allowed by the enrollment`;
  }
  if (lists.hardwareIds.length > 0) {
    const hw = hardwareIdOf(subject.payload);
    if (hw === null) return "The enrollment requires a hardware id (payload.hardwareId)";
    if (!lists.hardwareIds.includes(hw)) return `Hardware id ${hw.slice(0, 64)} is not allowed by the enrollment`;
  }
  if (lists.sourceCidrs.length > 0 && !networkMatcher(lists.sourceCidrs)(subject.sourceAddress)) {
    return `Source address ${subject.sourceAddress} is not allowed by the enrollment`;
  }
  return null;
}
