import type { AccountsService } from '../../accounts/service.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { raw } from '../../platform/json.ts';
import { Decimal, fixed } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import { FIAT_MINOR_UNITS } from '../../prices/service.ts';
import { enqueuePayWebhook, num8 } from '../events.ts';
import type { DbRow } from '../../platform/db/client.ts';

/**
 * The Binance Pay order (binance-pay.md §4.4, §4.5): its row, its statuses, and the one way a status changes.
 *
 *   INITIAL ──pay──▶ PENDING ──▶ PAID ──refund──▶ REFUNDING ──▶ REFUNDED ──refund──▶ REFUNDING
 *      │               │                            │  ▲ ╲──▶ FULL_REFUNDED
 *      ├─close─▶ CANCELED                           │  └─┘ (another refund accepted or settled, others in flight)
 *      └─expire─▶ EXPIRED                           └──▶ PAID (every refund rejected)
 *                  PENDING ──grace over──▶ ERROR
 *
 * PENDING only lives inside the payment's transaction (it is the claim that lets exactly one payer proceed); an
 * order seen PENDING after a crash becomes ERROR once the grace period is over.
 */
export const ORDER_STATUSES = [
  'INITIAL',
  'PENDING',
  'PAID',
  'CANCELED',
  'EXPIRED',
  'ERROR',
  'REFUNDING',
  'REFUNDED',
  'FULL_REFUNDED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Which status may follow which. Every change is one conditional update from one of these (see transition). */
export const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  INITIAL: ['PENDING', 'CANCELED', 'EXPIRED'],
  PENDING: ['PAID', 'ERROR'],
  PAID: ['REFUNDING'],
  // Staying REFUNDING is a transition too: the conditional update is what proves the order still is REFUNDING.
  REFUNDING: ['REFUNDING', 'REFUNDED', 'FULL_REFUNDED', 'PAID'],
  REFUNDED: ['REFUNDING'],
  CANCELED: [],
  EXPIRED: [],
  ERROR: [],
  FULL_REFUNDED: [],
};

/** Statuses an order may be in to move to `to`, by the table. */
const allowedFrom = (to: OrderStatus): OrderStatus[] => ORDER_STATUSES.filter((from) => TRANSITIONS[from].includes(to));

/** Moves that close an unpaid order; each sends PAY_CLOSED. */
const CLOSING: readonly OrderStatus[] = ['CANCELED', 'EXPIRED', 'ERROR'];

export interface Order {
  prepayId: string;
  merchantId: string;
  creatorMerchantId: string;
  merchantTradeNo: string;
  apiVersion: 'v1' | 'v2' | 'v3';
  status: OrderStatus;
  terminalType: string;
  currency: string;
  orderAmount: string;
  fiatCurrency: string | null;
  fiatAmount: string | null;
  description: string | null;
  goods: unknown[];
  productType: string;
  productName: string;
  productDetail: string | null;
  supportPayCurrency: string[];
  returnUrl: string | null;
  cancelUrl: string | null;
  webhookUrl: string | null;
  passThroughInfo: string | null;
  universalUrlAttach: string | null;
  checkoutToken: string;
  createTime: number;
  expireTime: number;
  transactTime: number | null;
  transactionId: string | null;
  payerId: string | null;
  openUserId: string | null;
  commission: string | null;
  paymentInfo: {
    /** Absent for an on-chain payment by nobody logged in. */
    payerId?: string;
    payMethod: string;
    paymentInstructions: { currency: string; amount: string; price: string }[];
    /** On-chain payments (payMethod ONCHAIN): the network and the transactions that paid. */
    network?: string;
    transactions?: string[];
  } | null;
  closedTime: number | null;
  /** The channel partner's sub-merchant the order is tagged with (binance-pay-extended.md §12.4), or null. */
  subMerchantId: string | null;
}

