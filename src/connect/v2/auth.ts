import { createVerify } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ipAllowed, normalizeIp } from '../../platform/ip.ts';
import { containsUnstorableText, parseLossless } from '../../platform/json.ts';
import { requestHeader } from '../../platform/signed-route.ts';
import type { Partner, PartnerService } from '../partners.ts';
import { gen2Failure, type Gen2DomainError, type Gen2Failure } from './codes.ts';

/**
 * Generation 2 request authentication (binance-connect-v2.md §3), in the §3.3 order, first failure wins:
 * client id → partner → enabled → IP whitelist → sign access token → timestamp → signature → body → rate limit.
 * The signature is checked over the received bytes (`rawBody + timestamp`), never over a re-serialization.
 */
export const GEN2_MAX_BODY_BYTES = 256 * 1024;
/** §3.3 step 9 Decision: 20 requests per second per client, bursts up to twice that. */
const DEFAULT_RATE_PER_SECOND = 20;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The byte strings a request's signature may cover (§3.2): `rawBody + timestamp`; and when the body is empty or `{}`
 * (whitespace aside), also the timestamp alone and `"{}" + timestamp`, because clients differ there.
 */
export function gen2SigningStrings(rawBody: Buffer, timestamp: string): Buffer[] {
  const ts = Buffer.from(timestamp, 'utf8');
  const out = [Buffer.concat([rawBody, ts])];
  const trimmed = rawBody.toString('utf8').trim();
  if (trimmed === '' || trimmed === '{}') {
    for (const alt of [ts, Buffer.from(`{}${timestamp}`, 'utf8')]) if (!out.some((m) => m.equals(alt))) out.push(alt);
  }
  return out;
}

function verifies(publicKeyPem: string, message: Buffer, signatureB64: string): boolean {
  try {
    return createVerify('RSA-SHA256').update(message).verify(publicKeyPem, signatureB64, 'base64');
  } catch {
    return false;
  }
}

export interface Gen2Caller {
  partner: Partner;
  clientIp: string;
  body: Record<string, unknown>;
}

/** What an endpoint tells the pipeline: whether it takes no parameters (an empty body is then allowed, §3.3 step 8). */
export interface Gen2EndpointOptions {
  list: boolean;
}

export function createGen2Auth(deps: {
  partners: PartnerService;
  timestampToleranceMs: number;
  ratePerSecond?: number;
}) {
  const { partners, timestampToleranceMs } = deps;
  const rate = deps.ratePerSecond ?? DEFAULT_RATE_PER_SECOND;
  const burst = rate * 2;
  // In-process token buckets per client id; several API processes each allow the rate (as gen-1).
  const buckets = new Map<string, { tokens: number; at: number }>();

  function overRate(clientId: string): boolean {
    const now = Date.now();
    let b = buckets.get(clientId);
    if (!b) {
      if (buckets.size > 10_000) buckets.clear();
      b = { tokens: burst, at: now };
      buckets.set(clientId, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens < 1) return true;
    b.tokens -= 1;
    return false;
  }

  return async function authenticate(
    req: FastifyRequest,
    opts: Gen2EndpointOptions,
  ): Promise<{ ok: true; caller: Gen2Caller } | { ok: false; failure: Gen2Failure }> {
    const fail = (code: Gen2DomainError, param?: string) => ({ ok: false as const, failure: gen2Failure(code, param) });

    const clientId = requestHeader(req, 'X-Tesla-ClientId');
    if (!clientId) return fail('MISSING_CLIENT_ID');
    const partner = await partners.byClientId(clientId);
    if (!partner) return fail('PARTNER_IS_NOT_FOUND');
    if (partner.status !== 'ACTIVE') return fail('PARTNER_IS_DISABLED');
    const clientIp = normalizeIp(req.ip);
    // An empty whitelist admits nobody: the partner registers its IPs at onboarding (§13).
    if (partner.ipWhitelist.length === 0 || !ipAllowed(partner.ipWhitelist, clientIp))
      return fail('IP_NOT_WHITELISTED');

    const token = requestHeader(req, 'X-Tesla-SignAccessToken');
    if (!token || token.length > 256 || !(await partners.signTokenMatches(partner.code, token)))
      return fail('ILLEGAL_PARAMETERS', 'X-Tesla-SignAccessToken');

    // Signature windows use the real clock, never the sandbox business clock.
    const timestamp = requestHeader(req, 'X-Tesla-Timestamp');
    if (!timestamp || !/^\d{1,16}$/.test(timestamp) || Math.abs(Date.now() - Number(timestamp)) > timestampToleranceMs)
      return fail('ILLEGAL_PARAMETERS', 'X-Tesla-Timestamp');

    const signature = requestHeader(req, 'X-Tesla-Signature');
    const rawBody = req.rawBody ?? Buffer.alloc(0);
    if (!signature || signature.length > 2048 || !BASE64.test(signature))
      return fail('ILLEGAL_PARAMETERS', 'X-Tesla-Signature');
    const keys = await partners.activeKeys(partner.code);
    const messages = gen2SigningStrings(rawBody, timestamp);
    if (!keys.some((k) => messages.some((m) => verifies(k.publicKeyPem, m, signature))))
      return fail('ILLEGAL_PARAMETERS', 'X-Tesla-Signature');

    if (rawBody.length > GEN2_MAX_BODY_BYTES) return fail('ILLEGAL_PARAMETERS', 'body');
    const text = rawBody.toString('utf8');
    let body: unknown;
    if (text.trim() === '') {
      if (!opts.list) return fail('ILLEGAL_PARAMETERS', 'body');
      body = {};
    } else {
      try {
        body = parseLossless(text);
      } catch {
        return fail('ILLEGAL_PARAMETERS', 'body');
      }
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body) || containsUnstorableText(body))
      return fail('ILLEGAL_PARAMETERS', 'body');

    if (overRate(partner.clientId)) return fail('SYSTEM_BUSY');
    return { ok: true, caller: { partner, clientIp, body: body as Record<string, unknown> } };
  };
}
export type Gen2Auth = ReturnType<typeof createGen2Auth>;
