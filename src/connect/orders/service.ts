import { validateDestination } from '../../chain/address.ts';
import type { Clock } from '../../platform/clock.ts';
import { createHmac } from 'node:crypto';
import { randomHex, sha256Hex, type SecretBox } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../../platform/errors.ts';
import { isValidIpOrCidr } from '../../platform/ip.ts';
import { Decimal } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import type { Catalog } from '../catalog.ts';
import type { GeoIp } from '../geo.ts';
import { enqueueOrderEvent } from '../notify.ts';
import {
  enqueueGen2Events,
  gen2Path,
  gen2StatusOf,
  isFinalStatus,
  isSendOrder,
  ON_RAMP_ERRORS,
  STATUS,
} from '../v2/wire.ts';
import { redirectAllowed, type Partner, type PartnerService } from '../partners.ts';
import {
  findOrder,
  insertOrder,
  newOrder,
  toOrder,
  type ConnectOrder,
  type MainStatus,
  type SubStatus,
} from './store.ts';

/**
 * Connect orders (binance-connect.md §4.4, §5): creation from the partner API in CREATED/INIT, the explicit
 * state machine the hosted buy flow drives, expiry, and one webhook per (main, sub) status change,
 * queued in the same transaction as the change.
 */
export const MAIN_OF: Record<SubStatus, MainStatus> = {
  CREATED: 'INIT',
  KYC_REVIEW: 'INIT',
  PAYMENT_PROCESSING: 'PROCESSING',
  PURCHASE_PROCESSING: 'PROCESSING',
  WITHDRAW_PROCESSING: 'PROCESSING',
  WITHDRAW_FAILED: 'PROCESSING',
  COMPLETED: 'SUCCESS',
  FAILED: 'FAILURE',
};

/** §5.1 transitions. */
export const TRANSITIONS: Record<SubStatus, SubStatus[]> = {
  CREATED: ['KYC_REVIEW', 'PAYMENT_PROCESSING', 'FAILED'],
  KYC_REVIEW: ['CREATED', 'PAYMENT_PROCESSING', 'FAILED'],
  // → WITHDRAW_PROCESSING: a gen-2 send-primary order sends the user's own crypto, with no purchase (v2 §10.4).
  PAYMENT_PROCESSING: ['PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING', 'CREATED', 'FAILED'],
  PURCHASE_PROCESSING: ['WITHDRAW_PROCESSING', 'FAILED'],
  WITHDRAW_PROCESSING: ['COMPLETED', 'WITHDRAW_FAILED'],
  WITHDRAW_FAILED: ['WITHDRAW_PROCESSING', 'FAILED'],
  COMPLETED: [],
  FAILED: [],
};

/** §5.2 */
const ERROR_REASONS: Record<string, string> = {
  ORDER_EXPIRED: 'The order expired before payment was confirmed.',
  USER_CANCELLED: 'The user cancelled the order.',
  KYC_REJECTED: 'Identity verification was rejected.',
  REGION_RESTRICTED: "The service is not available in the user's country or region.",
  LIMIT_EXCEEDED: "The order exceeds the daily purchase limit of the user's verification level.",
  CARD_NOT_SUPPORTED: 'The card brand or country is not supported.',
  CARD_DECLINED: 'The card issuer declined the payment.',
  INSUFFICIENT_FUNDS: 'The card has insufficient funds.',
  THREE_DS_FAILED: '3-D Secure authentication failed.',
  QUOTE_EXPIRED: 'The price lock expired before payment completed.',
  RISK_REJECTED: 'The order was rejected by risk control.',
  PURCHASE_FAILED: 'The crypto purchase could not be executed; the payment was reversed.',
  WITHDRAW_FAILED: 'Sending the crypto to the address failed.',
  KEPT_IN_ACCOUNT: 'The user kept the crypto in the account instead of withdrawing it.',
  SYSTEM_ERROR: 'Internal error.',
};