export function toOrder(r: DbRow): Order {
  return {
    prepayId: String(r.prepay_id),
    merchantId: String(r.merchant_id),
    creatorMerchantId: String(r.creator_merchant_id),
    merchantTradeNo: r.merchant_trade_no,
    apiVersion: r.api_version,
    status: r.status,
    terminalType: r.terminal_type,
    currency: r.currency,
    orderAmount: fixed(r.order_amount, 8),
    fiatCurrency: r.fiat_currency,
    fiatAmount: r.fiat_amount === null ? null : fixed(r.fiat_amount, FIAT_MINOR_UNITS[r.fiat_currency] ?? 2),
    description: r.description,
    goods: r.goods,
    productType: r.product_type,
    productName: r.product_name,
    productDetail: r.product_detail,
    supportPayCurrency: r.support_pay_currency ? String(r.support_pay_currency).split(',') : [],
    returnUrl: r.return_url,
    cancelUrl: r.cancel_url,
    webhookUrl: r.webhook_url,
    passThroughInfo: r.pass_through_info,
    universalUrlAttach: r.universal_url_attach,
    checkoutToken: r.checkout_token,
    createTime: Number(r.create_time),
    expireTime: Number(r.expire_time),
    transactTime: r.transact_time === null ? null : Number(r.transact_time),
    transactionId: r.transaction_id,
    payerId: r.payer_id === null ? null : String(r.payer_id),
    openUserId: r.open_user_id,
    commission: r.commission === null ? null : fixed(r.commission, 8),
    paymentInfo: r.payment_info,
    closedTime: r.closed_time === null ? null : Number(r.closed_time),
    subMerchantId: r.sub_merchant_id === null || r.sub_merchant_id === undefined ? null : String(r.sub_merchant_id),
  };
}

/**
 * The order locked for the rest of the caller's transaction (FOR UPDATE), so that, e.g., every refund of one order is
 * serialized; with merchantId, only that merchant's order.
 */
export async function lockOrder(
  q: Queryable,
  prepayId: string,
  merchantId: string | null = null,
): Promise<Order | null> {
  const row = (
    await q.query(
      `SELECT * FROM pay_orders WHERE prepay_id = $1 AND ($2::bigint IS NULL OR merchant_id = $2) FOR UPDATE`,
      [prepayId, merchantId],
    )
  ).rows[0];
  return row ? toOrder(row) : null;
}

/** paymentInfo with the wire's number types: payerId long, amounts 8-dp numbers (on-chain: network, transactions). */
export function wirePaymentInfo(p: NonNullable<Order['paymentInfo']>) {
  return {
    payerId: p.payerId === undefined ? undefined : raw(p.payerId),
    payMethod: p.payMethod,
    paymentInstructions: p.paymentInstructions.map((i) => ({
      currency: i.currency,
      amount: num8(i.amount),
      price: raw(new Decimal(i.price).toFixed()),
    })),
    network: p.network,
    transactions: p.transactions,
  };
}

/** PAY webhook data (spec §6.5); built from the order as committed. */
function payEventData(o: Order, bizStatus: 'PAY_SUCCESS' | 'PAY_CLOSED'): Record<string, unknown> {
  return {
    merchantTradeNo: o.merchantTradeNo,
    productType: o.productType,
    productName: o.productName,
    transactTime: bizStatus === 'PAY_SUCCESS' ? o.transactTime : o.closedTime,
    tradeType: o.terminalType,
    totalFee: num8(o.orderAmount),
    currency: o.currency,
    transactionId: bizStatus === 'PAY_SUCCESS' ? o.transactionId : undefined,
    openUserId: o.openUserId ?? undefined,
    passThroughInfo: o.passThroughInfo ?? undefined,
    commission: num8(bizStatus === 'PAY_SUCCESS' ? o.commission : '0'),
    paymentInfo: bizStatus === 'PAY_SUCCESS' && o.paymentInfo ? wirePaymentInfo(o.paymentInfo) : undefined,
  };
}

/** Columns a transition may write besides the status. */
type SettableColumn =
  'closed_time' | 'transact_time' | 'transaction_id' | 'payer_id' | 'open_user_id' | 'commission' | 'payment_info';

export interface OrderTransition {
  prepayId: string;
  to: OrderStatus;
  /**
   * The statuses the order may be in, each allowed by TRANSITIONS to move to `to`. Default: all of them, except
   * that leaving REFUNDING is always a refund settling (pass `refund`) and a refund settling only leaves REFUNDING.
   */
  from?: readonly OrderStatus[];
  set?: Partial<Record<SettableColumn, unknown>>;
  /** Only if the order's expireTime is after this time (the payer's claim). */
  unexpiredAt?: number;
  /**
   * The refund settled with this move: the event is its PAY_REFUND (spec §6.5), to the refund's webhookUrl if it had
   * one.
   */
  refund?: {
    bizStatus: 'REFUND_SUCCESS' | 'REFUND_REJECTED';
    webhookUrl: string | null;
    data: (o: Order) => Record<string, unknown>;
  };
}

