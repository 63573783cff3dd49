import { createHash } from 'node:crypto';
import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomString } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { platformAccount, type AccountRef, type Ledger } from '../../platform/ledger/service.ts';
import { Decimal, decimalPlaces, fixed } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import { FIAT_MINOR_UNITS, type PriceSource } from '../../prices/service.ts';
import { stringify } from '../../platform/json.ts';
import { createBatcher } from '../../platform/batch.ts';
import { RECORD_FRESH_NONCES, type NonceClaim } from '../auth.ts';
import type { SubMerchantOrderDirectory } from '../submerchants/service.ts';
import { createOrderTransitions, toOrder, type Order, type OrderLifeHooks } from './state.ts';

/** Assets a Pay order can be denominated in or paid with. */
export const PAY_CURRENCIES = ['USDT', 'USDC', 'BUSD', 'BNB', 'BTC', 'ETH'];

/** A PENDING order gets this long past expireTime before it is declared ERROR (spec §4.4). */
const PENDING_GRACE_MS = 10 * 60_000;

export type { Order, OrderStatus, OrderLifeHooks } from './state.ts';

/**
 * Another Pay area's part in an order (binance-pay-extended.md §14.9 `directDebitContract`, §17.3 `qrCodeReferId`):
 * it may refuse the order before it exists, record what the order links to once it does, refuse a payer, and follow
 * the order's end (OrderLifeHooks). `applies` is checked first, so an order without the area's field costs nothing.
 */
export interface OrderHooks extends OrderLifeHooks {
  applies(input: NewOrder): boolean;
  /** Before the insert: a refusal with the family's code and message (nothing is stored), or ok. */
  beforeCreate?(merchantId: string, input: NewOrder): Promise<Result<void, OrderError>>;
  /** After the insert (its own statement): what the order links to. */
  afterCreate?(order: Order, input: NewOrder): Promise<void>;
  /** In the payment's transaction: may `payerId` pay this order? A refusal rolls the payment back. */
  payableBy?(q: Queryable, order: Order, payerId: string): Promise<boolean>;
  /**
   * Must the order be paid by a known payer (so not from another wallet, a transfer that names nobody)? A QR code's
   * order is the scanning user's alone (§17.3).
   */
  payerRequired?(q: Queryable, order: Order): Promise<boolean>;
}
export { wirePaymentInfo } from './state.ts';

export interface NewOrder {
  apiVersion: 'v1' | 'v2' | 'v3';
  merchantTradeNo: string;
  terminalType: string;
  currency?: string | null;
  orderAmount?: string | null;
  fiatCurrency?: string | null;
  fiatAmount?: string | null;
  description?: string | null;
  goods: unknown[];
  productType: string;
  productName: string;
  productDetail?: string | null;
  supportPayCurrency?: string | null;
  returnUrl?: string | null;
  cancelUrl?: string | null;
  webhookUrl?: string | null;
  passThroughInfo?: string | null;
  universalUrlAttach?: string | null;
  orderExpireTime?: string | null;
  subMerchantId?: string | null;
  extra?: Record<string, unknown>;
}

/** Who is calling: the merchant the order belongs to, and who created it (a TSP acting for the merchant). */
export interface Actor {
  merchantId: string;
  creatorMerchantId: string;
}

interface OrderRef {
  prepayId?: string | null;
  merchantTradeNo?: string | null;
  /** V1 query and close (binance-pay-extended.md §12.4): the partner's sub-merchant the order must be tagged with. */
  subMerchantId?: string | null;
}

export type OrderError =
  | 'FIELD_MISSING'
  | 'FIELD_FORMAT'
  | 'FIELD_VALUE'
  | 'DUPLICATE_TRADE_NO'
  | 'SUB_MERCHANT_INVALID'
  | 'ORDER_NOT_FOUND'
  | 'INVALID_ORDER_STATUS'
  | 'ORDER_EXPIRED'
  | 'INSUFFICIENT_FUNDS'
  | 'CURRENCY_NOT_SUPPORTED'
  | 'NONCE_USED'
  // An order field whose product is not enabled for the merchant (binance-pay-extended.md §9.1: directDebitContract).
  | 'FEATURE_DISABLED';

/**
 * A payment's own refusal beyond the order's: the sub-merchant blocks the payer's KYC country (§12.5). Payment is not a
 * signed API call (the checkout page and the sandbox pay it), so this error has no Pay wire code.
 */
