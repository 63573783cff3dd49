import type { Clock } from '../platform/clock.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import {
  hashPassword,
  randomString,
  type SecretBox,
  sha256Hex,
  verifyPassword,
  randomAlnum,
} from '../platform/crypto.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import { isValidIpOrCidr } from '../platform/ip.ts';
import type { DbRow } from '../platform/db/client.ts';
import { DUMMY_HASH, insertAccount, PAYER_COLUMNS, PAYER_FROM, toPayerRow } from './people.ts';

/** Merchants with their API keys, and payers (wallet holders who pay at the hosted checkout). */
export interface Merchant {
  merchantId: bigint;
  name: string;
  status: string;
  webhookUrl: string | null;
  tsp: { allowScopes: string[]; allowFeeShare: boolean } | null;
  /** The operator's feature-flag overrides (binance-pay-extended.md §9.1); absent flags take the mode's default. */
  features: Record<string, boolean>;
  /** Absolute payout fee per asset (§10.2), e.g. { USDT: '0.5' }; absent asset = no fee. */
  payoutFee: Record<string, string>;
  createdAt: number;
}

/** A payer's KYC status: only PASS payers are credited payouts (binance-pay-extended.md §10.2). */
export const PAYER_KYC_STATUSES = ['PASS', 'PENDING', 'REJECT'] as const;
export type PayerKycStatus = (typeof PAYER_KYC_STATUSES)[number];

/**
 * A wallet holder (checkout payer, payout recipient): the payer profile of a person's e-mail account (people.ts).
 * Payers have no phone number.
 */
export interface Payer {
  payerId: bigint;
  email: string;
  kycStatus: PayerKycStatus;
  /** The person's account (people.ts): one login, one KYC level, one set of limits. */
  userId: string;
}

const toPayer = (r: DbRow): Payer => {
  const p = toPayerRow(r);
  return { payerId: p.payerId, email: p.email, kycStatus: p.kycStatus, userId: p.userId };
};

export interface ApiKeyRecord {
  apiKey: string;
  merchantId: bigint;
  secret: string;
  ipWhitelist: string[];
  /** Extra permissions of the key (§9.1, e.g. PAYOUT); null = the mode's default. */
  permissions: string[] | null;
  /**
   * The merchant is suspended by the operator: its keys stay valid (a signed request is verified as usual) but the
   * request is refused (binance-pay-extended.md §19, 400606).
   */
  merchantSuspended: boolean;
}

/** A merchant is ACTIVE or SUSPENDED (by the operator: API refused with 400606, dashboard log-in refused). */
export const MERCHANT_STATUSES = ['ACTIVE', 'SUSPENDED'] as const;
export type MerchantStatus = (typeof MERCHANT_STATUSES)[number];

interface NewCredentials {
  merchantId: string;
  merchantName: string;
  apiKey: string;
  apiSecret: string;
}

const KEY_CACHE_MS = 5_000;

function toMerchant(r: DbRow): Merchant {
  return {
    merchantId: r.id,
    name: r.name,
    status: r.status,
    webhookUrl: r.webhook_url,
    tsp: r.tsp_allow_scopes ? { allowScopes: r.tsp_allow_scopes, allowFeeShare: r.tsp_allow_fee_share } : null,
    features: r.features ?? {},
    payoutFee: r.payout_fee ?? {},
    createdAt: Number(r.created_at),
  };
}

export function validateIpWhitelist(list: unknown): Result<string[]> {
  if (list === undefined || list === null) return ok([]);
  if (!Array.isArray(list) || list.length > 50)
    return err('INVALID_INPUT', 'ipWhitelist must be a list of at most 50 addresses');
  const cleaned = list.filter((x) => x !== '');
  for (const x of cleaned)
    if (typeof x !== 'string' || !isValidIpOrCidr(x))
      return err('INVALID_INPUT', `invalid IP address or CIDR: ${String(x)}`);
  return ok(cleaned as string[]);
}

/**
 * A revoked key or a changed IP whitelist is announced on this channel (payload: the API key, or '*' for every key of
 * a merchant) so that every process drops its cached copy at once, not after KEY_CACHE_MS.
 */
export const CREDENTIALS_CHANNEL = 'rampart_credentials';

