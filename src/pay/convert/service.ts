import { randomBytes } from 'node:crypto';
import type { Clock } from '../../platform/clock.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { ifFundsSuffice, platformAccount, type Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { ExtendedError } from '../codes.ts';
import type { Actor } from '../orders/service.ts';
import { merchantAccount, type MerchantWallet } from '../wallets.ts';
import type { GetQuote, PairConfig } from './schemas.ts';

/**
 * Convert (binance-pay-extended.md §15): a merchant converts one asset into another inside one of its wallets at a
 * quoted rate. Pairs, limits and prices are the operator's configuration (§15.5); a sandbox that was never configured
 * uses SANDBOX_PAIRS. The rate is the mid (price source or a fixed rate) less the pair's spread, and the other side of
 * every conversion is the operator's `convert-house` book, which may go short; the merchant's wallet never does.
 *
 * A quote binds its rate for `convert.quoteValidityMs` of business time (PAY_CONVERT_QUOTE_VALIDITY_MS, default 10 s).
 * Executing it is one transaction: the quote row is locked, an existing order for it is returned as is (§9.4: a quote
 * never executes twice), an expired quote is refused (345231), else the order is stored with both ledger moves, or as
 * FAIL with nothing moved when the wallet is short.
 */
const HOUSE = 'convert-house';
const STABLE = new Set(['USDT', 'USDC', 'BUSD']);

export interface Pair {
  fromAsset: string;
  toAsset: string;
  enabled: boolean;
  fromMin: string;
  fromMax: string;
  toMin: string;
  toMax: string;
  fixedRate: string | null;
  spreadBps: number;
  base: boolean;
}

/**
 * Sandbox pairs until the operator sets its own: the stablecoins against the main coins, both ways, at the default
 * spread.
 */
const sandboxPairs = (spreadBps: number): Pair[] =>
  (
    [
      ['USDT', 'BNB', '1', '100000', '0.002', '200'],
      ['USDT', 'BTC', '1', '100000', '0.00002', '2'],
      ['USDT', 'ETH', '1', '100000', '0.0003', '40'],
      ['USDT', 'USDC', '1', '100000', '1', '100000'],
    ] as const
  ).flatMap(([from, to, fromMin, fromMax, toMin, toMax]) => [
    pairOf({ fromAsset: from, toAsset: to, fromMin, fromMax, toMin, toMax }, spreadBps),
    pairOf({ fromAsset: to, toAsset: from, fromMin: toMin, fromMax: toMax, toMin: fromMin, toMax: fromMax }, spreadBps),
  ]);

/** A pair as configured; one without its own spread takes `defaultSpreadBps` (`convert.spreadBps`). */
function pairOf(p: Omit<PairConfig, 'enabled' | 'spreadBps'> & Partial<PairConfig>, defaultSpreadBps: number): Pair {
  return {
    fromAsset: p.fromAsset,
    toAsset: p.toAsset,
    enabled: p.enabled ?? true,
    fromMin: p.fromMin,
    fromMax: p.fromMax,
    toMin: p.toMin,
    toMax: p.toMax,
    fixedRate: p.fixedRate ?? null,
    spreadBps: p.spreadBps ?? defaultSpreadBps,
    base: p.base ?? !STABLE.has(p.fromAsset),
  };
}

const toPair = (r: DbRow): Pair => ({
  fromAsset: r.from_asset,
  toAsset: r.to_asset,
  enabled: r.enabled,
  fromMin: norm(r.from_min),
  fromMax: norm(r.from_max),
  toMin: norm(r.to_min),
  toMax: norm(r.to_max),
  fixedRate: r.fixed_rate === null ? null : norm(r.fixed_rate),
  spreadBps: Number(r.spread_bps),
  base: r.base,
});

/** A decimal without trailing zeros ("0.80000000" → "0.8"), as the published samples write amounts. */
export const norm = (v: Decimal.Value) => new Decimal(v).toFixed();

