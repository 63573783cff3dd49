import type { AccountsService, Merchant } from '../accounts/service.ts';
import { validateIpWhitelist } from '../accounts/service.ts';
import { TSP_FIELD, type PayCaller } from '../pay/auth.ts';
import { enqueuePayWebhook } from '../pay/events.ts';
import type { Actor } from '../pay/orders/service.ts';
import type { Clock } from '../platform/clock.ts';
import { randomHex, sha256Hex, type SecretBox } from '../platform/crypto.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { ipAllowed } from '../platform/ip.ts';
import { raw } from '../platform/json.ts';
import type { Mailer } from '../platform/mail.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import * as store from './store.ts';

/**
 * Technical service providers (binance-pay.md §7): a TSP asks a merchant for an authorization (API or manual
 * dashboard link), the merchant approves or rejects on its review page, and from then on the TSP calls the Pay API
 * on the merchant's behalf with the authorization token, within the granted scopes and IPs.
 */
export const TSP_SCOPES = [
  'CONVERT',
  'REFUND',
  'CHECKOUT',
  'PAYOUT',
  'REPORT',
  'INTERNAL_TRANSFER',
  'BALANCE',
] as const;
type TspScope = (typeof TSP_SCOPES)[number];
/** What a Pay endpoint needs from the authorization it is called with; null = any valid authorization. */
export type Scope = TspScope | null;
/** Why a caller cannot act for a merchant (actor resolution, spec §7.7). */
export type ActorError =
  'TSP_AUTH_INVALID' | 'TSP_SCOPE_NOT_AUTHORIZED' | 'TSP_IP_NOT_ALLOWED' | 'TSP_TOKEN_NOT_ACCEPTED';

/** The scopes in plain words (spec §7.8), shown to the merchant before it agrees. */
export const SCOPE_TEXT: Record<string, string> = {
  CHECKOUT: 'Create, query and close orders (all order APIs except refund)',
  REFUND: 'Refund orders and query refunds',
  BALANCE: 'See your wallet balances',
  PAYOUT: 'Send batch payouts from your balance and query them',
  REPORT: 'Read your reports',
  CONVERT: 'Convert between assets',
  INTERNAL_TRANSFER: 'Transfer funds between your accounts',
};

/** A PENDING request can be reviewed for this long; the manual authorization link says "valid for 24 hours". */
const REVIEW_WINDOW_MS = 24 * 3_600_000;

/**
 * Issue 13 (a TSP walking sequential merchant ids to read every merchant's name): each TSP may create at most this
 * many authorization requests per rolling hour, API and manual route together. Counted from tsp_authorizations on
 * the platform clock, under a per-TSP lock, so the limit holds across API processes. Over the limit → 400203 (the
 * published "check account status" code; the spec has no rate-limit code) with a message saying when to retry.
 */
const CREATE_LIMIT = { max: 60, windowMs: 3_600_000 };

export type AuthStatus = 'PENDING' | 'AUTHORIZED' | 'REJECTED' | 'DISABLED';

export interface Authorization {
  authorizationId: string;
  tspMerchantId: string;
  tspName: string;
  merchantId: string;
  merchantName: string;
  status: AuthStatus;
  source: 'API' | 'MANUAL';
  scopes: string[];
  ipWhitelist: string[];
  authorizationToken: string;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
}

export type TspError =
  | 'NOT_TSP'
  | 'MERCHANT_NOT_FOUND'
  | 'FIELD_VALUE'
  | 'FIELD_FORMAT'
  | 'FIELD_MISSING'
  | 'AUTH_NOT_FOUND'
  | 'AUTH_NOT_PENDING'
  | 'AUTH_EXPIRED'
  | 'AUTH_NOT_AUTHORIZED'
  | 'RATE_LIMITED';

interface NewAuthorization {
  merchantId: string;
  scopes: string[];
  ipWhitelist: string[];
}

export interface TspDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  accounts: AccountsService;
  outbox: Outbox;
  mailer: Mailer;
  publicUrl: string;
  /** Dashboard users of a merchant, who get the TSP's notification emails. */
  contactEmails: (q: Queryable, merchantId: string) => Promise<string[]>;
}

