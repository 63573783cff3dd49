import type { FastifyRequest } from 'fastify';
import type { AccountsService } from '../accounts/service.ts';
import { hmacSha512HexUpper, safeEqual } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import { ipAllowed, normalizeIp } from '../platform/ip.ts';
import { containsUnstorableText, parseLossless } from '../platform/json.ts';
import { payFailure, type PayFailure, type PayWireCode } from './codes.ts';
import { requestHeader } from '../platform/signed-route.ts';

/**
 * Binance Pay request authentication (binance-pay.md §3), in the spec's order, first failure wins.
 * signature = UPPER(HEX(HMAC-SHA512(apiSecret, timestamp + "\n" + nonce + "\n" + rawBody + "\n"))) over the received
 * bytes.
 */
const MAX_BODY_BYTES = 256 * 1024;
export const TSP_FIELD = 'BinancePay-technicalServiceProviderAuthId';

export function payloadOf(timestamp: string, nonce: string, rawBody: Buffer | string): Buffer {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  return Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`, 'utf8'), body, Buffer.from('\n', 'utf8')]);
}

export function signPay(secret: string, timestamp: string, nonce: string, rawBody: Buffer | string): string {
  return hmacSha512HexUpper(secret, payloadOf(timestamp, nonce, rawBody));
}

export interface PayCaller {
  apiKey: string;
  merchantId: string;
  clientIp: string;
  body: Record<string, unknown>;
  /** The TSP authorization token, from the body field or the header of the same name. */
  tspToken: string | null;
  /** The key's permissions (binance-pay-extended.md §9.1); null = the mode's default. */
  keyPermissions: string[] | null;
  /** Set when recording the nonce was deferred to the handler's own write (see NonceClaim). */
  nonce: NonceClaim | null;
}

/**
 * A request nonce still to be recorded. Endpoints that write anyway (create order) record it in the same
 * statement as their write, saving a database round trip per request; `consumed` says that happened.
 * Any other outcome records it on the way out, so replay detection answers exactly as if it ran first.
 */
export interface NonceClaim {
  apiKey: string;
  nonce: string;
  seenAt: number;
  consumed: boolean;
}

type NonceRecorder = (claim: NonceClaim) => Promise<boolean>;

/**
 * The nonce insert for a writer that records nonces in its own statement (create order's batch, orders/service.ts):
 * a CTE over an `input` relation with api_key, nonce and seen_at columns, returning the fresh ones. pay_nonces is
 * this module's table; the statement is lent out because one statement per batch instead of two per request is a
 * measured share of create-order's time.
 */
export const RECORD_FRESH_NONCES = `INSERT INTO pay_nonces (api_key, nonce, seen_at) SELECT api_key, nonce, seen_at
  FROM input WHERE nonce IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING api_key, nonce`;

/** Nonces deleted per pruning statement. */
export const NONCE_PRUNE_BATCH = 2000;

export function createPayAuth(deps: {
  db: Db;
  accounts: AccountsService;
  config: { timestampToleranceMs: number; rejectNonceReplay: boolean };
}) {
  const { db, accounts, config } = deps;

  /** Records a nonce; false when it was already seen (a replay). */
  const recordNonce: NonceRecorder = async (claim) => {
    if (claim.consumed) return true;
    claim.consumed = true;
    const fresh = await db.query(
      `INSERT INTO pay_nonces (api_key, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [claim.apiKey, claim.nonce, claim.seenAt],
    );
    return fresh.rowCount === 1;
  };

  async function authenticate(
    req: FastifyRequest,
    opts: { parameterless?: boolean; deferNonce?: boolean } = {},
  ): Promise<{ ok: true; caller: PayCaller } | { ok: false; failure: PayFailure }> {
    const fail = (code: PayWireCode, message?: string) => ({ ok: false as const, failure: payFailure(code, message) });
    if (req.method !== 'POST') return fail('400006');
    const contentType = (requestHeader(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') return fail('400007');
    const rawBody = req.rawBody ?? Buffer.alloc(0);
    if (rawBody.length > MAX_BODY_BYTES) return fail('400104');

    const apiKey = requestHeader(req, 'binancepay-certificate-sn');
    if (!apiKey || !/^[A-Za-z0-9]{16,128}$/.test(apiKey)) return fail('400005');
    const key = await accounts.resolveKey(apiKey);
    if (!key) return fail('400004');
    const clientIp = normalizeIp(req.ip);
    if (!ipAllowed(key.ipWhitelist, clientIp)) return fail('400004', 'IP is not in the API key whitelist.');

    const timestamp = requestHeader(req, 'binancepay-timestamp') ?? '';
    // Signature windows use the real clock, never the sandbox business clock.
    if (!/^\d{13}$/.test(timestamp) || Math.abs(Date.now() - Number(timestamp)) > config.timestampToleranceMs)
      return fail('400003');
    const nonce = requestHeader(req, 'binancepay-nonce') ?? '';
    if (!/^[A-Za-z0-9]{32}$/.test(nonce)) return fail('400001', 'Nonce must be 32 letters or digits.');
    const signature = requestHeader(req, 'binancepay-signature') ?? '';
    if (!/^[0-9A-F]{128}$/.test(signature) || !safeEqual(signPay(key.secret, timestamp, nonce, rawBody), signature))
      return fail('400002');
    // Suspended by the operator: the key is genuine (checked above, so the refusal reveals nothing to a forger).
    if (key.merchantSuspended) return fail('400606');

    const claim: NonceClaim | null = config.rejectNonceReplay
      ? { apiKey, nonce, seenAt: Date.now(), consumed: false }
      : null;
    if (claim && !opts.deferNonce && !(await recordNonce(claim))) return fail('400001', 'Nonce has been used.');
    // A deferred nonce is still checked before any later failure, keeping the spec's order of checks.
    const failAfterNonce = async (code: PayWireCode, message?: string) =>
      claim && !(await recordNonce(claim)) ? fail('400001', 'Nonce has been used.') : fail(code, message);

    let body: unknown;
    const text = rawBody.toString('utf8').trim();
    if (text === '' && opts.parameterless) body = {};
    else {
      try {
        body = parseLossless(text);
      } catch {
        return failAfterNonce('400008');
      }
    }
    if (Array.isArray(body) && opts.parameterless && body.length === 0) body = {};
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return failAfterNonce('400008');
    if (containsUnstorableText(body))
      return failAfterNonce('400103', 'A parameter contains a NUL character or malformed Unicode.');

    const obj = body as Record<string, unknown>;
    const fromBody = obj[TSP_FIELD];
    delete obj[TSP_FIELD];
    const fromHeader = requestHeader(req, TSP_FIELD);
    if (fromBody !== undefined && fromHeader !== undefined && String(fromBody) !== fromHeader) {
      return failAfterNonce('400102', `${TSP_FIELD}: body and header differ`);
    }
    const tspToken = fromBody !== undefined ? String(fromBody) : (fromHeader ?? null);
    return {
      ok: true,
      caller: {
        apiKey,
        merchantId: String(key.merchantId),
        clientIp,
        body: obj,
        tspToken,
        keyPermissions: key.permissions,
        nonce: claim && !claim.consumed ? claim : null,
      },
    };
  }

  /**
   * Forgets nonces older than twice the timestamp window: a replay of one would fail the timestamp check anyway.
   * At most NONCE_PRUNE_BATCH rows per call (the worker loop calls again at once while there is work), so a backlog
   * is deleted in short statements rather than one long one.
   */
  async function pruneNonces(): Promise<number> {
    const r = await db.query(
      `DELETE FROM pay_nonces WHERE (api_key, nonce) IN (
         SELECT api_key, nonce FROM pay_nonces WHERE seen_at < $1 ORDER BY seen_at LIMIT $2)`,
      [Date.now() - 2 * config.timestampToleranceMs, NONCE_PRUNE_BATCH],
    );
    return r.rowCount ?? 0;
  }

  return Object.assign(authenticate, { recordNonce, pruneNonces });
}
export type PayAuth = ReturnType<typeof createPayAuth>;
