import { createInterface } from "node:readline/promises";
import { AppError } from "../src/errors.js";

/**
 * Asks before an operation that cannot be undone. Without a terminal nobody can answer, so the
 * caller must have said --yes; a script that forgot it fails before anything changes.
 */
export async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new AppError("invalid_argument", `${question.replace(/\?$/, "")}: not confirmed (no terminal to ask on): pass --yes`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new AppError("invalid_argument", "Not confirmed: nothing changed");
  } finally {
    rl.close();
  }
}