type PaymentError = OrderError | 'PAYER_COUNTRY_BLOCKED';
export const COUNTRY_BLOCKED_MESSAGE = 'This merchant does not accept payments from your country';

/**
 * pay_orders columns written at creation, with their types (the casts let the nonce-guarded INSERT … SELECT type its
 * parameters).
 */
const ORDER_COLUMNS: [string, string][] = [
  ['prepay_id', 'bigint'],
  ['merchant_id', 'bigint'],
  ['creator_merchant_id', 'bigint'],
  ['merchant_trade_no', 'text'],
  ['api_version', 'text'],
  ['status', 'text'],
  ['terminal_type', 'text'],
  ['currency', 'text'],
  ['order_amount', 'numeric'],
  ['fiat_currency', 'text'],
  ['fiat_amount', 'numeric'],
  ['price_currency_usd', 'numeric'],
  ['price_fiat_usd', 'numeric'],
  ['description', 'text'],
  ['goods', 'jsonb'],
  ['product_type', 'text'],
  ['product_name', 'text'],
  ['product_detail', 'text'],
  ['support_pay_currency', 'text'],
  ['return_url', 'text'],
  ['cancel_url', 'text'],
  ['webhook_url', 'text'],
  ['pass_through_info', 'text'],
  ['universal_url_attach', 'text'],
  ['extra', 'jsonb'],
  ['checkout_token', 'text'],
  ['create_time', 'bigint'],
  ['expire_time', 'bigint'],
  ['sub_merchant_id', 'bigint'],
];
const ORDER_COLUMN_LIST = ORDER_COLUMNS.map(([c]) => c).join(', ');
/** One pending order insert; `nonce` is the request nonce recorded in the same statement (see NonceClaim), if any. */
type OrderInsert = { row: Record<string, unknown>; nonce: NonceClaim | null };
type InsertOutcome = 'INSERTED' | 'NONCE_USED' | 'DUPLICATE_TRADE_NO';
/**
 * Inserts a batch of orders and records their request nonces in one statement. The rows arrive as one JSON array
 * (goods and extra nested as JSON); a row with a nonce is inserted only if its nonce was fresh, and a merchantTradeNo
 * already taken, in the table or earlier in the batch, is skipped. One outcome row per input row, by prepay_id.
 * The nonce insert is the request authentication's (RECORD_FRESH_NONCES, pay/auth.ts), lent for this statement.
 */
const INSERT_ORDERS = `WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(${ORDER_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')},
    api_key text, nonce text, seen_at bigint)
  ), fresh_nonce AS (
    ${RECORD_FRESH_NONCES}
  ), new_order AS (
    INSERT INTO pay_orders (${ORDER_COLUMN_LIST})
    SELECT ${ORDER_COLUMN_LIST} FROM input i
    WHERE i.nonce IS NULL OR EXISTS (SELECT 1 FROM fresh_nonce f WHERE f.api_key = i.api_key AND f.nonce = i.nonce)
    ON CONFLICT (merchant_id, merchant_trade_no) DO NOTHING RETURNING prepay_id
  )
  SELECT i.prepay_id::text AS prepay_id,
    CASE WHEN o.prepay_id IS NOT NULL THEN 'INSERTED'
      WHEN i.nonce IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fresh_nonce f WHERE f.api_key = i.api_key
      AND f.nonce = i.nonce) THEN 'NONCE_USED'
      ELSE 'DUPLICATE_TRADE_NO' END AS outcome
  FROM input i LEFT JOIN new_order o ON o.prepay_id = i.prepay_id`;

/**
 * Query order's read with its request nonce recorded in the same statement (see findRowRecordingNonce): one row always,
 * nonce_fresh plus the order's columns, null when there is no such order. $1 is the prepayId or the merchantTradeNo.
 * By prepayId the merchant is checked as `(…) IS TRUE` (merchant_id is NOT NULL, so the same test) so that it cannot
 * serve as an index condition: PGlite's generic plan, built without statistics, otherwise walked all of the
 * merchant's orders through pay_orders_merchant_time and filtered them by prepay_id instead of one primary-key probe.
 */
const findWithNonce = (match: string) => `WITH input AS (
    SELECT $4::text AS api_key, $5::text AS nonce, $6::bigint AS seen_at
  ), fresh_nonce AS (
    ${RECORD_FRESH_NONCES}
  )
  SELECT EXISTS (SELECT 1 FROM fresh_nonce) AS nonce_fresh, o.*
  FROM (SELECT 1) AS one LEFT JOIN pay_orders o
    ON ${match} AND ($3::bigint IS NULL OR o.sub_merchant_id = $3)`;