/** The statuses a transition applies from, checked against the table; a mismatch is a bug in the caller. */
function sources(t: OrderTransition): OrderStatus[] {
  const allowed = allowedFrom(t.to);
  const settling = t.refund !== undefined;
  const from = t.from
    ? [...t.from]
    : allowed.filter((f) => (settling ? f === 'REFUNDING' : f !== 'REFUNDING' || t.to === 'REFUNDING'));
  for (const f of from) {
    if (!allowed.includes(f)) throw new Error(`illegal pay order transition ${f} → ${t.to}`);
    if (settling ? f !== 'REFUNDING' : f === 'REFUNDING' && t.to !== 'REFUNDING') {
      throw new Error(
        `pay order transition ${f} → ${t.to} ${settling ? 'cannot settle a refund' : 'must settle a refund'}`,
      );
    }
  }
  if (from.length === 0) throw new Error(`no pay order status may move to ${t.to}`);
  return from;
}

/**
 * The one writer of pay_orders.status. `transition(q, t)` applies one conditional update (`… WHERE status =
 * ANY(from)`), so of two concurrent moves from one status exactly one wins, and in the same transaction `q` writes
 * the event the move causes: PAY_SUCCESS on payment, PAY_CLOSED on close, expiry and error, the refund's PAY_REFUND
 * when a refund settles. Returns the order as updated, or null (nothing changed) when it was in no `from` status.
 */
/**
 * What another Pay area attaches to the end of an order's life, inside the transaction of the change: direct debit
 * (binance-pay-extended.md §14.9, a contract signed by paying, expired when the order closes unpaid), merchant QR codes
 * (§17.3). Called after the order's own PAY webhook is queued.
 */
export interface OrderLifeHooks {
  /** The order became PAID. */
  onPaid?(q: Queryable, order: Order): Promise<void>;
  /** The order closed unpaid: CANCELED, EXPIRED or ERROR. */
  onClosed?(q: Queryable, order: Order): Promise<void>;
}

export function createOrderTransitions(deps: { outbox: Outbox; accounts: AccountsService; hooks?: OrderLifeHooks[] }) {
  const { outbox, accounts } = deps;
  const hooks = deps.hooks ?? [];

  /** Where an order's webhooks go: its own webhookUrl, else its creator's. */
  async function webhookTarget(q: Queryable, order: Order): Promise<string | null> {
    if (order.webhookUrl) return order.webhookUrl;
    const creator = await accounts.getMerchant(order.creatorMerchantId, q);
    return creator?.webhookUrl ?? null;
  }

  async function transition(q: Queryable, t: OrderTransition): Promise<Order | null> {
    const from = sources(t);
    const cols = Object.keys(t.set ?? {}) as SettableColumn[];
    const values = cols.map((c) => t.set![c]);
    const assignments = cols.map((c, i) => `, ${c} = $${i + 4}`).join('');
    const unexpired = t.unexpiredAt === undefined ? '' : ` AND expire_time > $${cols.length + 4}`;
    const r = await q.query(
      `UPDATE pay_orders SET status = $2${assignments} WHERE prepay_id = $1 AND status = ANY($3::text[])${unexpired}
        RETURNING *`,
      [t.prepayId, t.to, from, ...values, ...(t.unexpiredAt === undefined ? [] : [t.unexpiredAt])],
    );
    if (r.rowCount !== 1) return null;
    const order = toOrder(r.rows[0]);
    const base = { ownerId: order.creatorMerchantId, bizId: order.prepayId };
    if (t.refund) {
      await enqueuePayWebhook(outbox, q, {
        ...base,
        url: t.refund.webhookUrl ?? (await webhookTarget(q, order)),
        bizType: 'PAY_REFUND',
        bizStatus: t.refund.bizStatus,
        data: t.refund.data(order),
      });
    } else if (t.to === 'PAID' || CLOSING.includes(t.to)) {
      const bizStatus = t.to === 'PAID' ? 'PAY_SUCCESS' : 'PAY_CLOSED';
      await enqueuePayWebhook(outbox, q, {
        ...base,
        url: await webhookTarget(q, order),
        bizType: 'PAY',
        bizStatus,
        data: payEventData(order, bizStatus),
      });
      for (const h of hooks) await (t.to === 'PAID' ? h.onPaid : h.onClosed)?.(q, order);
    }
    return order;
  }

  return { transition };
}

export type OrderTransitions = ReturnType<typeof createOrderTransitions>;
