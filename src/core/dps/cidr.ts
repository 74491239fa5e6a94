import { BlockList, isIP, isIPv4 } from "node:net";

/** Source-network helpers for allowlists and geoLatency, on node:net BlockList. */

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) → `10.0.0.1`. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Checks "a.b.c.d/n" or "x::/n" (a bare address counts as a /32 or /128); returns a message when invalid. */
export function cidrProblem(cidr: string): string | null {
  const [net, bits, extra] = cidr.split("/");
  const family = net ? isIP(net) : 0;
  if (!net || family === 0 || extra !== undefined) return `"${cidr}" is not an IP network (e.g. 10.0.0.0/8)`;
  if (bits === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${cidr}": prefix length must be 0-${max}`;
  return null;
}

/** A matcher over a list of networks; an empty list matches nothing. */
export function networkMatcher(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    if (cidrProblem(cidr) !== null) continue;
    const [net, bits] = cidr.split("/") as [string, string | undefined];
    const family = isIPv4(net) ? "ipv4" : "ipv6";
    list.addSubnet(net, bits === undefined ? (family === "ipv4" ? 32 : 128) : Number(bits), family);
  }
  return (address) => {
    const a = normaliseAddress(address);
    const family = isIP(a);
    if (family === 0) return false;
    return list.check(a, family === 4 ? "ipv4" : "ipv6");
  };
}

export function cidrContains(cidr: string, address: string): boolean {
  return networkMatcher([cidr])(address);
}
