import { AppError } from "../errors.js";

/** The largest page any list returns. */
export const MAX_PAGE = 1000;

/** A requested page size, checked once for every list of the API and the CLI. */
export function pageLimit(limit: number | undefined, fallback = 100): number {
  const n = limit ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE)
    throw new AppError("invalid_argument", `Cannot accept limit: it must be an integer from 1 to ${MAX_PAGE}`);
  return n;
}
