import type { Acquirer, Charge } from '../../cards/acquirer.ts';
import { cardLedger } from '../../cards/ledger.ts';
import type { ChainService } from '../../chain/service.ts';
import { WITHDRAWAL_SETTLED_TOPIC, type WithdrawalSettledEvent } from '../../chain/withdrawals.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomHex } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { DomainError, err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { platformAccount, type Ledger } from '../../platform/ledger/service.ts';
import type { Logger } from '../../platform/logger.ts';
import { Decimal } from '../../platform/money.ts';
import type { OutboxHandler } from '../../platform/outbox/service.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import { checkLimitLocked, type KycLevel } from './limits.ts';
import { TRANSITIONS as ORDER_TRANSITIONS, type ConnectOrders } from '../orders/service.ts';
import type { ConnectOrder, SubStatus } from '../orders/store.ts';
import type { PartnerService } from '../partners.ts';
import type { DbRow } from '../../platform/db/client.ts';
import { payerIdOfUser } from '../../accounts/people.ts';
import { isSendOrder } from '../v2/wire.ts';

/**
 * The buy flow from Confirm to the crypto on the user's wallet, as a step machine in the shape of
 * src/chain/withdrawals.ts: an explicit step per order (buyflow_orders.step), a transition table, one conditional
 * update that applies a transition (and moves the published Connect status with it, so the partner's webhook is
 * queued in the same transaction), and one idempotent handler per step, run by a worker that claims due orders.
 *
 * Confirm only reserves the limit and records the intent (card, locked quote, attempt number). Each handler makes
 * its outside call at most once per attempt key (the acquirer's authorization by `${orderId}:${attempt}`, capture,
 * void and refund by charge id, the chain withdrawal by `connect:${orderId}`), then writes the ledger entry of what
 * the outside system did in the same transaction as the step it leads to. A crash anywhere leaves the order in a
 * step whose handler, run again, finds the outside call already made and carries on.
 *
 * Compensations are steps too: a failure moves the order to VOIDING or REFUNDING by one conditional transition, and
 * only that step's handler voids or refunds, once.
 */
export type Step =
  | 'OPEN'
  | 'SENDING'
  | 'AUTHORIZING'
  | 'CHALLENGE'
  | 'CAPTURING'
  | 'VOIDING'
  | 'PURCHASING'
  | 'REFUNDING'
  | 'WITHDRAWING'
  | 'WITHDRAW_RETRY_WAIT'
  | 'WITHDRAW_FAILED'
  | 'KEPT'
  | 'COMPLETED'
  | 'FAILED';

const STEP_TRANSITIONS: Record<Step, Step[]> = {
  // Confirm; or refused for good at confirm (limit, region) or closed by the user.
  OPEN: ['AUTHORIZING', 'SENDING', 'FAILED'],
  // Send primary (gen-2 §10.4): the user's own crypto is sent; a short balance returns the order to OPEN as a buy.
  SENDING: ['WITHDRAWING', 'OPEN', 'FAILED'],
  AUTHORIZING: ['CHALLENGE', 'CAPTURING', 'VOIDING', 'OPEN', 'FAILED'],
  CHALLENGE: ['CAPTURING', 'VOIDING', 'OPEN', 'FAILED'],
  CAPTURING: ['PURCHASING'],
  VOIDING: ['OPEN', 'FAILED'],
  // KEPT: a gen-2 user chose at confirm to keep the crypto in their Rampart account (v2 §5.3, 2 → 96).
  PURCHASING: ['WITHDRAWING', 'KEPT', 'REFUNDING'],
  KEPT: [],
  REFUNDING: ['FAILED'],
  WITHDRAWING: ['COMPLETED', 'WITHDRAW_RETRY_WAIT', 'WITHDRAW_FAILED'],
  WITHDRAW_RETRY_WAIT: ['WITHDRAWING'],
  WITHDRAW_FAILED: ['WITHDRAW_RETRY_WAIT'],
  COMPLETED: [],
  FAILED: [],
};

/**
 * The published Connect sub-status (binance-connect.md §5.1) an order shows in each step. OPEN: back to CREATED (KYC
 * sets KYC_REVIEW).
 */
export const PUBLISHED: Record<Step, SubStatus> = {
  OPEN: 'CREATED',
  // Not INIT while the send is being requested, so expiry cannot fail an order whose crypto may be on its way.
  SENDING: 'PAYMENT_PROCESSING',
  AUTHORIZING: 'PAYMENT_PROCESSING',
  CHALLENGE: 'PAYMENT_PROCESSING',
  CAPTURING: 'PAYMENT_PROCESSING',
  VOIDING: 'PAYMENT_PROCESSING',
  PURCHASING: 'PURCHASE_PROCESSING',
  REFUNDING: 'PURCHASE_PROCESSING',
  WITHDRAWING: 'WITHDRAW_PROCESSING',
  WITHDRAW_RETRY_WAIT: 'WITHDRAW_PROCESSING',
  WITHDRAW_FAILED: 'WITHDRAW_FAILED',
  KEPT: 'FAILED',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
};

/** The forms of the hosted pages that act on an order, and the states each applies in. Everything else is refused. */
export type OrderForm = 'kyc' | 'address' | 'card' | 'quote' | 'confirm' | 'send' | '3ds' | 'retry' | 'close';
const OPEN_SUBS: SubStatus[] = ['CREATED', 'KYC_REVIEW'];
export const FORM_APPLIES: Record<
  OrderForm,
  (s: { step: Step; sub: SubStatus; expired: boolean; generation: 1 | 2 }) => boolean
> = {
  kyc: (s) => s.step === 'OPEN' && s.sub === 'CREATED' && !s.expired,
  address: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub) && !s.expired,
  card: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub) && !s.expired,
  quote: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub) && !s.expired,
  confirm: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub) && !s.expired,
  send: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub) && !s.expired && s.generation === 2,
  close: (s) => s.step === 'OPEN' && OPEN_SUBS.includes(s.sub),
  '3ds': (s) => s.step === 'CHALLENGE',
  // A gen-2 order whose withdrawal failed is final (98): the crypto stays in the user's account, no retry (v2 §5.3).
  retry: (s) => s.step === 'WITHDRAW_FAILED' && s.generation === 1,
};

