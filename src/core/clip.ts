/** Text a caller supplied, echoed in a message: kept short so a huge or hostile value cannot flood logs and terminals. */
export function clip(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
