import { createVerify } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ipAllowed, normalizeIp } from '../platform/ip.ts';
import { containsUnstorableText, parseLossless } from '../platform/json.ts';
import { connectFailure, type ConnectDomainError, type ConnectFailure } from './codes.ts';
import type { Partner, PartnerService } from './partners.ts';
import { requestHeader } from '../platform/signed-route.ts';

/**
 * Connect request authentication (binance-connect.md §3), in the spec's order, first failure wins:
 * headers → merchantCode → enabled → IP whitelist → timestamp window → RSA signature → JSON body.
 * The signing string is built from the received body bytes, never from a re-serialization.
 */
const MAX_BODY_BYTES = 64 * 1024;
/** Decision (§8): 20 requests per second per partner. */
const RATE_LIMIT_PER_SECOND = 20;

/** `${rawBody}&merchantCode=…&timestamp=…`, or without the body part when the body is empty. */
export function signingString(rawBody: Buffer | string, merchantCode: string, timestamp: string): Buffer {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const tail = `merchantCode=${merchantCode}&timestamp=${timestamp}`;
  if (body.length === 0) return Buffer.from(tail, 'utf8');
  return Buffer.concat([body, Buffer.from(`&${tail}`, 'utf8')]);
}

function verifyConnectSignature(publicKeyPem: string, message: Buffer, signatureB64: string): boolean {
  // Standard alphabet, padded (§3); anything else cannot be a valid header value.
  if (
    !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(signatureB64) ||
    signatureB64.length === 0
  )
    return false;
  try {
    return createVerify('RSA-SHA256').update(message).verify(publicKeyPem, signatureB64, 'base64');
  } catch {
    return false;
  }
}

export interface ConnectCaller {
  partner: Partner;
  clientIp: string;
  body: Record<string, unknown>;
}

export function createConnectAuth(deps: {
  partners: PartnerService;
  timestampToleranceMs: number;
  ratePerSecond?: number;
}) {
  const { partners, timestampToleranceMs } = deps;
  const rate = deps.ratePerSecond ?? RATE_LIMIT_PER_SECOND;
  // In-process fixed one-second windows; several API processes each allow the rate (documented limitation).
  const windows = new Map<string, { second: number; count: number }>();

  function overRate(code: string): boolean {
    const second = Math.floor(Date.now() / 1000);
    const w = windows.get(code);
    if (!w || w.second !== second) {
      if (windows.size > 10_000) windows.clear();
      windows.set(code, { second, count: 1 });
      return false;
    }
    w.count++;
    return w.count > rate;
  }

  return async function authenticate(
    req: FastifyRequest,
  ): Promise<{ ok: true; caller: ConnectCaller } | { ok: false; failure: ConnectFailure; partner?: Partner }> {
    const fail = (code: ConnectDomainError, opts: { field?: string; detail?: string } = {}, partner?: Partner) => ({
      ok: false as const,
      failure: connectFailure(code, opts),
      partner,
    });
    const merchantCode = requestHeader(req, 'merchantCode');
    const timestamp = requestHeader(req, 'timestamp');
    const signature = requestHeader(req, 'x-api-signature');
    if (!merchantCode || !timestamp || !signature) return fail('MISSING_HEADER');

    const partner = /^[A-Za-z0-9_-]{1,64}$/.test(merchantCode) ? await partners.get(merchantCode) : null;
    if (!partner) return fail('MERCHANT_NOT_FOUND');
    if (partner.status !== 'ACTIVE') return fail('MERCHANT_DISABLED', {}, partner);
    const clientIp = normalizeIp(req.ip);
    // An empty whitelist admits nobody here (unlike Pay keys): the partner must register its IPs (§9).
    if (partner.ipWhitelist.length === 0 || !ipAllowed(partner.ipWhitelist, clientIp))
      return fail('IP_NOT_WHITELISTED', { detail: `request IP ${clientIp}` }, partner);
    // Signature windows use the real clock, never the sandbox business clock.
    if (!/^\d{1,16}$/.test(timestamp) || Math.abs(Date.now() - Number(timestamp)) > timestampToleranceMs)
      return fail('TIMESTAMP_EXPIRED', {}, partner);

    const rawBody = req.rawBody ?? Buffer.alloc(0);
    if (rawBody.length > MAX_BODY_BYTES)
      return fail('INVALID_PARAMETER', { field: 'body', detail: `body larger than ${MAX_BODY_BYTES} bytes` }, partner);
    const message = signingString(rawBody, merchantCode, timestamp);
    const keys = await partners.activeKeys(partner.code);
    if (!keys.some((k) => verifyConnectSignature(k.publicKeyPem, message, signature)))
      return fail('INVALID_SIGNATURE', {}, partner);

    if (overRate(partner.code))
      return fail('TOO_MANY_REQUESTS', { detail: `at most ${rate} requests per second` }, partner);

    let body: unknown = {};
    const text = rawBody.toString('utf8');
    if (text.trim() !== '') {
      try {
        body = parseLossless(text);
      } catch {
        return fail('INVALID_PARAMETER', { field: 'body', detail: 'the body is not valid JSON' }, partner);
      }
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return fail('INVALID_PARAMETER', { field: 'body', detail: 'the body must be a JSON object' }, partner);
    if (containsUnstorableText(body))
      return fail(
        'INVALID_PARAMETER',
        { field: 'body', detail: 'a field contains a NUL character or malformed Unicode' },
        partner,
      );
    return { ok: true, caller: { partner, clientIp, body: body as Record<string, unknown> } };
  };
}
export type ConnectAuth = ReturnType<typeof createConnectAuth>;