type OrderError =
  | 'MISSING_PARAMETER'
  | 'INVALID_PARAMETER'
  | 'UNSUPPORTED_TRADE_PAIR'
  | 'UNSUPPORTED_NETWORK'
  | 'INVALID_CRYPTO_ADDRESS'
  | 'INVALID_ADDRESS_MEMO'
  | 'UNSUPPORTED_PAYMENT_METHOD'
  | 'REGION_RESTRICTED'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'WITHDRAW_AMOUNT_OUT_OF_LIMIT'
  | 'DUPLICATE_MERCHANT_ORDER_ID'
  | 'ORDER_NOT_FOUND';

type Body = Record<string, unknown>;

/**
 * Field readers: missing/null/"" → MISSING_PARAMETER; wrong type or format → INVALID_PARAMETER; `field` names the wire
 * field.
 */
function reqString(b: Body, field: string, path = field): Result<string, OrderError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return err('MISSING_PARAMETER', `${path} is required`, path);
  if (typeof v !== 'string') return err('INVALID_PARAMETER', `${path} must be a string`, path);
  return ok(v);
}
function optString(b: Body, field: string, max: number, path = field): Result<string | null, OrderError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return ok(null);
  if (typeof v !== 'string' || v.length > max)
    return err('INVALID_PARAMETER', `${path} must be a string of at most ${max} characters`, path);
  return ok(v);
}
/** Amounts arrive as number literals kept exact by the lossless parser (strings here); positive decimals only. */
function reqAmount(b: Body, field: string): Result<string, OrderError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return err('MISSING_PARAMETER', `${field} is required`, field);
  if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v) || !new Decimal(v).gt(0))
    return err('INVALID_PARAMETER', `${field} must be a positive number`, field);
  return ok(new Decimal(v).toFixed());
}

interface CreatedOrder {
  order: ConnectOrder;
  token: string;
  bindingStatus: boolean;
}