export interface Quote {
  /** Absent when the wallet's available balance does not cover fromAmount (§15.2). */
  quoteId?: string;
  ratio: string;
  inverseRatio: string;
  expireTime: number;
  fromCoin: string;
  fromAmount: string;
  toCoin: string;
  toAmount: string;
}

export type ConvertStatus = 'SUCCESS' | 'FAIL';
export interface ConvertOrder {
  orderId: string;
  quoteId: string;
  wallet: MerchantWallet;
  status: ConvertStatus;
  fromAsset: string;
  fromAmount: string;
  toAsset: string;
  toAmount: string;
  ratio: string;
  inverseRatio: string;
  createTime: number;
}

const toOrder = (r: DbRow): ConvertOrder => ({
  orderId: String(r.order_id),
  quoteId: r.quote_id,
  wallet: r.wallet,
  status: r.status,
  fromAsset: r.from_asset,
  fromAmount: norm(r.from_amount),
  toAsset: r.to_asset,
  toAmount: norm(r.to_amount),
  ratio: norm(r.ratio),
  inverseRatio: norm(r.inverse_ratio),
  createTime: Number(r.created_at),
});

/**
 * A rate as the wire and the dashboard write it: at most 8 decimals, rounded down, like the published sample
 * (`"ratio":0.00445577`). For display only: the quote's amounts were computed from the full-precision rate (RATE_DP),
 * which is what is stored with the quote and its order.
 */
export const displayRate = (v: Decimal.Value) => new Decimal(v).toDecimalPlaces(8, Decimal.ROUND_DOWN).toFixed();

/** Rates are kept to 18 decimals (the column); amounts are rounded down to 8 (§15.2). */
const RATE_DP = 18;