/** A gen-2 order in send-primary mode that has not fallen back to a purchase (binance-connect-v2.md §10.4). */
export const isSendPrimary = isSendOrder;

export const QUOTE_LOCK_MS = 59_000;
export const MAX_PAYMENT_ATTEMPTS = 3;
/** A 3-D Secure challenge left unanswered this long (platform clock) is voided. */
export const CHALLENGE_TTL_MS = 10 * 60_000;
/** Automatic withdrawal attempts (spec §6.4): 3 within 30 min, then WITHDRAW_FAILED and the manual retry. */
export const AUTO_WITHDRAW_ATTEMPTS = 3;
export const AUTO_WITHDRAW_WINDOW_MS = 30 * 60_000;
/** Wait after the 1st and the 2nd failed attempt: the 3rd starts 15 min after the 1st, inside the window. */
export const AUTO_WITHDRAW_DELAYS_MS = [5 * 60_000, 10 * 60_000];
/** A handler that threw (an outside system unreachable) is tried again this much later (platform clock). */
const RETRY_AFTER_ERROR_MS = 30_000;
/**
 * Sandbox trigger for a failed purchase (what an inventory shortfall at the liquidity source does in production):
 * an order of exactly this amount, in any fiat, has its card charge approved and then fails PURCHASE_FAILED.
 */
export const SANDBOX_PURCHASE_FAIL_AMOUNT = '66.66';
export const NO_ACQUIRER_MESSAGE = 'Card payments are not available: no card acquirer is configured on this platform.';
export const WITHDRAW_REF = 'connect:';
/** The chain withdrawal of a send-primary order: its own ref, so a later purchase of the same order never finds it. */
export const SEND_REF = 'connect-send:';

/** Where a test may kill the process: after each step boundary is committed (or an outside call answered). */
export type FaultPoint =
  'limit-reserved' | 'authorized' | 'captured-at-acquirer' | 'fiat-credited' | 'purchased' | 'withdrawal-queued';

export interface LockedQuote {
  quotePrice: string;
  userFee: string;
  networkFee: string;
  cryptoAmount: string;
  expiresAt: number;
}

/** The buy-flow row of an order, as the machine reads it. */
interface Row {
  orderId: string;
  userId: string;
  step: Step;
  cardId: string | null;
  /** The acquirer token recorded at confirm: a retried authorization sends exactly what the first one did. */
  cardToken: string | null;
  attempt: number;
  chargeId: string | null;
  quote: LockedQuote | null;
  challengeExpiresAt: number | null;
  failureCode: string | null;
  withdrawalId: string | null;
  autoAttempts: number;
  withdrawFirstAt: number | null;
  wakeSeq: number;
  /** When the step's handler should run (platform clock); null: only an event or the person moves it. */
  dueAt: number | null;
  /** Gen-2: the user chose at confirm to keep the crypto in their Rampart account. */
  keepInAccount: boolean;
}

export function lockedOf(r: DbRow): LockedQuote | null {
  if (!r?.quote_price) return null;
  const d = (v: string) => new Decimal(v).toFixed();
  return {
    quotePrice: d(r.quote_price),
    userFee: d(r.user_fee),
    networkFee: d(r.network_fee),
    cryptoAmount: d(r.crypto_amount),
    expiresAt: Number(r.quote_expires_at),
  };
}

const toRow = (r: DbRow): Row => ({
  orderId: r.order_id,
  userId: String(r.user_id),
  step: r.step,
  cardId: r.card_id === null ? null : String(r.card_id),
  cardToken: r.card_token,
  attempt: r.payment_attempts,
  chargeId: r.charge_id,
  quote: lockedOf(r),
  challengeExpiresAt: r.challenge_expires_at === null ? null : Number(r.challenge_expires_at),
  failureCode: r.failure_code,
  withdrawalId: r.withdrawal_id,
  autoAttempts: r.withdraw_auto_attempts,
  withdrawFirstAt: r.withdraw_first_at === null ? null : Number(r.withdraw_first_at),
  wakeSeq: r.wake_seq,
  dueAt: r.step_due_at === null ? null : Number(r.step_due_at),
  keepInAccount: r.keep_in_account === true,
});

const PAYMENT_ERROR: Partial<Record<Charge['status'], string>> = {
  DECLINED: 'CARD_DECLINED',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  THREE_DS_FAILED: 'THREE_DS_FAILED',
};

type Outcome = 'moved' | 'wait';

