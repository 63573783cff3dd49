import type { FastifyRequest } from 'fastify';
import { hmacSha256Hex, safeEqual } from '../platform/crypto.ts';
import { ipAllowed, normalizeIp } from '../platform/ip.ts';
import { containsUnstorableText } from '../platform/json.ts';
import type { KycErrorCode, KycFailure } from './codes.ts';
import type { Broker, KycService } from './service.ts';
import { requestHeader } from '../platform/signed-route.ts';

/**
 * KYC Sharing request authentication (kyc-sharing.md §3): parse the JSON without touching the raw bytes, find the
 * broker, check its IP whitelist, then verify X-SHA2-Signature (HMAC-SHA256, hex) over the exact received bytes.
 * (The spec lists the IP check first; the whitelist belongs to a broker, so the broker is looked up first.)
 */
export interface KycCaller {
  broker: Broker;
  body: Record<string, unknown>;
  raw: Buffer;
}

type Authed = { ok: true; caller: KycCaller } | { ok: false; failure: KycFailure };
const fail = (code: KycErrorCode, detail: string): Authed => ({ ok: false, failure: { code, detail } });

export function kycSignature(secret: string, rawBody: Buffer | string): string {
  return hmacSha256Hex(Buffer.from(secret, 'utf8'), rawBody);
}

export function createKycAuth(kyc: KycService) {
  return async function authenticate(req: FastifyRequest): Promise<Authed> {
    if (req.method !== 'POST') return fail('BAD_REQUEST', 'method not allowed');
    const contentType = (requestHeader(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') return fail('BAD_REQUEST', 'Content-Type must be application/json');
    const raw = req.rawBody ?? Buffer.alloc(0);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail('BAD_REQUEST', 'body is not a JSON object');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return fail('BAD_REQUEST', 'body is not a JSON object');
    // Before the broker lookup: a NUL cannot reach a text column (not even as bizEntityKey).
    if (containsUnstorableText(body))
      return fail('INVALID_PARAM', 'a field contains a NUL character or malformed Unicode');
    const obj = body as Record<string, unknown>;
    const key = obj.bizEntityKey;
    if (typeof key !== 'string' || key === '' || key.length > 128)
      return fail('UNKNOWN_BROKER', 'bizEntityKey: is required');
    const broker = await kyc.getBroker(key);
    if (!broker) return fail('UNKNOWN_BROKER', 'bizEntityKey: unknown');
    if (!ipAllowed(broker.ipWhitelist, normalizeIp(req.ip))) return fail('IP_NOT_ALLOWED', 'IP not allowed');
    if (broker.status !== 'ACTIVE') return fail('BROKER_DISABLED', 'broker is disabled; contact support');
    const given = (requestHeader(req, 'x-sha2-signature') ?? requestHeader(req, 'x-sha-signature') ?? '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(given) || !safeEqual(kycSignature(broker.secret, raw), given))
      return fail('SIGN_MISMATCH', 'X-SHA2-Signature does not match the request body');
    return { ok: true, caller: { broker, body: obj, raw } };
  };
}
export type KycAuth = ReturnType<typeof createKycAuth>;
