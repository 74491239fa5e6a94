import { AppError } from "./errors.js";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };

/** Parses "90d", "12h", "30m", "1y", "45s" into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhdy])$/.exec(text.trim());
  if (!match) {
    throw new AppError("invalid_argument", `Cannot parse duration "${text}": use a number and a unit s, m, h, d or y (e.g. 90d)`);
  }
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms <= 0) throw new AppError("invalid_argument", `Duration "${text}" must be positive`);
  return ms;
}
