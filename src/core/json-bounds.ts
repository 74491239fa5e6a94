/**
 * Free-form JSON (an initial twin, a device's payload, a webhook's answer) is stored, logged and
 * hashed into the audit chain, and JSON.stringify and every recursive walk over it run out of
 * call stack somewhere past a few thousand levels. These are the bounds such a field must keep.
 */
export const JSON_MAX_DEPTH = 32;
export const JSON_MAX_BYTES = 64 * 1024;

export interface JsonBounds {
  maxDepth?: number;
  maxBytes?: number;
}

/**
 * Why `value` (the field called `field`) breaks its bounds, as a message naming the limit, or
 * undefined when it keeps them. The depth is measured without recursion, before anything else
 * walks the value; a scalar has depth 0, `{}` and `[]` depth 1.
 */
export function jsonBoundsProblem(value: unknown, field: string, bounds: JsonBounds = {}): string | undefined {
  const maxDepth = bounds.maxDepth ?? JSON_MAX_DEPTH;
  const maxBytes = bounds.maxBytes ?? JSON_MAX_BYTES;
  if (exceedsDepth(value, maxDepth)) return `Cannot accept ${field}: it is nested deeper than ${maxDepth} levels (the limit)`;
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? "");
  if (bytes > maxBytes)
    return `Cannot accept ${field}: ${bytes} bytes of JSON, more than the limit of ${maxBytes} bytes (${maxBytes / 1024} KiB)`;
  return undefined;
}

function exceedsDepth(value: unknown, maxDepth: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > maxDepth) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}
