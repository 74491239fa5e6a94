/**
 * How deeply a JSON value nests, measured without recursion, so a hostile document cannot
 * overflow the stack of the code that measures it. Stops counting once past `limit`.
 */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

/** Deepest nesting a request body may have: far beyond any dpki document, far below a stack's reach. */
export const MAX_BODY_DEPTH = 32;
