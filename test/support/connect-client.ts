import { createSign, generateKeyPairSync } from 'node:crypto';
import type { TestApp } from '../helpers.ts';

/**
 * A Connect partner as the spec describes it, written independently of src/connect: signs
 * `${rawBody}&merchantCode=…&timestamp=…` (or the tail alone without a body) with RSA-SHA256 PKCS#1 v1.5.
 */
export const CONNECT_PATH = '/gateway-api/v1/public/open-api/connect';

export function rsaPair(bits = 2048) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey, privateKey };
}

export function partnerSign(privateKey: string, message: string): string {
  return createSign('RSA-SHA256').update(Buffer.from(message, 'utf8')).sign(privateKey, 'base64');
}

export interface CallOpts {
  method?: 'GET' | 'POST';
  rawBody?: string;
  timestamp?: string;
  headers?: Record<string, string | undefined>;
  omit?: string[];
  prefix?: string;
  privateKey?: string;
  merchantCode?: string;
}

export function connectClient(baseUrl: string, merchantCode: string, privateKey: string) {
  async function call(op: string, body?: unknown, opts: CallOpts = {}) {
    const method = opts.method ?? (body === undefined && opts.rawBody === undefined ? 'GET' : 'POST');
    const raw = opts.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
    const timestamp = opts.timestamp ?? String(Date.now());
    const code = opts.merchantCode ?? merchantCode;
    const message = raw.length
      ? `${raw}&merchantCode=${code}&timestamp=${timestamp}`
      : `merchantCode=${code}&timestamp=${timestamp}`;
    const headers: Record<string, string> = {
      merchantCode: code,
      timestamp,
      'x-api-signature': partnerSign(opts.privateKey ?? privateKey, message),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = v;
    for (const k of opts.omit ?? []) delete headers[k];
    const res = await fetch(`${baseUrl}${opts.prefix ?? CONNECT_PATH}/${op}`, {
      method,
      headers,
      body: method === 'POST' ? raw : undefined,
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null };
  }
  return { merchantCode, call };
}

export async function onboardPartner(t: TestApp, overrides: Record<string, unknown> = {}, bits = 2048) {
  const keys = rsaPair(bits);
  const body = {
    name: 'Acme Wallet',
    email: `ops-${Math.random().toString(36).slice(2)}@acme.example`,
    publicKey: keys.publicKey,
    ipWhitelist: ['127.0.0.1'],
    redirectDomains: ['wallet.example'],
    spread: '0.0012',
    ...overrides,
  };
  const r = await t.admin('POST', '/admin/v1/partners', body);
  if (r.status !== 201) throw new Error(`onboard partner: ${r.status} ${JSON.stringify(r.json)}`);
  return {
    ...r.json,
    keys,
    email: body.email,
    client: connectClient(t.baseUrl, r.json.merchantCode, keys.privateKey),
  } as {
    merchantCode: string;
    platformPublicKey: string;
    email: string;
    keys: { publicKey: string; privateKey: string };
    client: ReturnType<typeof connectClient>;
  };
}
