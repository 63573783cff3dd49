import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { describeError, errorField } from '../platform/errors.ts';

/**
 * Downloads a broker-supplied document image with hard limits (kyc-sharing.md §2 Processing): size, type by
 * content sniffing (JPEG, PNG, PDF), one overall timeout, a bounded number of redirects and, when private
 * addresses are refused, a check of the address actually connected to (in the socket's DNS lookup, so a
 * name that resolves differently on the second lookup cannot slip through).
 */
export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  /** Production: no loopback, private, link-local or otherwise non-public addresses. */
  blockPrivate: boolean;
}
export const DEFAULT_FETCH_LIMITS: FetchLimits = {
  maxBytes: 10 * 1024 * 1024,
  timeoutMs: 30_000,
  maxRedirects: 3,
  blockPrivate: true,
};

type FetchResult =
  | { ok: true; bytes: Buffer; contentType: 'image/jpeg' | 'image/png' | 'application/pdf' }
  | { ok: false; reason: 'TOO_LARGE' | 'UNSUPPORTED_TYPE' | 'DOWNLOAD_FAILED'; detail: string };

const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['64:ff9b::', 96],
] as const) {
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');
}

export function isPublicAddress(ip: string): boolean {
  const mapped = ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const fam = isIP(mapped);
  if (fam === 0) return false;
  return !NON_PUBLIC.check(mapped, fam === 4 ? 'ipv4' : 'ipv6');
}

function sniff(bytes: Buffer): 'image/jpeg' | 'image/png' | 'application/pdf' | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image/png';
  if (bytes.length >= 5 && bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return null;
}

class Blocked extends Error {}

const guardedLookup: LookupFunction = (hostname, options, cb) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    // On failure the address is undefined, as Node's own lookup passes it (LookupFunction's type omits that case).
    if (err) return cb(err, undefined as unknown as string);
    const allowed = addresses.filter((a) => isPublicAddress(a.address));
    const first = allowed[0];
    if (!first) return cb(new Blocked(`${hostname} resolves to a non-public address`), undefined as unknown as string);
    if (options?.all) return cb(null, allowed);
    return cb(null, first.address, first.family);
  });
};

type Hop = { status: number; location?: string; body?: Buffer };

function requestOnce(url: URL, limits: FetchLimits, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (limits.blockPrivate && isIP(host) !== 0 && !isPublicAddress(host))
      return reject(new Blocked(`${host} is not a public address`));
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: 'GET',
        signal,
        headers: { accept: 'image/jpeg, image/png, application/pdf', 'user-agent': 'Rampart-KYC/1' },
        lookup: limits.blockPrivate ? guardedLookup : undefined,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          return resolve({ status, location: res.headers.location });
        }
        if (status !== 200) {
          res.resume();
          return resolve({ status });
        }
        const declared = Number(res.headers['content-length'] ?? '0');
        if (declared > limits.maxBytes) {
          res.destroy();
          return reject(Object.assign(new Error('too large'), { tooLarge: true }));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > limits.maxBytes) {
            res.destroy();
            reject(Object.assign(new Error('too large'), { tooLarge: true }));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function fetchFile(urlText: string, limits: FetchLimits): Promise<FetchResult> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    return { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'not a URL' };
  }
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      return { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'unsupported scheme' };
    let r: Hop;
    try {
      r = await requestOnce(url, limits, signal);
    } catch (e) {
      if (errorField(e, 'tooLarge')) return { ok: false, reason: 'TOO_LARGE', detail: `over ${limits.maxBytes} bytes` };
      if (e instanceof Blocked || errorField(e, 'cause') instanceof Blocked)
        return { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'address not allowed' };
      if (signal.aborted) return { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'timed out' };
      return { ok: false, reason: 'DOWNLOAD_FAILED', detail: describeError(e, 'code', 'message') };
    }
    if (r.location !== undefined) {
      if (hop >= limits.maxRedirects) return { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'too many redirects' };
      url = new URL(r.location, url);
      continue;
    }
    if (!r.body) return { ok: false, reason: 'DOWNLOAD_FAILED', detail: `HTTP ${r.status}` };
    const type = sniff(r.body);
    if (!type) return { ok: false, reason: 'UNSUPPORTED_TYPE', detail: 'not a JPEG, PNG or PDF' };
    return { ok: true, bytes: r.body, contentType: type };
  }
}