export function createTspService(deps: TspDeps) {
  const { db, clock, ids, box, accounts, outbox, mailer } = deps;

  const view = (r: store.AuthRow): Authorization => ({
    authorizationId: String(r.id),
    tspMerchantId: String(r.tsp_merchant_id),
    tspName: r.tsp_name,
    merchantId: String(r.merchant_id),
    merchantName: r.merchant_name,
    status: r.status,
    source: r.source,
    scopes: r.scopes,
    ipWhitelist: r.ip_whitelist,
    authorizationToken: box.open(r.token_sealed),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  });

  const reviewUrl = (authorizationId: string) =>
    `${deps.publicUrl}/en/dashboard/review-authorization?authId=${authorizationId}`;

  /** TECH_PROVIDER webhook (spec §6.5) to the TSP's configured URL, in the caller's transaction. */
  async function notify(q: Queryable, a: Authorization, bizStatus: string) {
    const tsp = await accounts.getMerchant(a.tspMerchantId, q);
    await enqueuePayWebhook(outbox, q, {
      url: tsp?.webhookUrl ?? null,
      ownerId: a.tspMerchantId,
      bizType: 'TECH_PROVIDER',
      bizId: a.authorizationId,
      bizStatus,
      data: {
        authorizationId: a.authorizationId,
        authorizationToken: a.authorizationToken,
        merchantId: raw(a.merchantId),
        merchantName: a.merchantName,
        scopes: a.scopes,
      },
      secrets: { values: [a.authorizationToken], box },
    });
  }

  async function mailTsp(q: Queryable, a: Authorization, agreed: boolean) {
    const subject = agreed
      ? `${a.merchantName} approved your authorization request`
      : `${a.merchantName} rejected your authorization request`;
    const text = agreed
      ? `Merchant ${a.merchantName} (${a.merchantId}) approved authorization ${a.authorizationId} for ` +
        `scopes ${a.scopes.join(', ')}.\n` +
        `The authorization token is shown under Partner features → Technical Vendor → ` +
        `Details:\n${deps.publicUrl}/en/dashboard/technical-vendor/${a.authorizationId}\n`
      : `Merchant ${a.merchantName} (${a.merchantId}) rejected authorization ${a.authorizationId}.\n`;
    for (const to of await deps.contactEmails(q, a.tspMerchantId)) await mailer.send(q, { to, subject, text });
  }

  function checkScopes(tsp: Merchant, scopes: string[]): Result<string[], TspError> {
    const unique = [...new Set(scopes)];
    if (unique.length === 0) return err('FIELD_MISSING', 'scopes: must not be empty');
    const bad = unique.find((s) => !tsp.tsp!.allowScopes.includes(s));
    if (bad !== undefined)
      return err('FIELD_VALUE', `scopes: ${bad} is not an allowed scope of this technical service provider`);
    return ok(unique);
  }

  const service = {
    reviewUrl,

    async config(tspMerchantId: string): Promise<Result<{ allowFeeShare: boolean; allowScopes: string[] }, TspError>> {
      const tsp = await accounts.getMerchant(tspMerchantId);
      if (!tsp?.tsp) return err('NOT_TSP');
      // Rampart never takes part in the fund flow, so fee sharing is never on (spec §7.1 Decision).
      return ok({ allowFeeShare: false, allowScopes: tsp.tsp.allowScopes });
    },

    async isTsp(merchantId: string) {
      return Boolean((await accounts.getMerchant(merchantId))?.tsp);
    },

    /**
     * Creates a PENDING authorization (spec §7.2); the token is issued now and works only once AUTHORIZED.
     * At most one PENDING request per (TSP, merchant) (issue 13; replaces the spec's "any number of PENDING"):
     * the same request again (same scopes and IP whitelist) returns the pending one, so a retry after a lost
     * response is safe; a different one replaces it (the old one → REJECTED with SUBMIT_AUTH_REJECT), because the
     * spec gives a TSP no way to withdraw a request with wrong scopes. A merchant that blocked the TSP answers
     * 406210 exactly as an unknown merchant, so blocking reveals nothing; the rate limit is checked before the
     * merchant is looked up, so a TSP over its limit learns nothing about merchant ids either.
     */
    async create(
      tspMerchantId: string,
      input: NewAuthorization,
      source: 'API' | 'MANUAL',
    ): Promise<Result<Authorization & { redirectUrl: string }, TspError>> {
      const tsp = await accounts.getMerchant(tspMerchantId);
      if (!tsp?.tsp) return err('NOT_TSP');
      const now = clock.now();
      try {
        const row = await db.tx(async (q) => {
          // Serialises one TSP's creates (count, one-pending rule); PGlite runs one transaction at a time anyway.
          if (db.kind === 'pg') await q.query(`SELECT pg_advisory_xact_lock(727275, hashtext($1))`, [tspMerchantId]);
          if ((await store.countCreatedSince(q, tspMerchantId, now - CREATE_LIMIT.windowMs)) >= CREATE_LIMIT.max) {
            throw new DomainError(
              'RATE_LIMITED',
              `Too many authorization requests: at most ${CREATE_LIMIT.max} per hour. Try again later.`,
            );
          }
          const merchant = /^\d{1,19}$/.test(input.merchantId) ? await accounts.getMerchant(input.merchantId, q) : null;
          if (
            !merchant ||
            merchant.status !== 'ACTIVE' ||
            String(merchant.merchantId) === tspMerchantId ||
            (await store.isBlocked(q, String(merchant.merchantId), tspMerchantId))
          )
            throw new DomainError('MERCHANT_NOT_FOUND', 'Invalid merchant id');
          const merchantId = String(merchant.merchantId);
          const scopes = checkScopes(tsp, input.scopes);
          if (!scopes.ok) throw new DomainError(scopes.code, scopes.message);
          const ips = validateIpWhitelist(input.ipWhitelist);
          if (!ips.ok) throw new DomainError('FIELD_FORMAT', `ipWhitelist: ${ips.message}`);
          const pending = await store.pendingFor(q, tspMerchantId, merchantId);
          const same = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
          if (
            pending &&
            Number(pending.expires_at) > now &&
            same(pending.scopes, scopes.value) &&
            same(pending.ip_whitelist, ips.value)
          )
            return pending;
          for (const old of await store.transition(q, {
            tspMerchantId,
            merchantId,
            from: 'PENDING',
            to: 'REJECTED',
            now,
          }))
            await notify(q, view(old), 'SUBMIT_AUTH_REJECT');
          const id = ids.next();
          const token = randomHex(16);
          await store.insert(q, {
            id,
            tspMerchantId,
            merchantId,
            source,
            scopes: scopes.value,
            ipWhitelist: ips.value,
            tokenHash: sha256Hex(token),
            tokenSealed: box.seal(token),
            now,
            expiresAt: now + REVIEW_WINDOW_MS,
          });
          return store.byId(q, String(id));
        });
        const a = view(row!);
        return ok({ ...a, redirectUrl: reviewUrl(a.authorizationId) });
      } catch (e) {
        if (e instanceof DomainError) return err(e.code as TspError, e.message === e.code ? undefined : e.message);
        throw e;
      }
    },

    /**
     * The merchant dismisses a PENDING request from its Technical Vendor list: REJECTED, and the TSP gets
     * SUBMIT_AUTH_REJECT as for any PENDING→REJECTED (spec §7.3), but no email: nothing to tell a person.
     */
    async dismiss(merchantId: string, authorizationId: string): Promise<Result<Authorization, TspError>> {
      if (!/^\d{1,19}$/.test(authorizationId)) return err('AUTH_NOT_FOUND');
      return db.tx(async (q) => {
        const [row] = await store.transition(q, {
          id: authorizationId,
          merchantId,
          from: 'PENDING',
          to: 'REJECTED',
          now: clock.now(),
        });
        if (!row) return err('AUTH_NOT_PENDING');
        const a = view(row);
        await notify(q, a, 'SUBMIT_AUTH_REJECT');
        return ok(a);
      });
    },

    /**
     * The merchant blocks the TSP behind one of its requests: the TSP's PENDING requests are dismissed and its
     * future creates for this merchant answer 406210 (see create). An AUTHORIZED authorization stays until the
     * merchant disables it: blocking stops requests, revoking access is the separate Disable.
     */
    async block(
      merchantId: string,
      authorizationId: string,
    ): Promise<Result<{ tspMerchantId: string; tspName: string; dismissed: number }, TspError>> {
      const a = await service.get(authorizationId);
      if (!a || a.merchantId !== merchantId) return err('AUTH_NOT_FOUND');
      return db.tx(async (q) => {
        const now = clock.now();
        await store.block(q, merchantId, a.tspMerchantId, now);
        const rows = await store.transition(q, {
          tspMerchantId: a.tspMerchantId,
          merchantId,
          from: 'PENDING',
          to: 'REJECTED',
          now,
        });
        for (const r of rows) await notify(q, view(r), 'SUBMIT_AUTH_REJECT');
        return ok({ tspMerchantId: a.tspMerchantId, tspName: a.tspName, dismissed: rows.length });
      });
    },

    async unblock(merchantId: string, tspMerchantId: string): Promise<boolean> {
      if (!/^\d{1,19}$/.test(tspMerchantId)) return false;
      return store.unblock(db, merchantId, tspMerchantId);
    },

    listBlocked: async (merchantId: string) =>
      (await store.listBlocked(db, merchantId)).map((b) => ({
        tspMerchantId: String(b.tsp_merchant_id),
        tspName: b.tsp_name,
        blockedAt: Number(b.created_at),
      })),

    async get(authorizationId: string): Promise<Authorization | null> {
      if (!/^\d{1,19}$/.test(authorizationId)) return null;
      const r = await store.byId(db, authorizationId);
      return r ? view(r) : null;
    },

    /** The TSP's own records, newest first (spec §7.6). */
    async records(
      tspMerchantId: string,
      opts: { page: number; rows: number; merchantId?: string | null },
    ): Promise<Result<{ total: number; rows: Authorization[] }, TspError>> {
      if (!(await service.isTsp(tspMerchantId))) return err('NOT_TSP');
      const r = await store.listForTsp(db, tspMerchantId, {
        merchantId: opts.merchantId ?? null,
        limit: opts.rows,
        offset: (opts.page - 1) * opts.rows,
      });
      return ok({ total: r.total, rows: r.rows.map(view) });
    },

    /** One record: by id, or by merchant the AUTHORIZED one if any, else the newest (spec §7.6). */
    async record(
      tspMerchantId: string,
      by: { merchantId?: string | null; authorizationId?: string | null },
    ): Promise<Result<Authorization | null, TspError>> {
      if (!(await service.isTsp(tspMerchantId))) return err('NOT_TSP');
      if (by.merchantId) {
        const m = /^\d{1,19}$/.test(by.merchantId) ? await accounts.getMerchant(by.merchantId) : null;
        if (!m) return err('MERCHANT_NOT_FOUND', 'Invalid merchant id');
      }
      const r = await store.findOne(db, tspMerchantId, {
        merchantId: by.merchantId ?? null,
        authorizationId: by.authorizationId ?? null,
      });
      return ok(r ? view(r) : null);
    },

    listForTsp: async (tspMerchantId: string) =>
      (await store.listForTsp(db, tspMerchantId, { merchantId: null, limit: 200, offset: 0 })).rows.map(view),
    listForMerchant: async (merchantId: string) => (await store.listForMerchant(db, merchantId)).map(view),

    /**
     * The merchant's answer on the review page (or the sandbox helper, merchantId null). Agreeing disables an
     * earlier AUTHORIZED authorization of the same TSP (at most one per pair, spec §7.3); webhooks and the email
     * to the TSP commit with the status change.
     */
    async decide(
      authorizationId: string,
      merchantId: string | null,
      decision: 'AGREE' | 'REJECT',
    ): Promise<Result<Authorization, TspError>> {
      if (!/^\d{1,19}$/.test(authorizationId)) return err('AUTH_NOT_FOUND');
      const now = clock.now();
      try {
        const a = await db.tx(async (q) => {
          const cur = await store.byId(q, authorizationId);
          if (!cur || (merchantId !== null && String(cur.merchant_id) !== merchantId))
            throw new DomainError('AUTH_NOT_FOUND');
          if (cur.status !== 'PENDING') throw new DomainError('AUTH_NOT_PENDING');
          if (Number(cur.expires_at) <= now)
            throw new DomainError('AUTH_EXPIRED', 'This authorization link has expired.');
          if (decision === 'AGREE') {
            for (const old of await store.transition(q, {
              tspMerchantId: String(cur.tsp_merchant_id),
              merchantId: String(cur.merchant_id),
              from: 'AUTHORIZED',
              to: 'DISABLED',
              now,
            })) {
              await notify(q, view(old), 'TP_AUTH_DISABLED');
            }
          }
          const [row] = await store.transition(q, {
            id: authorizationId,
            from: 'PENDING',
            to: decision === 'AGREE' ? 'AUTHORIZED' : 'REJECTED',
            now,
            notExpiredAt: now,
          });
          if (!row) throw new DomainError('AUTH_NOT_PENDING');
          const done = view(row);
          await notify(q, done, decision === 'AGREE' ? 'SUBMIT_AUTH_AGREE' : 'SUBMIT_AUTH_REJECT');
          await mailTsp(q, done, decision === 'AGREE');
          return done;
        });
        return ok(a);
      } catch (e) {
        if (e instanceof DomainError) return err(e.code as TspError, e.message === e.code ? undefined : e.message);
        throw e;
      }
    },

    /** Unreviewed requests past their 24 hours are rejected (spec §7.3 Decision) and the TSP told so. */
    async expireDue(limit = 100): Promise<number> {
      const now = clock.now();
      return db.tx(async (q) => {
        const rows = await store.expire(q, now, limit);
        for (const r of rows) {
          const a = view(r);
          await notify(q, a, 'SUBMIT_AUTH_REJECT');
          await mailTsp(q, a, false);
        }
        return rows.length;
      });
    },

    /** The merchant edits the scopes (and IP whitelist) of an AUTHORIZED authorization; the token stays. */
    async change(
      merchantId: string,
      authorizationId: string,
      input: { scopes: string[]; ipWhitelist?: string[] },
    ): Promise<Result<Authorization, TspError>> {
      const cur = await service.get(authorizationId);
      if (!cur || cur.merchantId !== merchantId) return err('AUTH_NOT_FOUND');
      const tsp = await accounts.getMerchant(cur.tspMerchantId);
      if (!tsp?.tsp) return err('NOT_TSP');
      const scopes = checkScopes(tsp, input.scopes);
      if (!scopes.ok) return scopes;
      const ips = validateIpWhitelist(input.ipWhitelist ?? cur.ipWhitelist);
      if (!ips.ok) return err('FIELD_FORMAT', ips.message);
      return db.tx(async (q) => {
        const [row] = await store.update(q, authorizationId, merchantId, {
          scopes: scopes.value,
          ipWhitelist: ips.value,
          now: clock.now(),
        });
        if (!row) return err('AUTH_NOT_AUTHORIZED');
        const a = view(row);
        await notify(q, a, 'TP_AUTH_CHANGED');
        return ok(a);
      });
    },

    /** The merchant revokes an AUTHORIZED authorization; the next call with its token is refused. */
    async disable(merchantId: string, authorizationId: string): Promise<Result<Authorization, TspError>> {
      if (!/^\d{1,19}$/.test(authorizationId)) return err('AUTH_NOT_FOUND');
      return db.tx(async (q) => {
        const [row] = await store.transition(q, {
          id: authorizationId,
          merchantId,
          from: 'AUTHORIZED',
          to: 'DISABLED',
          now: clock.now(),
        });
        if (!row) return err('AUTH_NOT_AUTHORIZED');
        const a = view(row);
        await notify(q, a, 'TP_AUTH_DISABLED');
        return ok(a);
      });
    },

    /**
     * Pay API actor resolution (spec §7.7): without a token the caller acts for itself; with one it acts for the
     * authorizing merchant, if the authorization is the caller's, AUTHORIZED, covers the endpoint's scope and the
     * client IP is in its whitelist. Read from the database on every call, so a disable takes effect at once.
     */
    resolveActor: async (caller: PayCaller, scope: Scope): Promise<Result<Actor, ActorError>> => {
      const self = ok({ merchantId: caller.merchantId, creatorMerchantId: caller.merchantId });
      if (caller.tspToken === null) return self;
      const t = caller.tspToken;
      const row = /^\d{17,19}$/.test(t)
        ? await store.byId(db, t)
        : /^[0-9a-f]{32}$/.test(t)
          ? await store.byTokenHash(db, sha256Hex(t))
          : null;
      if (
        !row ||
        String(row.tsp_merchant_id) !== caller.merchantId ||
        row.status !== 'AUTHORIZED' ||
        row.merchant_status !== 'ACTIVE' ||
        !row.tsp_is_tsp
      ) {
        return err('TSP_AUTH_INVALID', 'Technical service provider authorization is not valid.');
      }
      if (scope !== null && !row.scopes.includes(scope))
        return err('TSP_SCOPE_NOT_AUTHORIZED', `Scope ${scope} is not authorized.`);
      if (!ipAllowed(row.ip_whitelist, caller.clientIp))
        return err('TSP_IP_NOT_ALLOWED', 'IP is not in the authorization whitelist.');
      return ok({ merchantId: String(row.merchant_id), creatorMerchantId: caller.merchantId });
    },

    /** For /service/provider/*: the TSP calls as itself; a token there is a wrong parameter (spec §7.8). */
    selfOnly: async (caller: PayCaller): Promise<Result<Actor, ActorError>> =>
      caller.tspToken !== null
        ? err('TSP_TOKEN_NOT_ACCEPTED', `${TSP_FIELD}: not accepted on this endpoint`)
        : ok({ merchantId: caller.merchantId, creatorMerchantId: caller.merchantId }),
  };
  return service;
}

export type TspService = ReturnType<typeof createTspService>;