export function createConnectOrders(deps: {
  db: Db;
  clock: Clock;
  outbox: Outbox;
  catalog: Catalog;
  partners: PartnerService;
  geo: GeoIp;
  restrictedCountries: string[];
  orderTtlMs: number;
  mode: 'sandbox' | 'production';
  /** Seals gen-2 link tokens (orderDetailLink). */
  box: SecretBox;
  publicUrl: string;
  /** Key of the §8 openUserId hash. */
  openIdKey: string;
}) {
  const { db, clock, outbox, catalog, partners, geo, mode } = deps;
  const restricted = new Set(deps.restrictedCountries.map((c) => c.toUpperCase()));

  /**
   * The first of the given ISO alpha-2 countries (residence, nationality, ID) on CONNECT_RESTRICTED_COUNTRIES, else
   * null.
   */
  function restrictedCountryOf(countries: (string | null | undefined)[]): string | null {
    return countries.map((c) => String(c ?? '').toUpperCase()).find((c) => c !== '' && restricted.has(c)) ?? null;
  }

  /** §4.6: unknown countries pass. */
  function ipCheck(ip: string): { status: 'pass' | 'reject'; countryCode: string | null } {
    const countryCode = geo.country(ip);
    return { status: countryCode && restricted.has(countryCode) ? 'reject' : 'pass', countryCode };
  }

  function paymentMethodOk(v: unknown): Result<true, OrderError> {
    if (v === undefined || v === null || v === '') return ok(true);
    if (typeof v !== 'string') return err('INVALID_PARAMETER', 'paymentMethod must be a string', 'paymentMethod');
    return v.toUpperCase() === 'CARD'
      ? ok(true)
      : err('UNSUPPORTED_PAYMENT_METHOD', `payment method ${v} is not supported; use CARD`, 'paymentMethod');
  }

  /** §4.4 create: validation in the order of the table, then one insert (the unique key settles duplicate races). */
  async function create(partner: Partner, b: Body): Promise<Result<CreatedOrder, OrderError>> {
    const moid = reqString(b, 'merchantOrderId');
    if (!moid.ok) return moid;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(moid.value))
      return err('INVALID_PARAMETER', 'merchantOrderId must match ^[A-Za-z0-9_-]{1,64}$', 'merchantOrderId');
    const businessType = optString(b, 'businessType', 32);
    if (!businessType.ok) return businessType;
    if (businessType.value !== null && businessType.value !== 'BUY')
      return err('INVALID_PARAMETER', `businessType ${businessType.value} is not supported; only BUY`, 'businessType');
    const fiat = reqString(b, 'fiatCurrency');
    if (!fiat.ok) return fiat;
    const crypto = reqString(b, 'cryptoCurrency');
    if (!crypto.ok) return crypto;
    const amount = reqAmount(b, 'orderAmount');
    if (!amount.ok) return amount;
    const w = b.withdrawCryptoInfo;
    if (w === undefined || w === null)
      return err('MISSING_PARAMETER', 'withdrawCryptoInfo is required', 'withdrawCryptoInfo');
    if (typeof w !== 'object' || Array.isArray(w))
      return err('INVALID_PARAMETER', 'withdrawCryptoInfo must be an object', 'withdrawCryptoInfo');
    const wi = w as Body;
    const network = reqString(wi, 'cryptoNetwork', 'withdrawCryptoInfo.cryptoNetwork');
    if (!network.ok) return network;
    const address = reqString(wi, 'cryptoAddress', 'withdrawCryptoInfo.cryptoAddress');
    if (!address.ok) return address;
    const memo = optString(wi, 'cryptoAddressMemo', 128, 'withdrawCryptoInfo.cryptoAddressMemo');
    if (!memo.ok) return memo;
    const base = optString(b, 'baseCurrency', 16);
    if (!base.ok) return base;
    if (base.value !== null && base.value.toUpperCase() !== fiat.value.toUpperCase())
      return err('INVALID_PARAMETER', 'baseCurrency must equal fiatCurrency', 'baseCurrency');
    const userId = optString(b, 'merchantUserId', 64);
    if (!userId.ok) return userId;
    const note = optString(b, 'merchantNote', 256);
    if (!note.ok) return note;
    const redirect = optString(b, 'merchantRedirectUrl', 1024);
    if (!redirect.ok) return redirect;
    const clientIp = optString(b, 'clientUserIp', 64);
    if (!clientIp.ok) return clientIp;
    if (clientIp.value !== null && (!isValidIpOrCidr(clientIp.value) || clientIp.value.includes('/')))
      return err('INVALID_PARAMETER', 'clientUserIp must be an IP address', 'clientUserIp');
    const channel = b.channelInfo;
    if (channel !== undefined && channel !== null && (typeof channel !== 'object' || Array.isArray(channel)))
      return err('INVALID_PARAMETER', 'channelInfo must be an object', 'channelInfo');

    const fiatCode = fiat.value.toUpperCase();
    const cryptoCode = crypto.value.toUpperCase();
    const networkCode = network.value.toUpperCase();
    if (!catalog.pair(partner, fiatCode, cryptoCode))
      return err('UNSUPPORTED_TRADE_PAIR', `${fiatCode}/${cryptoCode} is not a listed pair`);
    const pm = paymentMethodOk((channel as Body | undefined)?.paymentMethod);
    if (!pm.ok) return pm;
    const q = catalog.quote(partner, {
      fiat: fiatCode,
      crypto: cryptoCode,
      network: networkCode,
      amount: amount.value,
    });
    // The quote checks network, decimals and limits first; the crypto-amount minimum waits until the address is known
    // good.
    if (!q.ok && q.code !== 'WITHDRAW_AMOUNT_OUT_OF_LIMIT')
      return err(
        q.code,
        q.message,
        q.code === 'INVALID_PARAMETER' || q.code === 'AMOUNT_OUT_OF_LIMIT' ? 'orderAmount' : q.field,
      );
    const dest = validateDestination(networkCode, address.value, memo.value);
    if (!dest.ok) {
      if (dest.code === 'INVALID_MEMO')
        return err('INVALID_ADDRESS_MEMO', dest.message, 'withdrawCryptoInfo.cryptoAddressMemo');
      if (dest.code === 'UNSUPPORTED_NETWORK') return err('UNSUPPORTED_NETWORK', dest.message);
      return err('INVALID_CRYPTO_ADDRESS', dest.message, 'withdrawCryptoInfo.cryptoAddress');
    }
    if (redirect.value !== null && !redirectAllowed(partner, redirect.value, mode)) {
      return err(
        'INVALID_PARAMETER',
        `merchantRedirectUrl must be ${mode === 'sandbox' ? 'an http(s)' : 'an https'} URL on a registered ` +
          `redirect domain`,
        'merchantRedirectUrl',
      );
    }
    if (clientIp.value !== null && ipCheck(clientIp.value).status === 'reject')
      return err('REGION_RESTRICTED', 'the end user is in a restricted region');
    if (!q.ok) return err(q.code, q.message);

    const now = clock.now();
    const token = randomHex(20);
    const order = newOrder(
      {
        partnerCode: partner.code,
        merchantOrderId: moid.value,
        merchantUserId: userId.value,
        businessType: 'BUY',
        fiatCurrency: fiatCode,
        cryptoCurrency: cryptoCode,
        cryptoNetwork: networkCode,
        cryptoAddress: dest.value.address,
        cryptoAddressMemo: dest.value.memo,
        orderAmount: amount.value,
        userFee: q.value.userFee,
        networkFee: q.value.networkFee,
        quotePrice: q.value.quotePrice,
        merchantRedirectUrl: redirect.value,
        merchantNote: note.value,
        clientUserIp: clientIp.value,
        expiredTime: now + deps.orderTtlMs,
        generation: 1,
        gen2: null,
        gen2Status: null,
        linkTokenSealed: null,
      },
      now,
    );
    const inserted = await insertOrder(db, order, sha256Hex(token));
    if (!inserted)
      return err('DUPLICATE_MERCHANT_ORDER_ID', `merchantOrderId ${moid.value} was already used`, 'merchantOrderId');
    // Accounts bound to a partner's user id only come into being in the hosted buy flow; none exist before it.
    return ok({ order, token, bindingStatus: false });
  }

  /**
   * One order by id, for the buy flow that drives it; `lock` takes the row lock inside the caller's transaction (the
   * buy flow locks its own buyflow_orders row first, then this one, everywhere, so the two never deadlock).
   */
  async function read(q: Queryable, orderId: string, opts: { lock?: boolean } = {}): Promise<ConnectOrder | null> {
    const r = (
      await q.query(`SELECT * FROM connect_orders WHERE order_id = $1${opts.lock ? ' FOR UPDATE' : ''}`, [orderId])
    ).rows[0];
    return r ? toOrder(r) : null;
  }

  async function get(
    partnerCode: string,
    by: { merchantOrderId?: string; orderId?: string },
    generation: 1 | 2 = 1,
  ): Promise<Result<ConnectOrder, 'ORDER_NOT_FOUND'>> {
    const o = await findOrder(db, partnerCode, by, generation);
    return o ? ok(o) : err('ORDER_NOT_FOUND');
  }

  /**
   * Applies one §5.1 transition as a conditional update (the row must still be in `from`), and queues the
   * webhook in the same transaction. Returns null when the order was not in `from` (someone else moved it).
   */
  async function transition(
    q: Queryable,
    orderId: string,
    from: SubStatus,
    to: SubStatus,
    patch: {
      errorCode?: string | null;
      executePrice?: string;
      obtainAmount?: string;
      withdrawTxHash?: string | null;
    } = {},
  ): Promise<ConnectOrder | null> {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal connect order transition ${from} → ${to}`);
    const errorCode = patch.errorCode === undefined ? (to === 'COMPLETED' ? null : undefined) : patch.errorCode;
    const r = (
      await q.query(
        `UPDATE connect_orders SET sub_status = $3, main_status = $4, updated_at = $5,
         error_code = CASE WHEN $6::boolean THEN $7 ELSE error_code END, error_reason = CASE WHEN $6::boolean THEN $8
         ELSE error_reason END,
         execute_price = COALESCE($9::numeric, execute_price), obtain_amount = COALESCE($10::numeric, obtain_amount),
         withdraw_tx_hash = COALESCE($11, withdraw_tx_hash)
       WHERE order_id = $1 AND sub_status = $2 RETURNING *`,
        [
          orderId,
          from,
          to,
          MAIN_OF[to],
          clock.now(),
          errorCode !== undefined,
          errorCode ?? null,
          errorCode ? (ERROR_REASONS[errorCode] ?? ERROR_REASONS.SYSTEM_ERROR) : null,
          patch.executePrice ?? null,
          patch.obtainAmount ?? null,
          patch.withdrawTxHash ?? null,
        ],
      )
    ).rows[0];
    if (!r) return null;
    const order = toOrder(r);
    const partner = await partners.get(order.partnerCode, q);
    if (order.generation === 2) return (await publishGen2(q, order, gen2StatusOf(order))) ?? order;
    await enqueueOrderEvent(outbox, q, order, partner?.webhookUrl ?? null);
    return order;
  }

  /** Generation 2's link to the hosted status page of an order (§8 orderDetailLink). */
  function orderDetailLink(o: ConnectOrder): string {
    const token = o.linkTokenSealed ? deps.box.open(o.linkTokenSealed) : '';
    return `${deps.publicUrl}/en/connect/order?token=${token}`;
  }

  /**
   * Moves a gen-2 order's published status to `target` when that is a move forward (§5.3), in the caller's
   * transaction, queueing one webhook per status passed. Returns the updated order, or null when nothing moved.
   */
  async function publishGen2(q: Queryable, o: ConnectOrder, target: number): Promise<ConnectOrder | null> {
    const path = gen2Path(o.gen2Status ?? 0, target, isSendOrder(o));
    if (path.length === 0) return null;
    const r = (
      await q.query(
        `UPDATE connect_orders SET gen2_status = $3, completed_at = CASE WHEN $4::boolean THEN $5 ELSE completed_at END
          WHERE order_id = $1 AND gen2_status = $2 RETURNING *`,
        [o.orderId, o.gen2Status ?? 0, target, isFinalStatus(target), o.updatedAt],
      )
    ).rows[0];
    if (!r) throw new DomainError('ORDER_STATE_CHANGED', 'the order changed concurrently');
    const order = toOrder(r);
    const partner = await partners.get(order.partnerCode, q);
    await enqueueGen2Events(outbox, q, order, path, {
      webhookUrl: partner?.webhookUrl ?? null,
      clientId: partner?.clientId ?? '',
      orderDetailLink: orderDetailLink(order),
    });
    return order;
  }

  /**
   * The chain accepted the order's withdrawal: a gen-2 order shows WITHDRAW_PROCESSING (11) from here (§12.3); a
   * gen-1 order has no such step. Idempotent (a second call finds the status already moved).
   */
  async function withdrawalQueued(q: Queryable, orderId: string): Promise<void> {
    const o = await read(q, orderId, { lock: true });
    if (o?.generation !== 2 || o.subStatus !== 'WITHDRAW_PROCESSING') return;
    const now = clock.now();
    const touched = toOrder(
      (await q.query(`UPDATE connect_orders SET updated_at = $2 WHERE order_id = $1 RETURNING *`, [orderId, now]))
        .rows[0],
    );
    await publishGen2(q, touched, STATUS.WITHDRAW_PROCESSING);
  }

  /** A send-primary order whose send was refused becomes a purchase (type 1) before its first status change. */
  async function sendFellBack(q: Queryable, orderId: string): Promise<void> {
    await q.query(
      `UPDATE connect_orders SET gen2 = gen2 || '{"sendFellBack":true}'::jsonb WHERE order_id = $1 AND gen2_status = 0`,
      [orderId],
    );
  }

  /**
   * The buy-flow user who opened the order's link (§8 openUserId): a hash of the user id, stable per partner, that
   * tells the partner nothing else. Set once.
   */
  async function identify(q: Queryable, orderId: string, userId: string): Promise<void> {
    const o = await read(q, orderId);
    if (!o || o.openUserId !== null) return;
    const partner = await partners.get(o.partnerCode, q);
    const openUserId = createHmac('sha256', `${deps.openIdKey}:${partner?.clientId ?? o.partnerCode}`)
      .update(userId)
      .digest('hex')
      .slice(0, 32);
    await q.query(`UPDATE connect_orders SET open_user_id = $2 WHERE order_id = $1 AND open_user_id IS NULL`, [
      orderId,
      openUserId,
    ]);
  }

  /** Unconfirmed orders past expiredTime fail with ORDER_EXPIRED (§5.1). Returns how many expired. */
  async function expireDue(limit = 100): Promise<number> {
    const due = (
      await db.query(
        `SELECT order_id, sub_status, api_generation, error_code FROM connect_orders WHERE main_status = 'INIT'
          AND expired_time <= $1 ORDER BY expired_time LIMIT $2`,
        [clock.now(), limit],
      )
    ).rows;
    let n = 0;
    for (const d of due) {
      // Generation 2: an order that expires after a failed payment attempt failed its purchase (97, v2 §5.3).
      const errorCode =
        Number(d.api_generation) === 2 && ON_RAMP_ERRORS.has(d.error_code) ? d.error_code : 'ORDER_EXPIRED';
      const moved = await db.tx((q) => transition(q, d.order_id, d.sub_status, 'FAILED', { errorCode }));
      if (moved) n++;
    }
    return n;
  }

  async function list(
    partnerCode: string,
    opts: { limit?: number; status?: string; search?: string } = {},
  ): Promise<ConnectOrder[]> {
    const rows = (
      await db.query(
        `SELECT * FROM connect_orders WHERE partner_code = $1 AND ($2::text IS NULL OR main_status = $2)
         AND ($3::text IS NULL OR merchant_order_id = $3 OR order_id = $3) ORDER BY created_at DESC, order_id LIMIT $4`,
        [partnerCode, opts.status ?? null, opts.search ?? null, Math.min(opts.limit ?? 100, 500)],
      )
    ).rows;
    return rows.map(toOrder);
  }

  /**
   * The operator's order search (console, every partner): orders whose orderId, merchantOrderId (externalOrderId),
   * merchantUserId or withdrawal transaction hash is `term`, newest first.
   */
  async function search(term: string, limit = 50): Promise<ConnectOrder[]> {
    const rows = (
      await db.query(
        `SELECT * FROM connect_orders WHERE order_id = $1 OR merchant_order_id = $1 OR merchant_user_id = $1
          OR lower(withdraw_tx_hash) = lower($1) ORDER BY created_at DESC, order_id LIMIT $2`,
        [term, Math.min(limit, 200)],
      )
    ).rows;
    return rows.map(toOrder);
  }

  /** For the hosted buy flow: the order a link token points at. */
  async function findByToken(token: string): Promise<ConnectOrder | null> {
    if (!/^[0-9a-f]{40}$/.test(token)) return null;
    const r = (await db.query(`SELECT * FROM connect_orders WHERE token_hash = $1`, [sha256Hex(token)])).rows[0];
    return r ? toOrder(r) : null;
  }

  return {
    create,
    get,
    read,
    transition,
    expireDue,
    list,
    search,
    findByToken,
    orderDetailLink,
    publishGen2,
    withdrawalQueued,
    sendFellBack,
    identify,
    ipCheck,
    paymentMethodOk,
    restrictedCountryOf,
  };
}
export type ConnectOrders = ReturnType<typeof createConnectOrders>;