export function createConvertService(deps: {
  db: Db;
  clock: Clock;
  ledger: Ledger;
  prices: PriceSource;
  sandbox: boolean;
  /** §15.5 `convert.quoteValidityMs` and `convert.spreadBps` (src/config.ts). */
  settings: { quoteValidityMs: number; spreadBps: number };
}) {
  const { db, clock, ledger, prices, settings } = deps;

  async function pairs(q: Queryable = db): Promise<Pair[]> {
    const configured = (await q.query(`SELECT 1 FROM pay_convert_settings WHERE id = 1`)).rows.length > 0;
    if (!configured) return deps.sandbox ? sandboxPairs(settings.spreadBps) : [];
    return (await q.query(`SELECT * FROM pay_convert_pairs ORDER BY from_asset, to_asset`)).rows.map(toPair);
  }

  /** The pair's mid (to-asset per from-asset), or null when the price source has no price for one side. */
  function mid(p: Pair): Decimal | null {
    if (p.fixedRate !== null) return new Decimal(p.fixedRate);
    const from = prices.cryptoUsd(p.fromAsset);
    const to = prices.cryptoUsd(p.toAsset);
    if (from === null || to === null || new Decimal(to).isZero()) return null;
    return new Decimal(from).div(to);
  }

  const quoteRow = async (q: Queryable, merchantId: string, quoteId: string, lock: boolean) =>
    (
      await q.query(
        `SELECT * FROM pay_convert_quotes WHERE quote_id = $1 AND merchant_id = $2${lock ? ' FOR UPDATE' : ''}`,
        [quoteId, merchantId],
      )
    ).rows[0];

  return {
    pairs,

    /** §15.1: the enabled pairs from one asset. */
    async toSelector(fromAsset: string) {
      const all = (await pairs()).filter((p) => p.enabled);
      const has = (from: string, to: string) => all.some((p) => p.fromAsset === from && p.toAsset === to);
      return {
        coin: fromAsset,
        toList: all
          .filter((p) => p.fromAsset === fromAsset)
          .map((p) => ({ ...p, reverse: has(p.toAsset, p.fromAsset) })),
      };
    },

    /** PUT /admin/v1/convert/pairs (§15.5): the operator's whole set of pairs replaces the last. */
    async setPairs(list: PairConfig[]): Promise<Result<Pair[], 'INVALID_PAIRS'>> {
      const seen = new Set<string>();
      for (const p of list) {
        const key = `${p.fromAsset}/${p.toAsset}`;
        if (seen.has(key)) return err('INVALID_PAIRS', `pair ${key} is listed twice`);
        seen.add(key);
        if (new Decimal(p.fromMin).gt(p.fromMax) || new Decimal(p.toMin).gt(p.toMax))
          return err('INVALID_PAIRS', `pair ${key}: a minimum is above its maximum`);
        if (p.fixedRate != null && new Decimal(p.fixedRate).isZero())
          return err('INVALID_PAIRS', `pair ${key}: fixedRate must be positive`);
      }
      const now = clock.now();
      return db.tx(async (q) => {
        await q.query(`DELETE FROM pay_convert_pairs`);
        // A pair set without spreadBps keeps the default in effect now (stored, so GET shows what quotes use).
        for (const p of list.map((c) => pairOf(c, settings.spreadBps))) {
          await q.query(
            `INSERT INTO pay_convert_pairs (from_asset, to_asset, enabled, from_min, from_max, to_min, to_max, fixed_rate,
              spread_bps, base, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
            [
              p.fromAsset,
              p.toAsset,
              p.enabled,
              p.fromMin,
              p.fromMax,
              p.toMin,
              p.toMax,
              p.fixedRate,
              p.spreadBps,
              p.base,
              now,
            ],
          );
        }
        await q.query(
          `INSERT INTO pay_convert_settings (id, configured_at) VALUES (1, $1)
            ON CONFLICT (id) DO UPDATE SET configured_at = excluded.configured_at`,
          [now],
        );
        return ok(await pairs(q));
      });
    },

    /** §15.2: a quote; it gets a quoteId (and is stored) only when the wallet covers fromAmount now. */
    async quote(actor: Actor, input: GetQuote): Promise<Result<Quote, ExtendedError>> {
      const pair = (await pairs()).find(
        (p) => p.enabled && p.fromAsset === input.fromAsset && p.toAsset === input.toAsset,
      );
      if (!pair) return err('BUSINESS_RULE', `${input.fromAsset} to ${input.toAsset} is not a supported pair.`);
      const m = mid(pair);
      if (!m) return err('BUSINESS_RULE', `No price for ${input.fromAsset} to ${input.toAsset} at the moment.`);
      const ratio = m
        .mul(new Decimal(10_000 - pair.spreadBps).div(10_000))
        .toDecimalPlaces(RATE_DP, Decimal.ROUND_DOWN);
      const inverseRatio = new Decimal(1).div(ratio).toDecimalPlaces(RATE_DP, Decimal.ROUND_DOWN);
      const fromAmount =
        input.fromAmount != null
          ? new Decimal(input.fromAmount)
          : new Decimal(input.toAmount!).div(ratio).toDecimalPlaces(8, Decimal.ROUND_DOWN);
      const toAmount =
        input.toAmount != null
          ? new Decimal(input.toAmount)
          : fromAmount.mul(ratio).toDecimalPlaces(8, Decimal.ROUND_DOWN);
      const outside = (v: Decimal, min: string, max: string) => v.lt(min) || v.gt(max);
      if (outside(fromAmount, pair.fromMin, pair.fromMax))
        return err('BUSINESS_RULE', `fromAmount must be between ${pair.fromMin} and ${pair.fromMax}.`);
      if (outside(toAmount, pair.toMin, pair.toMax))
        return err('BUSINESS_RULE', `toAmount must be between ${pair.toMin} and ${pair.toMax}.`);

      const now = clock.now();
      const expireTime = now + settings.quoteValidityMs;
      const wallet = input.wallet as MerchantWallet;
      const available = (await ledger.balance(db, merchantAccount(actor.merchantId, wallet, pair.fromAsset))).available;
      const quote: Quote = {
        ratio: norm(ratio),
        inverseRatio: norm(inverseRatio),
        expireTime,
        fromCoin: pair.fromAsset,
        fromAmount: norm(fromAmount),
        toCoin: pair.toAsset,
        toAmount: norm(toAmount),
      };
      // No quoteId for what the wallet cannot pay (§15.2, Decision after Binance Convert).
      if (new Decimal(available).lt(fromAmount)) return ok(quote);
      const quoteId = randomBytes(16).toString('hex');
      await db.query(
        `INSERT INTO pay_convert_quotes (quote_id, merchant_id, creator_merchant_id, wallet, from_asset, to_asset,
          from_amount, to_amount, ratio, inverse_ratio, created_at, expire_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          quoteId,
          actor.merchantId,
          actor.creatorMerchantId,
          wallet,
          pair.fromAsset,
          pair.toAsset,
          fromAmount.toFixed(),
          toAmount.toFixed(),
          ratio.toFixed(),
          inverseRatio.toFixed(),
          now,
          expireTime,
        ],
      );
      return ok({ quoteId, ...quote });
    },

    /** §15.3: executes a quote once; a replay (even after expiry) gets the same order. */
    async execute(merchantId: string, quoteId: string): Promise<Result<ConvertOrder, ExtendedError>> {
      return db.tx(async (q) => {
        // The quote row lock serializes executions of one quote: the second finds the first's order.
        const quote = await quoteRow(q, merchantId, quoteId, true);
        if (!quote) return err('BUSINESS_RULE', `quoteId ${quoteId} is not a valid quote.`);
        const done = (await q.query(`SELECT * FROM pay_convert_orders WHERE quote_id = $1`, [quoteId])).rows[0];
        if (done) return ok(toOrder(done));
        if (clock.now() > Number(quote.expire_time)) return err('QUOTE_EXPIRED');

        const orderId = String(
          (await q.query<{ id: bigint }>(`SELECT nextval('pay_convert_order_id_seq') AS id`)).rows[0]!.id,
        );
        const wallet = quote.wallet as MerchantWallet;
        const from = norm(quote.from_amount);
        const to = norm(quote.to_amount);
        // Both legs or neither: a short wallet undoes the first leg and the order is FAIL.
        const moved = await ifFundsSuffice(q, async () => {
          await ledger.transfer(q, {
            id: `convert:${orderId}:from`,
            debit: merchantAccount(merchantId, wallet, quote.from_asset),
            credit: platformAccount(HOUSE, quote.from_asset),
            amount: from,
            kind: 'pay.convert',
            ref: orderId,
          });
          await ledger.transfer(q, {
            id: `convert:${orderId}:to`,
            debit: platformAccount(HOUSE, quote.to_asset),
            credit: merchantAccount(merchantId, wallet, quote.to_asset),
            amount: to,
            kind: 'pay.convert',
            ref: orderId,
          });
        });
        const status: ConvertStatus = moved ? 'SUCCESS' : 'FAIL';
        const row = (
          await q.query(
            `INSERT INTO pay_convert_orders (order_id, quote_id, merchant_id, wallet, from_asset, to_asset, from_amount,
              to_amount, ratio, inverse_ratio, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
            [
              orderId,
              quoteId,
              merchantId,
              wallet,
              quote.from_asset,
              quote.to_asset,
              from,
              to,
              quote.ratio,
              quote.inverse_ratio,
              status,
              clock.now(),
            ],
          )
        ).rows[0]!;
        return ok(toOrder(row));
      });
    },

    /** §15.4. */
    async get(merchantId: string, orderId: string): Promise<Result<ConvertOrder, ExtendedError>> {
      const row = (
        await db.query(`SELECT * FROM pay_convert_orders WHERE order_id = $1 AND merchant_id = $2`, [
          orderId,
          merchantId,
        ])
      ).rows[0];
      return row ? ok(toOrder(row)) : err('CONVERT_ORDER_NOT_FOUND', 'Convert order not found.');
    },

    /** The merchant's latest conversions, newest first (the dashboard). */
    async recent(merchantId: string, limit = 20): Promise<ConvertOrder[]> {
      return (
        await db.query(
          `SELECT * FROM pay_convert_orders WHERE merchant_id = $1 ORDER BY created_at DESC, order_id DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows.map(toOrder);
    },
  };
}

export type ConvertService = ReturnType<typeof createConvertService>;