export function createPurchaseMachine(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  prices: PriceSource;
  catalog: Catalog;
  partners: PartnerService;
  orders: ConnectOrders;
  chain: ChainService;
  acquirer: Acquirer | null;
  mode: 'sandbox' | 'production';
  logger?: Logger;
  /** The user's KYC level as of now, from the locked user row (an approved proof of address counts at once). */
  levelOf(q: Queryable, user: DbRow): Promise<KycLevel>;
  /** How long one runner holds an order (wall clock): a runner that died is replaced after this. */
  leaseMs?: number;
  faults?: { at(point: FaultPoint, orderId: string): void };
}) {
  const { db, clock, ledger, orders, chain, acquirer } = deps;
  const leaseMs = deps.leaseMs ?? 30_000;
  const cards = cardLedger(ledger);
  const fault = (point: FaultPoint, orderId: string) => deps.faults?.at(point, orderId);
  const payer = (userId: string) => ({ ownerType: 'user' as const, ownerId: `buyflow:${userId}` });

  async function load(orderId: string, q: Queryable = db): Promise<Row | null> {
    const r = (await q.query(`SELECT * FROM buyflow_orders WHERE order_id = $1`, [orderId])).rows[0];
    return r ? toRow(r) : null;
  }
  /** The Connect order a buy-flow order drives (connect_orders belongs to connect/orders: read through it). */
  async function order(orderId: string, q: Queryable = db, lock = false): Promise<ConnectOrder> {
    const o = await orders.read(q, orderId, { lock });
    if (!o) throw new Error(`buy-flow order ${orderId} has no Connect order`);
    return o;
  }

  /**
   * The one way a step changes: a conditional update from `from`, the published status moved with it (its webhook
   * queued in the same transaction), and a history row. Returns null when the order was no longer in `from`.
   */
  async function transition(
    q: Queryable,
    orderId: string,
    from: Step,
    to: Step,
    o: {
      /** The payment attempt the caller acted on: a runner that read an earlier attempt cannot move a later one. */
      attempt?: number;
      due?: number | null;
      set?: Record<string, unknown>;
      published?: {
        errorCode?: string | null;
        executePrice?: string;
        obtainAmount?: string;
        withdrawTxHash?: string | null;
      };
    } = {},
  ): Promise<Row | null> {
    if (!STEP_TRANSITIONS[from].includes(to)) throw new Error(`illegal buy-flow transition ${from} → ${to}`);
    const set: Record<string, unknown> = { step_due_at: o.due ?? null, ...o.set };
    const cols = Object.keys(set);
    const r = (
      await q.query(
        `UPDATE buyflow_orders SET step = $3${cols.map((c, i) => `, ${c} = $${i + 5}`).join('')}
       WHERE order_id = $1 AND step = $2 AND ($4::int IS NULL OR payment_attempts = $4) RETURNING *`,
        [orderId, from, to, o.attempt ?? null, ...cols.map((c) => set[c])],
      )
    ).rows[0];
    if (!r) return null;
    const current: SubStatus = (await order(orderId, q, true)).subStatus;
    const target = PUBLISHED[to];
    if (current !== target) {
      // A published status another domain moved (expiry, KYC) since the step was read: the caller's transaction rolls
      // back.
      if (!ORDER_TRANSITIONS[current].includes(target))
        throw new DomainError('ORDER_STATE_CHANGED', `order is ${current}`);
      if (!(await orders.transition(q, orderId, current, target, o.published ?? {})))
        throw new DomainError('ORDER_STATE_CHANGED', 'order changed concurrently');
    }
    const errorCode = o.published?.errorCode ?? null;
    await q.query(
      `INSERT INTO buyflow_order_steps (id, order_id, from_step, to_step, sub_status, error_code, at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [deps.ids.next(), orderId, from, to, target, errorCode, clock.now()],
    );
    return toRow(r);
  }

  // ---- the handlers: each idempotent, each returns 'moved' (look again) or 'wait' (nothing to do until due/an event)
  // ----

  async function authorizing(r: Row): Promise<Outcome> {
    const o = await order(r.orderId);
    const token =
      r.cardToken ??
      (await db.query(`SELECT acquirer_token FROM buyflow_cards WHERE id = $1`, [r.cardId])).rows[0].acquirer_token;
    const charge = await acquirer!.authorize({
      token,
      amount: o.orderAmount,
      currency: o.fiatCurrency,
      ref: `${r.orderId}:${r.attempt}`,
    });
    fault('authorized', r.orderId);
    return afterAuthorization(r, 'AUTHORIZING', charge);
  }

  async function challenge(r: Row): Promise<Outcome> {
    const charge = await acquirer!.getCharge(r.chargeId!);
    if (!charge) throw new Error(`charge ${r.chargeId} of order ${r.orderId} is unknown to the acquirer`);
    return afterAuthorization(r, 'CHALLENGE', charge);
  }

  /**
   * What the acquirer said about this attempt's authorization. Approved while the locked quote is still valid:
   * capture. Approved too late, or a challenge left past its expiry: void (the buyer gets a new quote). Refused:
   * back to the confirm page, or FAILED after the last attempt.
   */
  async function afterAuthorization(r: Row, from: 'AUTHORIZING' | 'CHALLENGE', charge: Charge): Promise<Outcome> {
    const now = clock.now();
    return db.tx(async (q): Promise<Outcome> => {
      if (charge.status === 'CHALLENGE') {
        if (from === 'AUTHORIZING') {
          const expires = now + CHALLENGE_TTL_MS;
          const t = await transition(q, r.orderId, 'AUTHORIZING', 'CHALLENGE', {
            attempt: r.attempt,
            due: expires,
            set: { charge_id: charge.chargeId, challenge_expires_at: expires },
          });
          return t ? 'wait' : 'moved';
        }
        if (now < r.challengeExpiresAt!) {
          // Park until the expiry, unless the cardholder answered since this row was read (completeChallenge bumps
          // wake_seq).
          const parked = await q.query(
            `UPDATE buyflow_orders SET step_due_at = challenge_expires_at WHERE order_id = $1 AND step = 'CHALLENGE'
              AND wake_seq = $2`,
            [r.orderId, r.wakeSeq],
          );
          return parked.rowCount === 1 ? 'wait' : 'moved';
        }
        await transition(q, r.orderId, 'CHALLENGE', 'VOIDING', {
          attempt: r.attempt,
          due: now,
          set: { failure_code: 'QUOTE_EXPIRED' },
        });
        return 'moved';
      }
      if (charge.status === 'AUTHORIZED') {
        const inTime = r.quote !== null && now <= r.quote.expiresAt;
        const t = await transition(q, r.orderId, from, inTime ? 'CAPTURING' : 'VOIDING', {
          attempt: r.attempt,
          due: now,
          set: { charge_id: charge.chargeId, failure_code: inTime ? null : 'QUOTE_EXPIRED' },
        });
        if (t) await cards.authorized(q, { charge, payer: payer(r.userId), ref: r.orderId });
        return 'moved';
      }
      const errorCode = PAYMENT_ERROR[charge.status];
      if (!errorCode) throw new Error(`charge ${charge.chargeId} is ${charge.status} while the order is ${from}`);
      const t = await transition(q, r.orderId, from, r.attempt >= MAX_PAYMENT_ATTEMPTS ? 'FAILED' : 'OPEN', {
        attempt: r.attempt,
        set: { charge_id: charge.chargeId },
        published: { errorCode },
      });
      if (t) await q.query(`UPDATE buyflow_cards SET last_failure = $2 WHERE id = $1`, [r.cardId, errorCode]);
      return 'moved';
    });
  }

  /**
   * One acquirer movement of the attempt's charge (idempotent by charge id), then, in one transaction, the step it
   * leads to and its ledger entry (`book`, called only when this runner made the transition).
   */
  const CHARGE_MOVES = { capture: 'CAPTURED', void: 'VOIDED', refund: 'REFUNDED' } as const;
  async function moveCharge(
    r: Row,
    move: keyof typeof CHARGE_MOVES,
    next: { from: Step; to: Step; errorCode?: string | null; due?: number },
    book: (q: Queryable, c: Charge) => Promise<unknown>,
    faults: { afterCall?: FaultPoint; afterCommit?: FaultPoint } = {},
  ): Promise<Outcome> {
    const c = await acquirer![move](r.chargeId!);
    if (c?.status !== CHARGE_MOVES[move]) throw new Error(`${move} of ${r.chargeId} left it ${c?.status ?? 'unknown'}`);
    if (faults.afterCall) fault(faults.afterCall, r.orderId);
    await db.tx(async (q) => {
      const t = await transition(q, r.orderId, next.from, next.to, {
        attempt: r.attempt,
        due: next.due,
        published: next.errorCode === undefined ? undefined : { errorCode: next.errorCode },
      });
      if (t) await book(q, c);
    });
    if (faults.afterCommit) fault(faults.afterCommit, r.orderId);
    return 'moved';
  }

  const capturing = (r: Row) =>
    moveCharge(
      r,
      'capture',
      { from: 'CAPTURING', to: 'PURCHASING', due: clock.now() },
      async (q, c) => {
        await cards.captured(q, c.chargeId);
        await q.query(`UPDATE buyflow_cards SET last_failure = NULL WHERE id = $1`, [r.cardId]);
      },
      { afterCall: 'captured-at-acquirer', afterCommit: 'fiat-credited' },
    );

  const voiding = (r: Row) =>
    moveCharge(
      r,
      'void',
      { from: 'VOIDING', to: r.attempt >= MAX_PAYMENT_ATTEMPTS ? 'FAILED' : 'OPEN', errorCode: r.failureCode },
      (q, c) => cards.voided(q, c.chargeId),
    );

  /**
   * Captured fiat → fee to revenue, the rest to sales; crypto from inventory at the locked price → the user's account,
   * less the network fee.
   */
  async function purchasing(r: Row): Promise<Outcome> {
    const now = clock.now();
    await db.tx(async (q) => {
      const o = await order(r.orderId, q);
      if (deps.mode === 'sandbox' && new Decimal(o.orderAmount).eq(SANDBOX_PURCHASE_FAIL_AMOUNT)) {
        await transition(q, r.orderId, 'PURCHASING', 'REFUNDING', {
          attempt: r.attempt,
          due: now,
          set: { failure_code: 'PURCHASE_FAILED' },
        });
        return;
      }
      const quote = r.quote!;
      const gross = new Decimal(quote.cryptoAmount).plus(quote.networkFee).toFixed();
      // Kept in the account: nothing is sent, so no network fee; the user keeps all the crypto bought.
      const kept = r.keepInAccount && o.generation === 2;
      const t = kept
        ? await transition(q, r.orderId, 'PURCHASING', 'KEPT', {
            attempt: r.attempt,
            published: { executePrice: quote.quotePrice, obtainAmount: gross, errorCode: 'KEPT_IN_ACCOUNT' },
          })
        : await transition(q, r.orderId, 'PURCHASING', 'WITHDRAWING', {
            attempt: r.attempt,
            due: now,
            set: { withdraw_auto_attempts: 1, withdraw_first_at: now },
            published: { executePrice: quote.quotePrice, obtainAmount: quote.cryptoAmount },
          });
      if (!t) return;
      const who = payer(r.userId);
      const net = new Decimal(o.orderAmount).minus(quote.userFee).toFixed();
      await ledger.transfer(q, {
        id: `bf:fee:${r.orderId}`,
        debit: { ...who, asset: o.fiatCurrency },
        credit: platformAccount('revenue_connect_fee', o.fiatCurrency),
        amount: quote.userFee,
        kind: 'connect_fee',
        ref: r.orderId,
      });
      await ledger.transfer(q, {
        id: `bf:pay:${r.orderId}`,
        debit: { ...who, asset: o.fiatCurrency },
        credit: platformAccount('connect_sales', o.fiatCurrency),
        amount: net,
        kind: 'connect_purchase_fiat',
        ref: r.orderId,
      });
      await ledger.transfer(q, {
        id: `bf:buy:${r.orderId}`,
        debit: platformAccount('inventory', o.cryptoCurrency),
        credit: { ...who, asset: o.cryptoCurrency },
        amount: gross,
        kind: 'connect_purchase_crypto',
        ref: r.orderId,
      });
      if (kept) {
        await keepInAccount(q, r, o, gross);
        return;
      }
      await ledger.transfer(q, {
        id: `bf:netfee:${r.orderId}`,
        debit: { ...who, asset: o.cryptoCurrency },
        credit: platformAccount('revenue_network_fee', o.cryptoCurrency),
        amount: quote.networkFee,
        kind: 'connect_network_fee',
        ref: r.orderId,
      });
    });
    fault('purchased', r.orderId);
    return 'moved';
  }

  const refunding = (r: Row) =>
    moveCharge(r, 'refund', { from: 'REFUNDING', to: 'FAILED', errorCode: r.failureCode }, (q, c) =>
      cards.refunded(q, { charge: c, payer: payer(r.userId), ref: r.orderId }),
    );

  /**
   * A gen-2 buy whose withdrawal ended failed (98, final): the bought crypto goes from the buy flow's own account to
   * the user's Rampart account, where the wallet shows it and the user can use it (v2 §5.1 "the crypto stays in the
   * user's account"). Once per order (transfer id); a send's crypto never left that account. Gen-1 orders keep it for
   * the retry.
   */
  async function keepInAccount(q: Queryable, r: Row, o: ConnectOrder, amount = o.obtainAmount) {
    if (o.generation !== 2 || isSendOrder(o)) return;
    const payerId = await payerIdOfUser(q, r.userId);
    if (!payerId) return;
    await ledger.transfer(q, {
      id: `bf:keep:${r.orderId}`,
      debit: { ...payer(r.userId), asset: o.cryptoCurrency },
      credit: { ownerType: 'payer', ownerId: payerId, asset: o.cryptoCurrency },
      amount,
      kind: 'connect_kept_in_account',
      ref: r.orderId,
    });
  }

  /** Queues the withdrawal once (by ref), then follows it: the chain's settled event wakes the order (wake_seq). */
  async function withdrawing(r: Row): Promise<Outcome> {
    if (!r.withdrawalId) {
      const o = await order(r.orderId);
      const w = await chain.withdrawals.request({
        ref: WITHDRAW_REF + r.orderId,
        ...payer(r.userId),
        asset: o.cryptoCurrency,
        network: o.cryptoNetwork,
        address: o.cryptoAddress,
        memo: o.cryptoAddressMemo,
        amount: o.obtainAmount,
      });
      if (!w.ok) {
        // Could not even be queued: the crypto stays the user's (gen-1: the user can retry from the status page).
        await db.tx(async (q) => {
          const t = await transition(q, r.orderId, 'WITHDRAWING', 'WITHDRAW_FAILED', {
            published: { errorCode: 'WITHDRAW_FAILED' },
          });
          if (t) await keepInAccount(q, r, o);
        });
        return 'moved';
      }
      await db.tx(async (q) => {
        const set = await q.query(
          `UPDATE buyflow_orders SET withdrawal_id = $2 WHERE order_id = $1 AND step = 'WITHDRAWING'`,
          [r.orderId, w.value.id],
        );
        // Generation 2 publishes the queued withdrawal as WITHDRAW_PROCESSING (11), with this step.
        if (set.rowCount === 1) await orders.withdrawalQueued(q, r.orderId);
      });
      fault('withdrawal-queued', r.orderId);
      return 'moved';
    }
    const w = await chain.withdrawals.get(r.withdrawalId);
    const now = clock.now();
    if (w?.status === 'completed') {
      await db.tx((q) =>
        transition(q, r.orderId, 'WITHDRAWING', 'COMPLETED', {
          set: { withdraw_next_at: null },
          published: { withdrawTxHash: w.txHash, errorCode: null },
        }),
      );
      return 'moved';
    }
    if (w?.status === 'failed' || w?.status === 'cancelled') {
      // Automatic attempts first (spec §6.4): the order stays WITHDRAW_PROCESSING while another one is planned.
      const first = r.withdrawFirstAt ?? now;
      const due = now + (AUTO_WITHDRAW_DELAYS_MS[r.autoAttempts - 1] ?? 0);
      const again =
        w.status === 'failed' && r.autoAttempts < AUTO_WITHDRAW_ATTEMPTS && due <= first + AUTO_WITHDRAW_WINDOW_MS;
      const o = await order(r.orderId);
      // Generation 2 has no later retry (98 is final): the withdrawal is cancelled, which releases what it held, once
      // (a crash after the cancel finds it cancelled here and carries on).
      if (!again && o.generation === 2 && w.status === 'failed') {
        const c = await chain.withdrawals.cancel(w.id);
        if (!c.ok) throw new Error(`cancel withdrawal ${w.id}: ${c.code}`);
      }
      await db.tx(async (q) => {
        if (again) {
          await transition(q, r.orderId, 'WITHDRAWING', 'WITHDRAW_RETRY_WAIT', { due, set: { withdraw_next_at: due } });
          return;
        }
        const t = await transition(q, r.orderId, 'WITHDRAWING', 'WITHDRAW_FAILED', {
          set: { withdraw_next_at: null },
          published: { errorCode: 'WITHDRAW_FAILED' },
        });
        if (t) await keepInAccount(q, r, o);
      });
      return 'moved';
    }
    // In flight: wait for the settled event, unless one arrived since this row was read.
    const waited = await db.query(
      `UPDATE buyflow_orders SET step_due_at = NULL WHERE order_id = $1 AND step = 'WITHDRAWING' AND wake_seq = $2`,
      [r.orderId, r.wakeSeq],
    );
    return waited.rowCount === 1 ? 'wait' : 'moved';
  }

  /**
   * A planned automatic attempt, or the user's Retry: the chain's idempotent retry of the same withdrawal (never a
   * second live transaction).
   */
  async function withdrawRetryWait(r: Row): Promise<Outcome> {
    const t = await db.tx((q) =>
      transition(q, r.orderId, 'WITHDRAW_RETRY_WAIT', 'WITHDRAWING', {
        due: clock.now(),
        set: { withdraw_next_at: null, withdraw_auto_attempts: r.autoAttempts + 1 },
      }),
    );
    if (t && r.withdrawalId) await chain.withdrawals.retry(r.withdrawalId);
    return 'moved';
  }

  /**
   * Send primary: asks the chain for the withdrawal of the requested crypto from the user's own account (the chain
   * holds amount and network fee in its transaction, checking the balance there), once per order (ref), then follows
   * it as any withdrawal. A refusal (a short balance now) sends the order back to OPEN, where the page offers the
   * purchase; the order is a buy from then on.
   */
  async function sending(r: Row): Promise<Outcome> {
    const o = await order(r.orderId);
    const payerId = await payerIdOfUser(db, r.userId);
    const amount = o.gen2?.requestedAmount ?? '0';
    const w = payerId
      ? await chain.withdrawals.request({
          ref: SEND_REF + r.orderId,
          ownerType: 'payer',
          ownerId: payerId,
          asset: o.cryptoCurrency,
          network: o.cryptoNetwork,
          address: o.cryptoAddress,
          memo: o.cryptoAddressMemo,
          amount,
          fee: o.networkFee,
        })
      : null;
    const now = clock.now();
    if (!w?.ok && (await chain.withdrawals.getByRef(SEND_REF + r.orderId)))
      // Another runner's request got through meanwhile: that send stands; this one looks again.
      throw new Error(`order ${r.orderId}: a send withdrawal exists beside a refusal`);
    await db.tx(async (q) => {
      if (!w?.ok) {
        // Only a short balance (or no Rampart account to send from) turns the order into a purchase (§10.4); any other
        // refusal (network, limits) ends the order: nothing was held, the crypto stays in the account (98).
        if (!payerId || w?.code === 'INSUFFICIENT_FUNDS') {
          const back = await transition(q, r.orderId, 'SENDING', 'OPEN', {
            set: { failure_code: 'SEND_REFUSED' },
            published: { errorCode: null },
          });
          if (back) await orders.sendFellBack(q, r.orderId);
        } else {
          await transition(q, r.orderId, 'SENDING', 'FAILED', { published: { errorCode: 'WITHDRAW_FAILED' } });
        }
        return;
      }
      const t = await transition(q, r.orderId, 'SENDING', 'WITHDRAWING', {
        due: now,
        set: { withdrawal_id: w.value.id, withdraw_auto_attempts: 1, withdraw_first_at: now },
        published: { obtainAmount: amount },
      });
      if (t) await orders.withdrawalQueued(q, r.orderId);
      else deps.logger?.error({ orderId: r.orderId, withdrawalId: w.value.id }, 'send queued for an order that moved');
    });
    return 'moved';
  }

  const HANDLERS: Partial<Record<Step, (r: Row) => Promise<Outcome>>> = {
    SENDING: sending,
    AUTHORIZING: authorizing,
    CHALLENGE: challenge,
    CAPTURING: capturing,
    VOIDING: voiding,
    PURCHASING: purchasing,
    REFUNDING: refunding,
    WITHDRAWING: withdrawing,
    WITHDRAW_RETRY_WAIT: withdrawRetryWait,
  };

  /** Runs the order's handlers until it waits (the caller holds its lease). */
  async function drive(orderId: string) {
    // Bounded: AUTHORIZING → CAPTURING → PURCHASING → WITHDRAWING (queue, then follow) is the longest run without a
    // wait.
    for (let i = 0; i < 12; i++) {
      const r = await load(orderId);
      const handler = r && HANDLERS[r.step];
      if (!r || !handler || r.dueAt === null || r.dueAt > clock.now()) return;
      try {
        if ((await handler(r)) === 'wait') return;
      } catch (e) {
        deps.logger?.error({ err: e, orderId, step: r.step }, 'buy-flow step failed; retried later');
        await db.query(`UPDATE buyflow_orders SET step_due_at = $3 WHERE order_id = $1 AND step = $2`, [
          orderId,
          r.step,
          clock.now() + RETRY_AFTER_ERROR_MS,
        ]);
        return;
      }
    }
  }

  /** Gives the lease back, if it is still this runner's (a runner whose lease lapsed must not free another's). */
  async function release(orderId: string, owner: string) {
    await db.query(
      `UPDATE buyflow_orders SET lease_until = 0, lease_owner = NULL WHERE order_id = $1 AND lease_owner = $2`,
      [orderId, owner],
    );
  }

  /**
   * Takes the order's lease if nobody holds it and drives it; false when another runner has it (that one carries on).
   */
  async function advance(orderId: string): Promise<boolean> {
    const wall = Date.now();
    const owner = randomHex(8);
    const claimed = await db.query(
      `UPDATE buyflow_orders SET lease_until = $2, lease_owner = $4 WHERE order_id = $1 AND lease_until < $3`,
      [orderId, wall + leaseMs, wall, owner],
    );
    if (claimed.rowCount !== 1) return false;
    try {
      await drive(orderId);
    } finally {
      await release(orderId, owner);
    }
    return true;
  }

  /** Worker tick: claims due orders (SKIP LOCKED, then a lease for the slow part) and drives each. */
  async function runOnce(limit = 20): Promise<number> {
    const wall = Date.now();
    const owner = randomHex(8);
    const due = (
      await db.query<{ order_id: string }>(
        `UPDATE buyflow_orders SET lease_until = $3, lease_owner = $5 WHERE order_id IN (
         SELECT order_id FROM buyflow_orders WHERE step_due_at <= $1 AND lease_until < $2 ORDER BY step_due_at LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING order_id`,
        [clock.now(), wall, wall + leaseMs, limit, owner],
      )
    ).rows;
    for (const { order_id } of due) {
      try {
        await drive(order_id);
      } finally {
        await release(order_id, owner);
      }
    }
    return due.length;
  }

  /** The chain settled a withdrawal: wake its order (a stale or foreign event changes nothing). */
  const onWithdrawalSettled: OutboxHandler = async (row) => {
    const e = row.payload as WithdrawalSettledEvent;
    const prefix = [WITHDRAW_REF, SEND_REF].find((p) => e.ref.startsWith(p));
    if (!prefix) return { status: 'done' };
    const orderId = e.ref.slice(prefix.length);
    const woke = await db.query(
      `UPDATE buyflow_orders SET wake_seq = wake_seq + 1, step_due_at = $2 WHERE order_id = $1
        AND step = 'WITHDRAWING'`,
      [orderId, clock.now()],
    );
    if (woke.rowCount === 1) await advance(orderId);
    return { status: 'done' };
  };

  // ---- the person's actions ----

  /** Locks a fresh price for 59 s (nothing is charged); only before confirm, and only on the user's own order. */
  async function lockQuote(orderId: string, userId: string): Promise<Result<LockedQuote>> {
    const o = await order(orderId);
    const partner = await deps.partners.get(o.partnerCode);
    if (!partner) return err('ORDER_NOT_FOUND');
    const qv = deps.catalog.quote(partner, {
      fiat: o.fiatCurrency,
      crypto: o.cryptoCurrency,
      network: o.cryptoNetwork,
      amount: o.orderAmount,
    });
    if (!qv.ok) return err(qv.code, qv.message);
    const now = clock.now();
    const expiresAt = now + QUOTE_LOCK_MS;
    const r = await db.query(
      // One statement across owners, on purpose: the quote is locked only while the Connect order is still open and
      // unexpired, checked in the same statement that writes it (a separate read could be stale by the write).
      `UPDATE buyflow_orders b SET quote_price = $3, user_fee = $4, network_fee = $5, crypto_amount = $6,
        quote_expires_at = $7
       FROM connect_orders c WHERE b.order_id = $1 AND b.user_id = $2 AND b.step = 'OPEN' AND c.order_id = b.order_id
         AND c.sub_status IN ('CREATED', 'KYC_REVIEW') AND c.expired_time > $8`,
      [
        orderId,
        userId,
        qv.value.quotePrice,
        qv.value.userFee,
        qv.value.networkFee,
        qv.value.cryptoAmount,
        expiresAt,
        now,
      ],
    );
    if (r.rowCount !== 1) return err('QUOTE_LOCKED', 'The price is locked while this order is being paid.');
    return ok({
      quotePrice: qv.value.quotePrice,
      userFee: qv.value.userFee,
      networkFee: qv.value.networkFee,
      cryptoAmount: qv.value.cryptoAmount,
      expiresAt,
    });
  }

  /**
   * Confirm (P5): in one transaction, with the user row locked, check the order is open and the user's own, the
   * regions, the locked quote and the daily limit, and move OPEN → AUTHORIZING with the intent (card, attempt). The
   * request then drives the order itself (it holds the lease), so the person sees the outcome; if it dies, the
   * worker resumes once the lease lapses.
   */
  async function confirm(
    orderId: string,
    userId: string,
    cardId: string,
    opts: { keepInAccount?: boolean } = {},
  ): Promise<Result<{ step: Step }>> {
    const now = clock.now();
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    if (!/^\d{1,19}$/.test(cardId)) return err('CARD_NOT_FOUND', 'Choose a payment method.');
    const card = (
      await db.query(`SELECT id, acquirer_token FROM buyflow_cards WHERE id = $1 AND user_id = $2`, [cardId, userId])
    ).rows[0];
    if (!card) return err('CARD_NOT_FOUND', 'Choose a payment method.');
    const lease = randomHex(8);
    const step1 = await db.tx(async (q): Promise<Result<null>> => {
      const u = (await q.query(`SELECT * FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
      const bf = (
        await q.query(`SELECT * FROM buyflow_orders WHERE order_id = $1 AND user_id = $2 FOR UPDATE`, [orderId, userId])
      ).rows[0];
      if (!u || !bf) return err('ORDER_NOT_FOUND', 'This order is not yours.');
      const o = await order(orderId, q, true);
      if (bf.step !== 'OPEN' || !OPEN_SUBS.includes(o.subStatus))
        return err('ORDER_NOT_PAYABLE', 'This order is already being paid or is closed.');
      if (o.expiredTime <= now) return err('ORDER_EXPIRED', 'The order has expired.');
      // Send primary offers the user's own crypto first; the purchase only after a send was refused (§10.4).
      if (isSendPrimary(o)) return err('SEND_FIRST', 'Send from your balance first; buying opens if it is short.');
      if (u.kyc_level === 'NONE') return err('KYC_REQUIRED', 'Complete identity verification first.');
      const restricted = orders.restrictedCountryOf([u.country, u.nationality, u.id_country]);
      if (restricted) {
        await transition(q, orderId, 'OPEN', 'FAILED', { published: { errorCode: 'REGION_RESTRICTED' } });
        return err(
          'REGION_RESTRICTED',
          `Buying crypto is not available for residents or citizens of ${restricted}, nor with an ID issued there.`,
        );
      }
      const quote = lockedOf(bf);
      if (!quote || quote.expiresAt < now)
        return err('QUOTE_EXPIRED', 'The price has changed. Please review the new quote.');
      const fiatUsd = deps.prices.fiatUsd(o.fiatCurrency);
      if (fiatUsd === null) return err('SYSTEM_ERROR', 'This currency cannot be priced right now. Try again later.');
      const usd = new Decimal(o.orderAmount).mul(fiatUsd).toDecimalPlaces(2, Decimal.ROUND_UP).toFixed(2);
      const level = await deps.levelOf(q, u);
      const lim = await checkLimitLocked(q, userId, level, usd, now, orderId);
      if (!lim.ok) {
        await transition(q, orderId, 'OPEN', 'FAILED', { published: { errorCode: 'LIMIT_EXCEEDED' } });
        const more = level === 'VERIFIED' ? ' Verify your address to raise the limit to 200,000 USD per day.' : '';
        return err(
          'LIMIT_EXCEEDED',
          `This purchase (${usd} USD) exceeds your daily limit. You can buy up to ${lim.remainingUsd} USD more in ` +
            `the next 24 hours (limit ${lim.limitUsd} USD).${more}`,
        );
      }
      const moved = await transition(q, orderId, 'OPEN', 'AUTHORIZING', {
        due: now,
        published: { errorCode: null },
        set: {
          confirmed_at: now,
          usd_amount: usd,
          card_id: cardId,
          card_token: card.acquirer_token,
          payment_attempts: bf.payment_attempts + 1,
          // Only a gen-2 order can keep its crypto in the account (v2 §5.3); gen-1 always withdraws.
          keep_in_account: opts.keepInAccount === true && o.generation === 2,
          charge_id: null,
          failure_code: null,
          challenge_expires_at: null,
          lease_until: Date.now() + leaseMs,
          lease_owner: lease,
        },
      });
      if (!moved) throw new DomainError('CONCURRENT_UPDATE', 'order changed concurrently');
      return ok(null);
    });
    if (!step1.ok) return step1;
    fault('limit-reserved', orderId);
    try {
      await drive(orderId);
    } finally {
      await release(orderId, lease);
    }
    return ok({ step: (await load(orderId))!.step });
  }

  /**
   * Send primary (gen-2 §10.4): the user chooses to send the requested crypto from their own Rampart balance. Only on
   * an open, unexpired send-primary order of this user; the chain checks the balance when the handler asks it.
   */
  async function send(orderId: string, userId: string): Promise<Result<{ step: Step }>> {
    const now = clock.now();
    const lease = randomHex(8);
    const moved = await db.tx(async (q): Promise<Result<null>> => {
      const bf = (
        await q.query(`SELECT * FROM buyflow_orders WHERE order_id = $1 AND user_id = $2 FOR UPDATE`, [orderId, userId])
      ).rows[0];
      if (!bf) return err('ORDER_NOT_FOUND', 'This order is not yours.');
      const o = await order(orderId, q, true);
      if (!isSendPrimary(o)) return err('NOT_A_SEND', 'This order is a purchase.');
      if (bf.step !== 'OPEN' || !OPEN_SUBS.includes(o.subStatus))
        return err('ORDER_NOT_PAYABLE', 'This order is already being paid or is closed.');
      if (o.expiredTime <= now) return err('ORDER_EXPIRED', 'The order has expired.');
      const t = await transition(q, orderId, 'OPEN', 'SENDING', {
        due: now,
        published: { errorCode: null },
        set: { failure_code: null, lease_until: Date.now() + leaseMs, lease_owner: lease },
      });
      if (!t) throw new DomainError('CONCURRENT_UPDATE', 'order changed concurrently');
      return ok(null);
    });
    if (!moved.ok) return moved;
    try {
      await drive(orderId);
    } finally {
      await release(orderId, lease);
    }
    return ok({ step: (await load(orderId))!.step });
  }

  /**
   * The cardholder's answer to the 3-D Secure challenge, only while this order waits for it (a replay at any other
   * step changes nothing).
   */
  async function completeChallenge(orderId: string, userId: string, passed: boolean): Promise<Result<{ step: Step }>> {
    if (!acquirer) return err('CARD_PAYMENTS_UNAVAILABLE', NO_ACQUIRER_MESSAGE);
    const r = (await db.query(`SELECT * FROM buyflow_orders WHERE order_id = $1 AND user_id = $2`, [orderId, userId]))
      .rows[0];
    if (!r) return err('ORDER_NOT_FOUND', 'This order is not yours.');
    const row = toRow(r);
    if (row.step !== 'CHALLENGE' || !row.chargeId)
      return err('NO_CHALLENGE', 'There is no 3-D Secure check waiting for this order.');
    const expired = clock.now() >= row.challengeExpiresAt!;
    if (!expired) await acquirer.completeChallenge(row.chargeId, passed);
    // The answer (or the expiry) is due now: the challenge step reads the charge and moves on.
    await db.query(
      `UPDATE buyflow_orders SET step_due_at = $2, wake_seq = wake_seq + 1 WHERE order_id = $1 AND step = 'CHALLENGE'`,
      [orderId, clock.now()],
    );
    await advance(orderId);
    if (expired)
      return err(
        'CHALLENGE_EXPIRED',
        'The 3-D Secure check expired, so nothing was charged. Review the new price and confirm again.',
      );
    return ok({ step: (await load(orderId))!.step });
  }

  /** Retry withdrawal (seed §7): one retry at a time, as a planned attempt of the machine. */
  async function retryWithdrawal(orderId: string, userId: string): Promise<Result<null>> {
    const mine = (
      await db.query(`SELECT 1 FROM buyflow_orders WHERE order_id = $1 AND user_id = $2`, [orderId, userId])
    ).rows[0];
    if (!mine) return err('ORDER_NOT_FOUND', 'This order is not yours.');
    if ((await order(orderId)).generation === 2)
      return err('NOT_RETRYABLE', 'This order is final: the crypto stays in your Rampart account.');
    const moved = await db.tx((q) =>
      transition(q, orderId, 'WITHDRAW_FAILED', 'WITHDRAW_RETRY_WAIT', {
        due: clock.now(),
        set: { withdraw_next_at: clock.now() },
        published: { errorCode: null },
      }),
    );
    if (!moved) return err('NOT_RETRYABLE', 'The withdrawal is not waiting for a retry.');
    await advance(orderId);
    return ok(null);
  }

  /** The user closes an order they have not paid: FAILED, USER_CANCELLED. */
  async function close(orderId: string, userId: string): Promise<Result<null>> {
    const r = await db.tx(async (q) => {
      // The buy-flow row first, then the Connect order, as everywhere (lock order).
      const mine = (
        await q.query(`SELECT 1 FROM buyflow_orders WHERE order_id = $1 AND user_id = $2 FOR UPDATE`, [orderId, userId])
      ).rows[0];
      if (!mine || !OPEN_SUBS.includes((await order(orderId, q, true)).subStatus)) return null;
      return transition(q, orderId, 'OPEN', 'FAILED', { published: { errorCode: 'USER_CANCELLED' } });
    });
    return r ? ok(null) : err('NOT_CLOSABLE', 'This order can no longer be cancelled.');
  }

  /**
   * For the audit: an authorization the acquirer still holds open (AUTHORIZED, or CHALLENGE) must belong to an order
   * whose current attempt is that charge's and is still being paid; anything else is a hold on the buyer's card that
   * no step will ever capture or void.
   */
  async function openAuthorizations(): Promise<string[]> {
    if (!acquirer) return [];
    const open = (await acquirer.listCharges()).filter((c) => c.status === 'AUTHORIZED' || c.status === 'CHALLENGE');
    const problems: string[] = [];
    for (const c of open) {
      const [orderId = '', attempt] = c.ref.split(':');
      const r = await load(orderId);
      const paying =
        r !== null &&
        ['AUTHORIZING', 'CHALLENGE', 'CAPTURING', 'VOIDING'].includes(r.step) &&
        String(r.attempt) === attempt &&
        (r.chargeId === null || r.chargeId === c.chargeId);
      if (!paying)
        problems.push(
          `card charge ${c.chargeId} is ${c.status} at the acquirer, but order ${orderId} ` +
            `is ${r ? `${r.step} at attempt ${r.attempt}` : 'unknown'}: no step will capture or void it`,
        );
    }
    return problems;
  }

  async function history(orderId: string) {
    return (await db.query(`SELECT * FROM buyflow_order_steps WHERE order_id = $1 ORDER BY id`, [orderId])).rows.map(
      (h: DbRow) => ({
        from: h.from_step as Step,
        to: h.to_step as Step,
        subStatus: h.sub_status as SubStatus,
        errorCode: h.error_code as string | null,
        at: Number(h.at),
      }),
    );
  }

  return {
    transition,
    advance,
    runOnce,
    lockQuote,
    confirm,
    send,
    completeChallenge,
    retryWithdrawal,
    close,
    history,
    load,
    openAuthorizations,
    outboxHandlers: { [WITHDRAWAL_SETTLED_TOPIC]: onWithdrawalSettled } as Record<string, OutboxHandler>,
  };
}