const FIND_BY_PREPAY_ID_WITH_NONCE = findWithNonce('o.prepay_id = $1::bigint AND (o.merchant_id = $2) IS TRUE');
const FIND_BY_TRADE_NO_WITH_NONCE = findWithNonce('o.merchant_id = $2 AND o.merchant_trade_no = $1::text');

/**
 * Orders per insert statement at most, and how many such statements may run at once (PGlite runs one at a time
 * anyway).
 */
const ORDER_BATCH = { maxBatch: 64, maxInFlight: 2 };

export function createOrderService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  outbox: Outbox;
  prices: PriceSource;
  accounts: AccountsService;
  config: { commissionRate: string; defaultExpireMs: number; maxExpireMs: number };
  openIdSalt: string;
  /** Sub-merchants (binance-pay-extended.md §12.4, §12.5): the tag of a partner's order, and its checkout face. */
  subMerchants: SubMerchantOrderDirectory;
  /** Other Pay areas' parts in an order (direct debit, merchant QR codes). */
  hooks?: OrderHooks[];
}) {
  const { db, clock, ids, ledger, outbox, prices, accounts, config } = deps;

  /** Runs INSERT_ORDERS for a batch; a nonce twice in one batch is a replay of a request still in flight. */
  async function insertOrders(batch: OrderInsert[]): Promise<(InsertOutcome | Error)[]> {
    const seen = new Set<string>();
    const replayed = batch.map(({ nonce }) => {
      if (!nonce) return false;
      const key = `${nonce.apiKey}\n${nonce.nonce}`;
      if (seen.has(key)) return true;
      seen.add(key);
      return false;
    });
    const rows = batch
      .filter((_, i) => !replayed[i])
      .map(({ row, nonce }) =>
        nonce ? { ...row, api_key: nonce.apiKey, nonce: nonce.nonce, seen_at: nonce.seenAt } : row,
      );
    let result;
    try {
      result = await db.query<{ prepay_id: string; outcome: InsertOutcome }>(INSERT_ORDERS, [stringify(rows)]);
    } catch (e) {
      // One bad row must not fail the others' requests: alone, each gets its own outcome or error.
      if (batch.length === 1) return [e instanceof Error ? e : new Error(String(e))];
      return (await Promise.all(batch.map((item) => insertOrders([item])))).flat();
    }
    const outcomes = new Map(result.rows.map((r) => [r.prepay_id, r.outcome]));
    return batch.map(({ row }, i) => (replayed[i] ? 'NONCE_USED' : outcomes.get(String(row.prepay_id))!));
  }
  const insertOrder = createBatcher(insertOrders, ORDER_BATCH);

  const openUserId = (payerId: string, merchantId: string) =>
    createHash('sha256').update(`${deps.openIdSalt}:${payerId}:${merchantId}`).digest('hex').slice(0, 32);

  const hooks = deps.hooks ?? [];
  const { transition } = createOrderTransitions({ outbox, accounts, hooks });

  /** The order by either reference; with a sub-merchant (V1), only an order tagged with it. */
  async function findRow(q: Queryable, merchantId: string, ref: OrderRef) {
    const tag = ref.subMerchantId ?? null;
    if (ref.prepayId)
      return (
        await q.query(
          `SELECT * FROM pay_orders WHERE prepay_id = $1 AND merchant_id = $2 AND ($3::bigint IS NULL
            OR sub_merchant_id = $3)`,
          [ref.prepayId, merchantId, tag],
        )
      ).rows[0];
    return (
      await q.query(
        `SELECT * FROM pay_orders WHERE merchant_id = $1 AND merchant_trade_no = $2 AND ($3::bigint IS NULL
          OR sub_merchant_id = $3)`,
        [merchantId, ref.merchantTradeNo, tag],
      )
    ).rows[0];
  }

  /**
   * findRow and the request nonce's insert in one statement (query order: one round trip instead of two). The nonce
   * insert is the request authentication's (RECORD_FRESH_NONCES), lent as for create order; the single answer row says
   * whether the nonce was fresh, and carries the order's columns when it exists (all null otherwise).
   */
  async function findRowRecordingNonce(merchantId: string, ref: OrderRef, nonce: NonceClaim) {
    const r = (
      await db.query(ref.prepayId ? FIND_BY_PREPAY_ID_WITH_NONCE : FIND_BY_TRADE_NO_WITH_NONCE, [
        ref.prepayId ? ref.prepayId : ref.merchantTradeNo,
        merchantId,
        ref.subMerchantId ?? null,
        nonce.apiKey,
        nonce.nonce,
        nonce.seenAt,
      ])
    ).rows[0]!; // the statement answers exactly one row
    nonce.consumed = true;
    const { nonce_fresh: fresh, ...row } = r;
    return { fresh: fresh === true, row: row.prepay_id === null ? undefined : row };
  }

  /** A sub-merchant named on a query or close must be the caller's own ACTIVE one (§12.4), else 400206. */
  async function refUsable(merchantId: string, ref: OrderRef): Promise<boolean> {
    return ref.subMerchantId == null || deps.subMerchants.usable(merchantId, ref.subMerchantId);
  }

  /**
   * Whether the order's sub-merchant blocks this payer (§12.5 blockPayerKycCountries). Decision: payers have an
   * optional KYC country (payers.country, set by the sandbox); a payer without one is not blocked, since nothing
   * says where they are and the sandbox's payers predate the field.
   */
  /** A suspended merchant's open orders cannot be paid (its money is frozen with it). */
  async function merchantAccepts(q: Queryable, order: Order): Promise<boolean> {
    return (await accounts.getMerchant(order.merchantId, q))?.status === 'ACTIVE';
  }

  async function payerBlocked(q: Queryable, o: Pick<Order, 'merchantId' | 'subMerchantId'>, payerId: string) {
    if (!o.subMerchantId) return false;
    const face = await deps.subMerchants.face(q, o.merchantId, o.subMerchantId);
    if (!face || face.blockPayerKycCountries.length === 0) return false;
    const country = await accounts.payerCountry(payerId, q);
    return country !== null && face.blockPayerKycCountries.includes(country);
  }

  /**
   * What the order costs in `currency` at the current price: `price` is one `currency` in the order's currency,
   * `paid` the order's amount in `currency` rounded up to `decimals`. Null without a price.
   */
  function quote(order: Order, currency: string, decimals = 8): { price: string; paid: string } | null {
    if (currency === order.currency)
      return { price: '1', paid: new Decimal(order.orderAmount).toFixed(decimals, Decimal.ROUND_UP) };
    const pOrder = prices.cryptoUsd(order.currency);
    const pPay = prices.cryptoUsd(currency);
    if (!pOrder || !pPay) return null;
    const price = new Decimal(pPay).div(pOrder).toSignificantDigits(12).toFixed();
    return { price, paid: new Decimal(order.orderAmount).div(price).toFixed(decimals, Decimal.ROUND_UP) };
  }

  /**
   * The money and status of a payment, inside the caller's transaction on an order it has just claimed (PENDING):
   * `paid` of `from`'s asset (converted at `price`, the paid asset in the order's currency, through the platform's
   * conversion account when it is not the order's currency) goes to the merchant net of commission and to the
   * platform's revenue, then PENDING→PAID with its PAY_SUCCESS webhook. The balance payment and the on-chain payment
   * (src/pay/onchain) both pay through here.
   */
  async function settle(
    q: Queryable,
    order: Order,
    p: {
      from: AccountRef;
      paid: string;
      price: string;
      payerId: string | null;
      payMethod: string;
      /** Where the money came from on chain (on-chain payments): named in paymentInfo. */
      onchain?: { network: string; transactions: string[] };
    },
  ): Promise<Order | null> {
    const prepayId = order.prepayId;
    const currency = p.from.asset;
    const commission = new Decimal(order.orderAmount).mul(config.commissionRate).toFixed(8, Decimal.ROUND_DOWN);
    const net = new Decimal(order.orderAmount).minus(commission).toFixed(8);
    let source: AccountRef = p.from;
    if (currency !== order.currency) {
      await ledger.transfer(q, {
        id: `pay:${prepayId}:convert-in`,
        debit: p.from,
        credit: platformAccount('conversion', currency),
        amount: p.paid,
        kind: 'pay.conversion',
        ref: prepayId,
      });
      source = platformAccount('conversion', order.currency);
    }
    await ledger.transfer(q, {
      id: `pay:${prepayId}:merchant`,
      debit: source,
      credit: { ownerType: 'merchant', ownerId: order.merchantId, asset: order.currency },
      amount: net,
      kind: 'pay.payment',
      ref: prepayId,
    });
    if (new Decimal(commission).gt(0)) {
      await ledger.transfer(q, {
        id: `pay:${prepayId}:commission`,
        debit: source,
        credit: platformAccount('revenue', order.currency),
        amount: commission,
        kind: 'pay.commission',
        ref: prepayId,
      });
    }
    const paymentInfo = {
      ...(p.payerId === null ? {} : { payerId: p.payerId }),
      payMethod: p.payMethod,
      paymentInstructions: [{ currency, amount: fixed(p.paid, 8), price: p.price }],
      ...(p.onchain ? { network: p.onchain.network, transactions: p.onchain.transactions } : {}),
    };
    return transition(q, {
      prepayId,
      to: 'PAID',
      set: {
        transact_time: clock.now(),
        transaction_id: `M_P_${prepayId}`,
        payer_id: p.payerId,
        open_user_id: p.payerId === null ? null : openUserId(p.payerId, order.merchantId),
        commission,
        payment_info: JSON.stringify(paymentInfo),
      },
    });
  }

  const service = {
    quote,
    merchantAccepts,

    async create(actor: Actor, input: NewOrder, nonce?: NonceClaim | null): Promise<Result<Order, OrderError>> {
      // §12.4: a channel partner tags every order with one of its ACTIVE sub-merchants; others may not send one.
      const tag = await deps.subMerchants.orderTag(
        actor.merchantId,
        input.subMerchantId,
        input.apiVersion === 'v1' ? 'subMerchantId' : 'merchant.subMerchantId',
      );
      if (!tag.ok) return tag;
      const concerned = hooks.filter((h) => h.applies(input));
      for (const h of concerned) {
        const refused = await h.beforeCreate?.(actor.merchantId, input);
        if (refused && !refused.ok) return refused;
      }
      const now = clock.now();
      let currency: string;
      let orderAmount: string;
      let priceCurrencyUsd: string | null = null;
      let priceFiatUsd: string | null = null;
      if (input.orderAmount != null) {
        currency = input.currency!;
        if (!PAY_CURRENCIES.includes(currency)) return err('FIELD_VALUE', `currency: ${currency} is not supported`);
        orderAmount = input.orderAmount;
      } else {
        // Fiat-denominated: priced into the crypto currency (USDT unless given) at the current rate, kept as used.
        const fiat = input.fiatCurrency!;
        const minor = FIAT_MINOR_UNITS[fiat];
        if (minor === undefined) return err('FIELD_VALUE', `fiatCurrency: ${fiat} is not supported`);
        if (decimalPlaces(input.fiatAmount!) > minor)
          return err('FIELD_FORMAT', `fiatAmount: must have at most ${minor} decimal places for ${fiat}`);
        currency = input.currency ?? 'USDT';
        if (!PAY_CURRENCIES.includes(currency)) return err('FIELD_VALUE', `currency: ${currency} is not supported`);
        priceCurrencyUsd = prices.cryptoUsd(currency);
        priceFiatUsd = prices.fiatUsd(fiat);
        if (!priceCurrencyUsd || !priceFiatUsd) return err('FIELD_VALUE', `currency: no price for ${currency}/${fiat}`);
        orderAmount = new Decimal(input.fiatAmount!)
          .mul(priceFiatUsd)
          .div(priceCurrencyUsd)
          .toFixed(8, Decimal.ROUND_UP);
      }
      if (input.fiatCurrency && FIAT_MINOR_UNITS[input.fiatCurrency] === undefined)
        return err('FIELD_VALUE', `fiatCurrency: ${input.fiatCurrency} is not supported`);
      const support = input.supportPayCurrency ? [...new Set(input.supportPayCurrency.split(','))] : [];
      for (const c of support)
        if (!PAY_CURRENCIES.includes(c)) return err('FIELD_VALUE', `supportPayCurrency: ${c} is not supported`);
      let expireTime = now + config.defaultExpireMs;
      if (input.orderExpireTime != null) {
        const t = Number(input.orderExpireTime);
        if (!(t > now && t <= now + config.maxExpireMs))
          return err('FIELD_VALUE', 'orderExpireTime: must be in the future and at most 15 days ahead');
        expireTime = t;
      }
      // The row as inserted: the order is built from it instead of RETURNING *, whose ~35-column row costs
      // a measurable share of create-order's time (see docs/benchmarks.md).
      const row = {
        prepay_id: ids.next(),
        merchant_id: actor.merchantId,
        creator_merchant_id: actor.creatorMerchantId,
        merchant_trade_no: input.merchantTradeNo,
        api_version: input.apiVersion,
        status: 'INITIAL',
        terminal_type: input.terminalType,
        currency,
        order_amount: orderAmount,
        fiat_currency: input.fiatCurrency ?? null,
        fiat_amount: input.fiatAmount ?? null,
        price_currency_usd: priceCurrencyUsd,
        price_fiat_usd: priceFiatUsd,
        description: input.description ?? null,
        goods: input.goods,
        product_type: input.productType,
        product_name: input.productName,
        product_detail: input.productDetail ?? null,
        support_pay_currency: support.join(',') || null,
        return_url: input.returnUrl ?? null,
        cancel_url: input.cancelUrl ?? null,
        webhook_url: input.webhookUrl ?? null,
        pass_through_info: input.passThroughInfo ?? null,
        universal_url_attach: input.universalUrlAttach ?? null,
        extra: input.extra ?? {},
        checkout_token: randomString(16),
        create_time: now,
        expire_time: expireTime,
        sub_merchant_id: tag.value,
        transact_time: null,
        transaction_id: null,
        payer_id: null,
        open_user_id: null,
        commission: null,
        payment_info: null,
        closed_time: null,
      };
      // The request nonce, if any, is recorded by the same statement (see NonceClaim).
      if (nonce) nonce.consumed = true;
      const outcome = await insertOrder({ row, nonce: nonce ?? null });
      if (outcome instanceof Error) throw outcome;
      if (outcome === 'NONCE_USED') return err('NONCE_USED', 'Nonce has been used.');
      if (outcome === 'DUPLICATE_TRADE_NO') return err('DUPLICATE_TRADE_NO', 'merchantTradeNo: is duplicated');
      const order = toOrder(row);
      for (const h of concerned) await h.afterCreate?.(order, input);
      return ok(order);
    },

    /**
     * Query order. With the request's deferred nonce (see NonceClaim), the nonce is recorded by the same statement that
     * reads the order: a replay answers NONCE_USED whether or not the order exists, and a fresh nonce is recorded
     * either way.
     */
    async get(merchantId: string, ref: OrderRef, nonce?: NonceClaim | null): Promise<Result<Order, OrderError>> {
      if (!(await refUsable(merchantId, ref))) return err('SUB_MERCHANT_INVALID');
      if (nonce) {
        const found = await findRowRecordingNonce(merchantId, ref, nonce);
        if (!found.fresh) return err('NONCE_USED', 'Nonce has been used.');
        return found.row ? ok(toOrder(found.row)) : err('ORDER_NOT_FOUND');
      }
      const row = await findRow(db, merchantId, ref);
      return row ? ok(toOrder(row)) : err('ORDER_NOT_FOUND');
    },

    /** The sub-merchant an order shows on the checkout instead of the partner (§12.5), if it is tagged. */
    async checkoutFace(o: Order) {
      return o.subMerchantId ? deps.subMerchants.face(db, o.merchantId, o.subMerchantId) : null;
    },

    /** Whether this payer may not pay this order (its sub-merchant blocks the payer's country, §12.5). */
    payerBlocked: (o: Order, payerId: string) => payerBlocked(db, o, payerId),

    /** Whether the order may be paid from another wallet: no area requires a known payer for it. */
    async onchainAllowed(o: Order, q: Queryable = db): Promise<boolean> {
      for (const h of hooks) if (h.payerRequired && (await h.payerRequired(q, o))) return false;
      return true;
    },

    async getByPrepayId(prepayId: string): Promise<Order | null> {
      if (!/^\d{1,19}$/.test(prepayId)) return null;
      const row = (await db.query(`SELECT * FROM pay_orders WHERE prepay_id = $1`, [prepayId])).rows[0];
      return row ? toOrder(row) : null;
    },

    async getByCheckoutToken(token: string): Promise<Order | null> {
      if (!/^[a-z0-9]{16}$/.test(token)) return null;
      const row = (await db.query(`SELECT * FROM pay_orders WHERE checkout_token = $1`, [token])).rows[0];
      return row ? toOrder(row) : null;
    },

    /** Close (spec §4.4): only INITIAL orders; CANCELED again is accepted without a second webhook. */
    async close(merchantId: string, ref: OrderRef): Promise<Result<true, OrderError>> {
      if (!(await refUsable(merchantId, ref))) return err('SUB_MERCHANT_INVALID');
      return db.tx(async (q) => {
        const row = await findRow(q, merchantId, ref);
        if (!row) return err('ORDER_NOT_FOUND');
        if (await transition(q, { prepayId: String(row.prepay_id), to: 'CANCELED', set: { closed_time: clock.now() } }))
          return ok(true as const);
        const current = (await q.query(`SELECT status FROM pay_orders WHERE prepay_id = $1`, [row.prepay_id])).rows[0];
        return current.status === 'CANCELED' ? ok(true as const) : err('INVALID_ORDER_STATUS');
      });
    },

    /**
     * The payer pays from their wallet. One transaction: the conditional INITIAL→PENDING claim (so of
     * many simultaneous attempts exactly one proceeds), the ledger transfers, PENDING→PAID and the webhook.
     * Any failure rolls all of it back and the order stays INITIAL.
     */
    async pay(prepayId: string, payerId: string, payCurrency?: string | null): Promise<Result<Order, PaymentError>> {
      try {
        return await db.tx(async (q) => {
          const now = clock.now();
          const order = await transition(q, { prepayId, to: 'PENDING', unexpiredAt: now });
          if (!order) {
            const row = (await q.query(`SELECT status, expire_time FROM pay_orders WHERE prepay_id = $1`, [prepayId]))
              .rows[0];
            if (!row) return err('ORDER_NOT_FOUND');
            if (row.status === 'INITIAL') return err('ORDER_EXPIRED', 'This order has expired.');
            return err('INVALID_ORDER_STATUS', `This order is ${String(row.status).toLowerCase()}.`);
          }
          // Thrown after the claim: rolled back, the order stays INITIAL (it can still expire or be closed).
          if (!(await merchantAccepts(q, order)))
            throw new DomainError('INVALID_ORDER_STATUS', 'This merchant is not accepting payments.');
          if (await payerBlocked(q, order, payerId))
            throw new DomainError('PAYER_COUNTRY_BLOCKED', COUNTRY_BLOCKED_MESSAGE);
          for (const h of hooks)
            if (h.payableBy && !(await h.payableBy(q, order, payerId)))
              throw new DomainError('INVALID_ORDER_STATUS', 'This order is reserved for another payer.');
          const currency = payCurrency || order.supportPayCurrency[0] || order.currency;
          if (
            order.supportPayCurrency.length > 0
              ? !order.supportPayCurrency.includes(currency)
              : currency !== order.currency
          ) {
            throw new DomainError('CURRENCY_NOT_SUPPORTED', `${currency} is not accepted for this order.`);
          }
          const payer = { ownerType: 'payer' as const, ownerId: payerId, asset: currency };
          // Paying in another asset converts through the platform's conversion account at the current price.
          const priced = quote(order, currency);
          if (!priced) throw new DomainError('CURRENCY_NOT_SUPPORTED', `no price for ${currency}`);
          const paidOrder = await settle(q, order, { from: payer, ...priced, payerId, payMethod: 'FUNDING' });
          if (!paidOrder) throw new Error(`order ${prepayId} left PENDING inside its payment`);
          return ok(paidOrder);
        });
      } catch (e) {
        if (e instanceof DomainError)
          return err(e.code as PaymentError, e.code === 'INSUFFICIENT_FUNDS' ? 'Insufficient balance.' : e.message);
        throw e;
      }
    },

    /**
     * A payment that cannot be made (a direct debit whose payer is short, binance-pay-extended.md §14.7): INITIAL →
     * PENDING → ERROR in one transaction, with its PAY_CLOSED. Null when the order was no longer INITIAL.
     */
    async fail(prepayId: string): Promise<Order | null> {
      return db.tx(async (q) => {
        if (!(await transition(q, { prepayId, to: 'PENDING' }))) return null;
        return transition(q, { prepayId, to: 'ERROR', set: { closed_time: clock.now() } });
      });
    },

    /**
     * An on-chain payment (src/pay/onchain) inside the caller's transaction: claims the order (INITIAL, unexpired
     * → PENDING) and pays it from `from` (the order's escrow account) exactly as a balance payment is paid, at the
     * price quoted when the payer chose the asset. Null when the order is no longer payable (paid, closed, expired);
     * then nothing changed.
     */
    async payFromEscrow(
      q: Queryable,
      prepayId: string,
      p: {
        from: AccountRef;
        paid: string;
        price: string;
        payerId: string | null;
        network: string;
        transactions: string[];
      },
    ): Promise<Order | null> {
      // Held already (a transfer was seen before expiry), or claimed now while unexpired.
      const held = await q.query(`SELECT * FROM pay_orders WHERE prepay_id = $1 AND status = 'PENDING'`, [prepayId]);
      const order = held.rows[0]
        ? toOrder(held.rows[0])
        : await transition(q, { prepayId, to: 'PENDING', unexpiredAt: clock.now() });
      if (!order) return null;
      // A suspended merchant receives nothing: the transfer stays in escrow as a credit given back (src/pay/onchain).
      if (!(await merchantAccepts(q, order))) throw new DomainError('INVALID_ORDER_STATUS', 'merchant suspended');
      const paidOrder = await settle(q, order, {
        from: p.from,
        paid: p.paid,
        price: p.price,
        payerId: p.payerId,
        payMethod: 'ONCHAIN',
        onchain: { network: p.network, transactions: p.transactions },
      });
      if (!paidOrder) throw new Error(`order ${prepayId} left PENDING inside its payment`);
      return paidOrder;
    },

    /**
     * An on-chain transfer covering the order was seen before it expired (in a block, not yet confirmed): the order
     * turns PENDING, so it does not expire while the transfer confirms and nobody pays it a second time; payFromEscrow
     * settles it on confirmation, and the expiry's grace period (then ERROR) bounds the wait if it never confirms.
     */
    async holdForOnchain(q: Queryable, prepayId: string): Promise<Order | null> {
      return transition(q, { prepayId, to: 'PENDING', unexpiredAt: clock.now() });
    },

    /**
     * Expires INITIAL orders past expireTime, and PENDING ones past the grace period (→ ERROR); each emits PAY_CLOSED.
     */
    async expireDue(limit = 100): Promise<number> {
      return db.tx(async (q) => {
        const now = clock.now();
        const due = await q.query<{ prepay_id: bigint; status: 'INITIAL' | 'PENDING' }>(
          `SELECT prepay_id, status FROM pay_orders
           WHERE (status = 'INITIAL' AND expire_time <= $1) OR (status = 'PENDING' AND expire_time <= $2)
           ORDER BY expire_time LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [now, now - PENDING_GRACE_MS, limit],
        );
        let closed = 0;
        // The rows are locked: each move applies.
        for (const row of due.rows) {
          const to = row.status === 'INITIAL' ? 'EXPIRED' : 'ERROR';
          if (
            await transition(q, { prepayId: String(row.prepay_id), to, from: [row.status], set: { closed_time: now } })
          )
            closed++;
        }
        return closed;
      });
    },

    /**
     * The operator's order search (console, any merchant): orders whose prepayId, merchantTradeNo or transactionId is
     * `term`, that one of whose refunds (refundId or refundRequestId) names, or paid by `payerId`; newest first.
     */
    async search(term: string, opts: { payerId?: string | null; limit?: number } = {}): Promise<Order[]> {
      const numeric = /^\d{1,19}$/.test(term) && BigInt(term) < 1n << 63n ? term : null;
      const r = await db.query(
        `SELECT * FROM pay_orders WHERE merchant_trade_no = $1 OR transaction_id = $1 OR prepay_id = $2::bigint
          OR payer_id = $3::bigint
          OR prepay_id IN (SELECT prepay_id FROM pay_refunds WHERE refund_id = $2::bigint OR refund_request_id = $1)
         ORDER BY create_time DESC, prepay_id DESC LIMIT $4`,
        [term, numeric, opts.payerId ?? null, Math.min(opts.limit ?? 50, 200)],
      );
      return r.rows.map(toOrder);
    },

    async listForMerchant(
      merchantId: string,
      opts: { status?: string; from?: number; to?: number; limit?: number } = {},
    ): Promise<Order[]> {
      const r = await db.query(
        `SELECT * FROM pay_orders WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL
          OR create_time >= $3)
           AND ($4::bigint IS NULL OR create_time < $4) ORDER BY create_time DESC LIMIT $5`,
        [merchantId, opts.status ?? null, opts.from ?? null, opts.to ?? null, Math.min(opts.limit ?? 100, 500)],
      );
      return r.rows.map(toOrder);
    },
  };
  return service;
}

export type OrderService = ReturnType<typeof createOrderService>;
