import { BlockList, isIP } from 'node:net';

/** An IP allow-list of addresses and CIDR ranges; an empty list allows everyone. */
export function ipAllowed(list: string[], ip: string): boolean {
  if (list.length === 0) return true;
  const addr = normalizeIp(ip);
  const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
  const bl = new BlockList();
  for (const entry of list) {
    const [base = '', bits] = entry.split('/');
    const fam = isIP(base) === 6 ? 'ipv6' : 'ipv4';
    try {
      if (bits !== undefined) bl.addSubnet(base, Number(bits), fam);
      else bl.addAddress(base, fam);
    } catch {
      // entries are validated on the way in; an unparsable one simply matches nothing
    }
  }
  return bl.check(addr, family);
}

/** Strips the IPv4-mapped IPv6 prefix so "::ffff:127.0.0.1" matches "127.0.0.1". */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function isValidIpOrCidr(entry: string): boolean {
  const [base = '', bits, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const fam = isIP(base);
  if (fam === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}