export function createAccountsService(deps: { db: Db; clock: Clock; box: SecretBox }) {
  const { db, clock, box } = deps;
  // Verifying an HMAC needs the secret in the clear; a short cache avoids a query and a decrypt per request. On
  // PostgreSQL it is trusted only while this process listens for CREDENTIALS_CHANNEL (other processes may revoke);
  // PGlite is one process, where revocation clears the cache directly.
  const keyCache = new Map<string, { at: number; rec: ApiKeyRecord | null }>();
  // A merchant's feature flags gate endpoints and decide rules on the hot path (create order asks "channel
  // partner?"): cached like keys, and dropped by the same announcements.
  const featureCache = new Map<string, { at: number; features: Merchant['features'] | null }>();
  let cacheTrusted = db.kind === 'pglite';
  const announce = (payload: string) => db.query(`SELECT pg_notify($1, $2)`, [CREDENTIALS_CHANNEL, payload]);

  async function insertKey(q: Queryable, merchantId: bigint, ipWhitelist: string[], permissions?: string[] | null) {
    const apiKey = randomString(64);
    const apiSecret = randomString(64);
    await q.query(
      `INSERT INTO merchant_api_keys (api_key, merchant_id, secret_sealed, ip_whitelist, permissions, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        apiKey,
        merchantId,
        box.seal(apiSecret),
        JSON.stringify(ipWhitelist),
        permissions ? JSON.stringify(permissions) : null,
        clock.now(),
      ],
    );
    return { apiKey, apiSecret };
  }

  const service = {
    async createMerchant(input: {
      name: string;
      webhookUrl?: string | null;
      ipWhitelist?: string[];
    }): Promise<Result<NewCredentials>> {
      const name = input.name?.trim();
      if (!name || name.length > 128) return err('INVALID_INPUT', 'name is required (1-128 characters)');
      const ips = validateIpWhitelist(input.ipWhitelist);
      if (!ips.ok) return ips;
      return ok(
        await db.tx(async (q) => {
          const m = (
            await q.query(
              `INSERT INTO merchants (name, webhook_url, created_at) VALUES ($1, $2, $3) RETURNING id, name`,
              [name, input.webhookUrl ?? null, clock.now()],
            )
          ).rows[0];
          const key = await insertKey(q, m.id, ips.value);
          return { merchantId: String(m.id), merchantName: m.name, ...key };
        }),
      );
    },

    /** q: pass the caller's transaction when called inside one (PGlite has a single connection). */
    async getMerchant(id: bigint | string, q: Queryable = db): Promise<Merchant | null> {
      if (!/^\d{1,19}$/.test(String(id))) return null;
      const r = (await q.query(`SELECT * FROM merchants WHERE id = $1`, [String(id)])).rows[0];
      return r ? toMerchant(r) : null;
    },

    /** The merchant's feature-flag overrides (for gates on the request path), cached like keys; null: no merchant. */
    async merchantFeatures(id: string): Promise<Merchant['features'] | null> {
      const hit = cacheTrusted ? featureCache.get(id) : undefined;
      if (hit && Date.now() - hit.at < KEY_CACHE_MS) return hit.features;
      const m = await service.getMerchant(id);
      if (featureCache.size > 10_000) featureCache.clear();
      featureCache.set(id, { at: Date.now(), features: m ? m.features : null });
      return m ? m.features : null;
    },

    /** Every merchant, or those whose name contains `search` (any case) or whose id is `search`. */
    async listMerchants(search?: string): Promise<Merchant[]> {
      const term = search?.trim();
      if (!term) return (await db.query(`SELECT * FROM merchants ORDER BY id`)).rows.map(toMerchant);
      const byId = /^\d{1,19}$/.test(term) && BigInt(term) <= 9223372036854775807n ? term : null;
      const pattern = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      return (
        await db.query(`SELECT * FROM merchants WHERE id = $1 OR name ILIKE $2 ORDER BY id LIMIT 500`, [byId, pattern])
      ).rows.map(toMerchant);
    },

    /**
     * Suspends or reactivates a merchant: only from the other state (a repeated or stale request changes nothing and
     * says so). Every process drops its cached keys, so the change holds from the next request.
     */
    async setMerchantStatus(id: string, to: MerchantStatus): Promise<Result<Merchant>> {
      const from: MerchantStatus = to === 'SUSPENDED' ? 'ACTIVE' : 'SUSPENDED';
      if (!/^\d{1,19}$/.test(id)) return err('MERCHANT_NOT_FOUND');
      const r = await db.query(`UPDATE merchants SET status = $3 WHERE id = $1 AND status = $2`, [id, from, to]);
      const m = await service.getMerchant(id);
      if (!m) return err('MERCHANT_NOT_FOUND');
      if (r.rowCount !== 1)
        return err(
          'MERCHANT_STATUS',
          to === 'SUSPENDED' ? 'The merchant is already suspended.' : 'The merchant is not suspended.',
        );
      keyCache.clear();
      featureCache.delete(id);
      await announce('*');
      return ok(m);
    },

    async updateMerchant(
      id: string,
      patch: {
        webhookUrl?: string | null;
        ipWhitelist?: string[];
        tsp?: { allowScopes: string[]; allowFeeShare: boolean } | null;
        /** Merged into the stored overrides; a null value removes an override (back to the mode's default). */
        features?: Record<string, boolean | null>;
        /** Merged per asset; a null value removes the asset's fee. */
        payoutFee?: Record<string, string | null>;
      },
    ): Promise<Result<Merchant>> {
      const m = await service.getMerchant(id);
      if (!m) return err('MERCHANT_NOT_FOUND');
      if (patch.ipWhitelist !== undefined) {
        const ips = validateIpWhitelist(patch.ipWhitelist);
        if (!ips.ok) return ips;
        await db.query(`UPDATE merchant_api_keys SET ip_whitelist = $2 WHERE merchant_id = $1 AND status = 'ACTIVE'`, [
          id,
          JSON.stringify(ips.value),
        ]);
        keyCache.clear();
        await announce('*');
      }
      if (patch.webhookUrl !== undefined)
        await db.query(`UPDATE merchants SET webhook_url = $2 WHERE id = $1`, [id, patch.webhookUrl]);
      const merged = <V>(stored: Record<string, V>, change: Record<string, V | null>) =>
        Object.fromEntries(Object.entries({ ...stored, ...change }).filter((e): e is [string, V] => e[1] !== null));
      if (patch.features) {
        await db.query(`UPDATE merchants SET features = $2 WHERE id = $1`, [
          id,
          JSON.stringify(merged(m.features, patch.features)),
        ]);
        featureCache.delete(id);
        await announce('*');
      }
      if (patch.payoutFee)
        await db.query(`UPDATE merchants SET payout_fee = $2 WHERE id = $1`, [
          id,
          JSON.stringify(merged(m.payoutFee, patch.payoutFee)),
        ]);
      if (patch.tsp !== undefined) {
        await db.query(`UPDATE merchants SET tsp_allow_scopes = $2, tsp_allow_fee_share = $3 WHERE id = $1`, [
          id,
          patch.tsp ? JSON.stringify(patch.tsp.allowScopes) : null,
          patch.tsp?.allowFeeShare ?? false,
        ]);
      }
      return ok((await service.getMerchant(id))!);
    },

    async createKey(
      merchantId: string,
      ipWhitelist?: string[],
      permissions?: string[] | null,
    ): Promise<Result<NewCredentials>> {
      const m = await service.getMerchant(merchantId);
      if (!m) return err('MERCHANT_NOT_FOUND');
      const ips = validateIpWhitelist(ipWhitelist);
      if (!ips.ok) return ips;
      const key = await insertKey(db, m.merchantId, ips.value, permissions);
      return ok({ merchantId: String(m.merchantId), merchantName: m.name, ...key });
    },

    async revokeKey(merchantId: string, apiKey: string): Promise<Result<true>> {
      const r = await db.query(
        `UPDATE merchant_api_keys SET status = 'REVOKED', revoked_at = $3 WHERE merchant_id = $1 AND api_key = $2
          AND status = 'ACTIVE'`,
        [merchantId, apiKey, clock.now()],
      );
      keyCache.delete(apiKey);
      if (r.rowCount === 1) await announce(apiKey);
      return r.rowCount === 1 ? ok(true) : err('KEY_NOT_FOUND');
    },

    /** A CREDENTIALS_CHANNEL message from any process: forget the key (or every key). */
    forgetKeys(payload: string) {
      if (payload === '*') {
        keyCache.clear();
        featureCache.clear();
      } else keyCache.delete(payload);
    },

    /**
     * Whether the cache may be used: only while the channel is heard (a lost connection may have missed a revocation).
     */
    trustKeyCache(trusted: boolean) {
      cacheTrusted = trusted;
      if (!trusted) {
        keyCache.clear();
        featureCache.clear();
      }
    },

    async listKeys(merchantId: string) {
      const rows = (
        await db.query(
          `SELECT api_key, ip_whitelist, permissions, status, created_at, revoked_at
             FROM merchant_api_keys WHERE merchant_id = $1 ORDER BY created_at`,
          [merchantId],
        )
      ).rows;
      return rows.map((r) => ({
        apiKey: r.api_key,
        ipWhitelist: r.ip_whitelist,
        permissions: r.permissions as string[] | null,
        status: r.status,
        createdAt: Number(r.created_at),
      }));
    },

    /**
     * The active key with its secret, for request verification; null when unknown or revoked. A suspended merchant's
     * key still resolves (merchantSuspended), so the refusal can say why after the signature is checked.
     */
    async resolveKey(apiKey: string): Promise<ApiKeyRecord | null> {
      const hit = cacheTrusted ? keyCache.get(apiKey) : undefined;
      if (hit && Date.now() - hit.at < KEY_CACHE_MS) return hit.rec;
      const r = (
        await db.query(
          `SELECT k.api_key, k.merchant_id, k.secret_sealed, k.ip_whitelist, k.permissions, m.status AS merchant_status
             FROM merchant_api_keys k JOIN merchants m ON m.id = k.merchant_id
         WHERE k.api_key = $1 AND k.status = 'ACTIVE'`,
          [apiKey],
        )
      ).rows[0];
      const rec = r
        ? {
            apiKey: r.api_key,
            merchantId: r.merchant_id,
            secret: box.open(r.secret_sealed),
            ipWhitelist: r.ip_whitelist,
            permissions: r.permissions,
            merchantSuspended: r.merchant_status !== 'ACTIVE',
          }
        : null;
      if (keyCache.size > 10_000) keyCache.clear();
      keyCache.set(apiKey, { at: Date.now(), rec });
      return rec;
    },

    /**
     * A payer: an e-mail account with its payer profile, created in one transaction (the sandbox helper and the demo
     * seed; a person signs up at /signup). The operator vouches for the e-mail, so the account is verified at once;
     * its KYC level follows kycStatus (PASS: VERIFIED, the default).
     */
    async createPayer(input: {
      email: string;
      password?: string;
      /** Payout KYC status (binance-pay-extended.md §10.2); default PASS. */
      kycStatus?: PayerKycStatus;
      /** KYC country (ISO 3166-1 alpha-2). */
      country?: string | null;
    }): Promise<Result<{ payerId: bigint; email: string; password: string; kycStatus: PayerKycStatus }>> {
      const email = input.email?.trim().toLowerCase();
      if (!email || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 254)
        return err('INVALID_INPUT', 'a valid email is required');
      const password = input.password ?? randomAlnum(16);
      if (password.length < 8) return err('INVALID_INPUT', 'password must have at least 8 characters');
      const hash = await hashPassword(password);
      const kycStatus = input.kycStatus ?? 'PASS';
      const now = clock.now();
      const made = await db.tx((q) =>
        insertAccount(q, {
          kind: 'email',
          identifier: email,
          passwordHash: hash,
          verifiedAt: now,
          kycLevel: kycStatus === 'PASS' ? 'VERIFIED' : 'NONE',
          kycSource: kycStatus === 'PASS' ? 'sandbox' : null,
          kycRejectedAt: kycStatus === 'REJECT' ? now : null,
          country: input.country ?? null,
          now,
        }),
      );
      if (!made) return err('EMAIL_TAKEN', 'a payer with this email exists');
      return ok({ payerId: BigInt(made.payerId!), email, password, kycStatus });
    },

    async findPayerByEmail(email: string, q: Queryable = db): Promise<Payer | null> {
      const r = (
        await q.query(`SELECT ${PAYER_COLUMNS} FROM ${PAYER_FROM} WHERE u.identifier = $1`, [
          String(email).trim().toLowerCase(),
        ])
      ).rows[0];
      return r ? toPayer(r) : null;
    },

    async getPayer(id: string, q: Queryable = db): Promise<Payer | null> {
      if (!/^\d{1,19}$/.test(id) || BigInt(id) > 9223372036854775807n) return null;
      const r = (await q.query(`SELECT ${PAYER_COLUMNS} FROM ${PAYER_FROM} WHERE p.id = $1`, [id])).rows[0];
      return r ? toPayer(r) : null;
    },

    /** The payers among `emails` (lower case) whose KYC is PASS: payout e-mail recipients who may claim. */
    async verifiedPayersByEmail(emails: string[], q: Queryable = db): Promise<Map<string, bigint>> {
      if (emails.length === 0) return new Map();
      const rows = (
        await q.query(
          `SELECT p.id, u.identifier FROM ${PAYER_FROM} WHERE u.identifier = ANY($1::text[])
            AND u.verified_at IS NOT NULL AND u.kyc_level <> 'NONE'`,
          [emails],
        )
      ).rows;
      return new Map(rows.map((r) => [r.identifier as string, r.id as bigint]));
    },

    /**
     * The reviewer's decision on a payer's KYC (the sandbox decision on a payer id), applied to the account's one
     * KYC level: PASS verifies an unverified account (a verified one keeps its level), REJECT returns it to NONE and
     * records the rejection. Null when there is no such payer.
     */
    async setPayerKycStatus(id: string, status: PayerKycStatus): Promise<Payer | null> {
      if (!/^\d{1,19}$/.test(id) || BigInt(id) > 9223372036854775807n) return null;
      const level =
        status === 'PASS'
          ? `kyc_level = CASE WHEN kyc_level = 'NONE' THEN 'VERIFIED' ELSE kyc_level END,
              kyc_source = CASE WHEN kyc_level = 'NONE' THEN 'sandbox' ELSE kyc_source END`
          : `kyc_level = 'NONE', kyc_source = NULL`;
      await db.query(
        `UPDATE buyflow_users SET ${level}, kyc_rejected_at = $2 WHERE id = (SELECT user_id FROM payers WHERE id = $1)`,
        [id, status === 'REJECT' ? clock.now() : null],
      );
      return service.getPayer(id);
    },

    /**
     * The checkout's (and /login's) check: the e-mail account's password, only once its e-mail is proven. The same
     * e-mail and password log in to the buy flow (which then asks for a code).
     */
    async authenticatePayer(email: string, password: string): Promise<Result<{ payerId: bigint; email: string }>> {
      const r = (
        await db.query(
          `SELECT p.id, u.identifier, u.password_hash, u.verified_at FROM ${PAYER_FROM} WHERE u.identifier = $1`,
          [String(email).trim().toLowerCase()],
        )
      ).rows[0];
      // Hash even for unknown emails so response time does not reveal which emails exist.
      const good = await verifyPassword(String(password), r?.password_hash ?? DUMMY_HASH);
      return r && good && r.verified_at !== null
        ? ok({ payerId: r.id, email: r.identifier })
        : err('BAD_CREDENTIALS', 'Wrong email or password.');
    },

    /**
     * A payer's KYC country (ISO 3166-1 alpha-2, the account's), or null when unknown: what a sub-merchant's
     * blockPayerKycCountries is checked against (binance-pay-extended.md §12.5).
     */
    async payerCountry(id: string, q: Queryable = db): Promise<string | null> {
      if (!/^\d{1,19}$/.test(id)) return null;
      const r = (await q.query(`SELECT u.country FROM ${PAYER_FROM} WHERE p.id = $1`, [id])).rows[0];
      return r?.country ?? null;
    },

    async setPayerCountry(id: string, country: string | null): Promise<void> {
      await db.query(`UPDATE buyflow_users SET country = $2 WHERE id = (SELECT user_id FROM payers WHERE id = $1)`, [
        id,
        country,
      ]);
    },

    /** The account behind a payer profile (the buy flow's user id), or null. */
    async userOfPayer(id: string, q: Queryable = db): Promise<string | null> {
      return (await service.getPayer(id, q))?.userId ?? null;
    },
  };
  return service;
}

export type AccountsService = ReturnType<typeof createAccountsService>;

/** Browser sessions: an opaque cookie whose hash is stored, plus a per-session CSRF token. */
export function createSessions(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  const TTL = 12 * 3_600_000;
  return {
    async create(subjectType: string, subjectId: string): Promise<{ cookie: string; csrf: string }> {
      const cookie = randomString(48);
      const csrf = randomString(32);
      await db.query(
        `INSERT INTO sessions (id_hash, subject_type, subject_id, csrf_token, created_at, expires_at)
          VALUES ($1, $2, $3, $4, $5, $6)`,
        [sha256Hex(cookie), subjectType, subjectId, csrf, Date.now(), Date.now() + TTL],
      );
      void clock;
      return { cookie, csrf };
    },
    async get(cookie: string | undefined, subjectType: string): Promise<{ subjectId: string; csrf: string } | null> {
      if (!cookie) return null;
      const r = (
        await db.query(
          `SELECT subject_id, csrf_token, expires_at FROM sessions WHERE id_hash = $1 AND subject_type = $2`,
          [sha256Hex(cookie), subjectType],
        )
      ).rows[0];
      if (!r || Number(r.expires_at) < Date.now()) return null;
      return { subjectId: r.subject_id, csrf: r.csrf_token };
    },
    async destroy(cookie: string | undefined) {
      if (cookie) await db.query(`DELETE FROM sessions WHERE id_hash = $1`, [sha256Hex(cookie)]);
    },
  };
}
export type Sessions = ReturnType<typeof createSessions>;
