import { BlockList, isIP } from 'node:net';
import { normalizeIp } from '../platform/ip.ts';

/**
 * Country of an end-user IP (check-ip-address, clientUserIp). The port takes a table of CIDR → ISO country;
 * Rampart ships no GeoIP database, so an unknown address maps to null, and unknown passes (spec §4.6).
 * The sandbox maps the RFC 5737 documentation ranges so integrators can exercise both answers.
 */
export interface GeoIp {
  country(ip: string): string | null;
}

export const SANDBOX_GEO: [string, string][] = [
  ['198.51.100.0/24', 'FR'],
  ['203.0.113.0/24', 'KP'],
  ['192.0.2.0/24', 'US'],
];

export function createGeoIp(table: [cidr: string, country: string][]): GeoIp {
  const lists = table.map(([cidr, country]) => {
    const [base = '', bits] = cidr.split('/');
    const fam = isIP(base) === 6 ? 'ipv6' : 'ipv4';
    const bl = new BlockList();
    bl.addSubnet(base, Number(bits), fam);
    return { bl, country };
  });
  return {
    country(ip) {
      const a = normalizeIp(ip);
      const fam = isIP(a);
      if (!fam) return null;
      return lists.find((l) => l.bl.check(a, fam === 6 ? 'ipv6' : 'ipv4'))?.country ?? null;
    },
  };
}
