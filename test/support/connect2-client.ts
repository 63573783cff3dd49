import { createSign } from 'node:crypto';
import type { TestApp } from '../helpers.ts';
import { rsaPair } from './connect-client.ts';

/**
 * A generation-2 Connect partner as binance-connect-v2.md §3 describes it, written independently of src/connect:
 * the four X-Tesla-* headers, the signature base64(RSA-SHA256 PKCS#1 v1.5) over `rawBody + timestamp`.
 */
export const GEN2_V1 = '/papi/v1/ramp/connect';
export const GEN2_V2 = '/papi/v2/ramp/connect';

export const gen2Sign = (privateKey: string, message: string | Buffer) =>
  createSign('RSA-SHA256')
    .update(typeof message === 'string' ? Buffer.from(message, 'utf8') : message)
    .sign(privateKey, 'base64');

export interface Gen2CallOpts {
  method?: string;
  /** The exact bytes to send (else JSON.stringify of the body; no body: empty). */
  rawBody?: string;
  /** What to sign instead of `rawBody + timestamp`. */
  signed?: string;
  timestamp?: string;
  headers?: Record<string, string | undefined>;
  omit?: string[];
  prefix?: string;
  privateKey?: string;
  clientId?: string;
  token?: string;
}

export interface Gen2Answer {
  status: number;
  text: string;
  json: any;
  headers: Headers;
}

export function gen2Client(baseUrl: string, clientId: string, token: string, privateKey: string) {
  async function call(op: string, body?: unknown, opts: Gen2CallOpts = {}): Promise<Gen2Answer> {
    const method = opts.method ?? 'POST';
    const raw = opts.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
    const timestamp = opts.timestamp ?? String(Date.now());
    const headers: Record<string, string> = {
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
      'X-Tesla-ClientId': opts.clientId ?? clientId,
      'X-Tesla-SignAccessToken': opts.token ?? token,
      'X-Tesla-Timestamp': timestamp,
      'X-Tesla-Signature': gen2Sign(opts.privateKey ?? privateKey, opts.signed ?? raw + timestamp),
    };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      for (const h of Object.keys(headers)) if (h.toLowerCase() === k.toLowerCase()) delete headers[h];
      if (v !== undefined) headers[k] = v;
    }
    for (const k of opts.omit ?? [])
      for (const h of Object.keys(headers)) if (h.toLowerCase() === k.toLowerCase()) delete headers[h];
    const res = await fetch(`${baseUrl}${opts.prefix ?? GEN2_V1}/${op}`, {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' ? undefined : raw,
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null, headers: res.headers };
  }
  return { clientId, call };
}

/** Onboards a partner through the admin API and returns its gen-1 and gen-2 credentials and a gen-2 client. */
export async function onboardGen2Partner(t: TestApp, overrides: Record<string, unknown> = {}, bits = 2048) {
  const keys = rsaPair(bits);
  const body = {
    name: 'Tesla Wallet',
    email: `ops-${Math.random().toString(36).slice(2)}@tesla.example`,
    publicKey: keys.publicKey,
    ipWhitelist: ['127.0.0.1'],
    redirectDomains: ['wallet.example'],
    spread: '0.0012',
    ...overrides,
  };
  const r = await t.admin('POST', '/admin/v1/partners', body);
  if (r.status !== 201) throw new Error(`onboard partner: ${r.status} ${JSON.stringify(r.json)}`);
  return {
    merchantCode: r.json.merchantCode as string,
    clientId: r.json.clientId as string,
    signAccessToken: r.json.signAccessToken as string,
    keys,
    client: gen2Client(t.baseUrl, r.json.clientId, r.json.signAccessToken, keys.privateKey),
  };
}
