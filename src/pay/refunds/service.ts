import type { Clock } from '../../platform/clock.ts';
import { onlyRow, type Db, type DbRow, type Queryable } from '../../platform/db/client.ts';
import { DomainError, err, errorField, ok, type Result } from '../../platform/errors.ts';
import type { AccountRef, Ledger } from '../../platform/ledger/service.ts';
import { raw } from '../../platform/json.ts';
import { Decimal, fixed } from '../../platform/money.ts';
import type { Outbox, OutboxHandler } from '../../platform/outbox/service.ts';
import { num8 } from '../events.ts';
import type { AccountsService } from '../../accounts/service.ts';
import { createOrderTransitions, lockOrder, type Order, type OrderStatus } from '../orders/state.ts';

/**
 * Binance Pay refunds (binance-pay.md §4.5, §4.6, §5).
 *
 * Accepting a refund is one transaction under a lock on the order row: the rules in the spec's order,
 * a ledger hold on the merchant's balance, the refund row, order → REFUNDING and an outbox row on
 * REFUND_TOPIC. Completion is asynchronous: the outbox handler posts the hold (REFUND_SUCCESS) or voids
 * it (REFUND_REJECTED), moves the order on, and queues the PAY_REFUND webhook, again in one transaction.
 *
 * Money: the merchant's account in the order currency is debited by the full refund amount and the
 * payer's account in the order currency is credited. The platform's commission on the payment is not
 * returned. An order paid in another asset (converted at payment time) is still refunded in the order
 * currency, to the payer's account of that currency: no conversion back, so no price risk at refund time.
 *
 * Rejection: holds reserve the funds, so posting cannot fail for lack of money. In sandbox mode a refund
 * whose refundReason is exactly SANDBOX_REJECT_REASON is rejected, so integrators can exercise the
 * REFUND_REJECTED path; in production no refund is rejected after acceptance.
 */
export const REFUND_TOPIC = 'pay.refund';
const MAX_REFUND_ATTEMPTS = 10;
const SANDBOX_REJECT_REASON = 'SANDBOX_REJECT';

type RefundStatus = 'PENDING' | 'SUCCESS' | 'REJECTED';

interface Refund {
  refundId: string;
  merchantId: string;
  refundRequestId: string;
  prepayId: string;
  status: RefundStatus;
  currency: string;
  requestedAmount: string;
  refundAmount: string;
  orderAmount: string;
  refundedAmount: string;
  remainingAttempts: number;
  payerOpenId: string | null;
  refundReason: string | null;
  webhookUrl: string | null;
  createdAt: number;
  completedAt: number | null;
}

interface RefundRequest {
  refundRequestId: string;
  prepayId: string;
  refundAmount: string;
  refundReason?: string | null;
  webhookUrl?: string | null;
}

export type RefundError =
  | 'FIELD_VALUE'
  | 'INVALID_PREPAY_ID'
  | 'INVALID_ORDER_STATUS'
  | 'TOO_MANY_REFUND_ATTEMPTS'
  | 'INVALID_REFUND_AMOUNT'
  | 'INSUFFICIENT_FUNDS'
  | 'REFUND_NOT_FOUND';

const REFUNDABLE_STATUSES: OrderStatus[] = ['PAID', 'REFUNDING', 'REFUNDED'];
const MAX_PREPAY_ID = (1n << 63n) - 1n;

function toRefund(r: DbRow): Refund {
  return {
    refundId: String(r.refund_id),
    merchantId: String(r.merchant_id),
    refundRequestId: r.refund_request_id,
    prepayId: String(r.prepay_id),
    status: r.status,
    currency: r.currency,
    requestedAmount: fixed(r.requested_amount, 8),
    refundAmount: fixed(r.refund_amount, 8),
    orderAmount: fixed(r.order_amount, 8),
    refundedAmount: fixed(r.refunded_amount, 8),
    remainingAttempts: Number(r.remaining_attempts),
    payerOpenId: r.payer_open_id,
    refundReason: r.refund_reason,
    webhookUrl: r.webhook_url,
    createdAt: Number(r.created_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
  };
}

/** Per-order refund totals; only ≤ 10 rows per order, so summing them is cheap. */
export async function orderTotals(q: Queryable, prepayId: string) {
  const r = onlyRow(
    await q.query<{ attempts: bigint; succeeded: string | null; pending: string | null; pending_count: bigint }>(
      `SELECT count(*) AS attempts,
       sum(refund_amount) FILTER (WHERE status = 'SUCCESS') AS succeeded,
       sum(refund_amount) FILTER (WHERE status = 'PENDING') AS pending,
       count(*) FILTER (WHERE status = 'PENDING') AS pending_count
     FROM pay_refunds WHERE prepay_id = $1`,
      [prepayId],
    ),
  );
  return {
    attempts: Number(r.attempts),
    succeeded: new Decimal(r.succeeded ?? 0),
    pending: new Decimal(r.pending ?? 0),
    pendingCount: Number(r.pending_count),
  };
}

export function createRefundService(deps: {
  db: Db;
  clock: Clock;
  ledger: Ledger;
  outbox: Outbox;
  accounts: AccountsService;
  sandbox: boolean;
}) {
  const { db, clock, ledger, outbox } = deps;
  // The order's table belongs to the orders module: refunds lock an order and move its status through it.
  const orders = { lock: lockOrder, ...createOrderTransitions({ outbox, accounts: deps.accounts }) };

  const findByRequestId = async (q: Queryable, merchantId: string, refundRequestId: string) =>
    (
      await q.query(`SELECT * FROM pay_refunds WHERE merchant_id = $1 AND refund_request_id = $2`, [
        merchantId,
        refundRequestId,
      ])
    ).rows[0];

  /** Rule 1: a used refundRequestId replays its stored result, unless it came with different parameters. */
  function replay(row: DbRow, input: RefundRequest): Result<{ refund: Refund; duplicate: boolean }, RefundError> {
    const refund = toRefund(row);
    if (refund.prepayId !== input.prepayId || !new Decimal(refund.requestedAmount).eq(input.refundAmount)) {
      return err('FIELD_VALUE', 'refundRequestId was already used with different parameters.');
    }
    return ok({ refund, duplicate: true });
  }

  async function accept(
    merchantId: string,
    input: RefundRequest,
  ): Promise<Result<{ refund: Refund; duplicate: boolean }, RefundError>> {
    return db.tx(async (q) => {
      const used = await findByRequestId(q, merchantId, input.refundRequestId);
      if (used) return replay(used, input);
      if (!/^\d{1,19}$/.test(input.prepayId) || BigInt(input.prepayId) > MAX_PREPAY_ID) return err('INVALID_PREPAY_ID');
      // The order row lock serializes every refund of one order: totals read below cannot change under us.
      const order = await orders.lock(q, input.prepayId, merchantId);
      if (!order) return err('INVALID_PREPAY_ID');
      // A concurrent request with the same id may have committed while we waited for the lock.
      const usedMeanwhile = await findByRequestId(q, merchantId, input.refundRequestId);
      if (usedMeanwhile) return replay(usedMeanwhile, input);
      if (!REFUNDABLE_STATUSES.includes(order.status)) return err('INVALID_ORDER_STATUS');
      const totals = await orderTotals(q, input.prepayId);
      if (totals.attempts >= MAX_REFUND_ATTEMPTS) return err('TOO_MANY_REFUND_ATTEMPTS');
      const orderAmount = new Decimal(order.orderAmount);
      const refundable = orderAmount.minus(totals.succeeded).minus(totals.pending);
      const lastAttempt = totals.attempts === MAX_REFUND_ATTEMPTS - 1;
      const amount = lastAttempt ? refundable : new Decimal(input.refundAmount);
      if (amount.lte(0) || amount.gt(refundable)) return err('INVALID_REFUND_AMOUNT');

      const refundId = String(onlyRow(await q.query<{ id: bigint }>(`SELECT nextval('pay_refund_id_seq') AS id`)).id);
      const holdId = `pay.refund:${refundId}`;
      const merchant: AccountRef = { ownerType: 'merchant', ownerId: merchantId, asset: order.currency };
      // An order paid on chain by nobody logged in (src/pay/onchain) is refunded into its escrow account, a credit the
      // operator sends back to an address.
      const payer: AccountRef =
        order.payerId === null
          ? { ownerType: 'pay_order', ownerId: input.prepayId, asset: order.currency }
          : { ownerType: 'payer', ownerId: order.payerId, asset: order.currency };
      // Throws INSUFFICIENT_FUNDS when the merchant's available balance is short; that rolls everything back.
      await ledger.hold(q, {
        id: holdId,
        debit: merchant,
        credit: payer,
        amount: amount.toFixed(8),
        kind: 'pay.refund',
        ref: input.prepayId,
      });

      const attemptNo = totals.attempts + 1;
      const row = (
        await q.query(
          `INSERT INTO pay_refunds (refund_id, merchant_id, refund_request_id, prepay_id, attempt_no, status, currency,
            requested_amount,
           refund_amount, order_amount, refunded_amount, remaining_attempts, payer_open_id, refund_reason, webhook_url,
           hold_id, created_at)
         VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *`,
          [
            refundId,
            merchantId,
            input.refundRequestId,
            input.prepayId,
            attemptNo,
            order.currency,
            input.refundAmount,
            amount.toFixed(8),
            order.orderAmount,
            totals.succeeded.plus(totals.pending).plus(amount).toFixed(8),
            MAX_REFUND_ATTEMPTS - attemptNo,
            order.openUserId,
            input.refundReason ?? null,
            input.webhookUrl ?? null,
            holdId,
            clock.now(),
          ],
        )
      ).rows[0];
      const moved = await orders.transition(q, {
        prepayId: input.prepayId,
        to: 'REFUNDING',
        from: REFUNDABLE_STATUSES,
      });
      if (!moved) throw new Error(`order ${input.prepayId} left a refundable status while locked`);
      await outbox.enqueue(q, { topic: REFUND_TOPIC, payload: { refundId } });
      return ok({ refund: toRefund(row), duplicate: false });
    });
  }

  /** Posts or voids one pending refund's hold, moves the order on and queues PAY_REFUND. Idempotent. */
  async function complete(refundId: string): Promise<RefundStatus | null> {
    return db.tx(async (q) => {
      const head = (await q.query(`SELECT prepay_id FROM pay_refunds WHERE refund_id = $1`, [refundId])).rows[0];
      if (!head) return null;
      // Same lock order as accept (order row first), so the two never deadlock.
      const order = await orders.lock(q, String(head.prepay_id));
      if (!order) throw new Error(`refund ${refundId} has no order`);
      const pending = (
        await q.query(`SELECT * FROM pay_refunds WHERE refund_id = $1 AND status = 'PENDING'`, [refundId])
      ).rows[0];
      if (!pending) return null;
      const rejected = deps.sandbox && pending.refund_reason === SANDBOX_REJECT_REASON;
      const outcome: RefundStatus = rejected ? 'REJECTED' : 'SUCCESS';
      const done = await q.query(
        `UPDATE pay_refunds SET status = $2, completed_at = $3 WHERE refund_id = $1 AND status = 'PENDING' RETURNING *`,
        [refundId, outcome, clock.now()],
      );
      if (done.rowCount !== 1) return null;
      if (rejected) await ledger.voidHold(q, pending.hold_id);
      else await ledger.postHold(q, pending.hold_id);

      const totals = await orderTotals(q, order.prepayId);
      const next: OrderStatus =
        totals.pendingCount > 0
          ? 'REFUNDING'
          : totals.succeeded.eq(order.orderAmount)
            ? 'FULL_REFUNDED'
            : totals.succeeded.gt(0)
              ? 'REFUNDED'
              : 'PAID';
      const refund = toRefund(done.rows[0]);
      // The order's move writes the PAY_REFUND webhook with it.
      const moved = await orders.transition(q, {
        prepayId: order.prepayId,
        to: next,
        refund: {
          bizStatus: rejected ? 'REFUND_REJECTED' : 'REFUND_SUCCESS',
          webhookUrl: refund.webhookUrl,
          data: (o) => refundEventData(o, refund),
        },
      });
      if (!moved)
        throw new DomainError('INVALID_ORDER_STATUS', `order ${order.prepayId} is ${order.status}, not REFUNDING`);
      return outcome;
    });
  }

  const handler: OutboxHandler = async (row) => {
    await complete(String((row.payload as { refundId: string }).refundId));
    return { status: 'done' };
  };

  return {
    /**
     * POST /order/refund. Returns the stored result (duplicate) for a used refundRequestId.
     * A unique-key race between two first uses of one refundRequestId on different orders is retried once,
     * and then sees the winner's row.
     */
    async refund(
      merchantId: string,
      input: RefundRequest,
    ): Promise<Result<{ refund: Refund; duplicate: boolean }, RefundError>> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await accept(merchantId, input);
        } catch (e) {
          if (e instanceof DomainError && e.code === 'INSUFFICIENT_FUNDS') return err('INSUFFICIENT_FUNDS');
          if (errorField(e, 'code') === '23505' && attempt === 0) continue;
          throw e;
        }
      }
    },

    async get(merchantId: string, refundRequestId: string): Promise<Result<Refund, RefundError>> {
      const row = await findByRequestId(db, merchantId, refundRequestId);
      return row ? ok(toRefund(row)) : err('REFUND_NOT_FOUND', 'Refund not found.');
    },

    /** An order's refunds, oldest first (at most MAX_REFUND_ATTEMPTS): what the dashboard's order page lists. */
    async listForOrder(merchantId: string, prepayId: string): Promise<Refund[]> {
      const rows = await db.query(
        `SELECT * FROM pay_refunds WHERE merchant_id = $1 AND prepay_id = $2 ORDER BY created_at, refund_id`,
        [merchantId, prepayId],
      );
      return rows.rows.map(toRefund);
    },

    complete,
    /** Outbox handler for REFUND_TOPIC. */
    handler,
  };
}

export type RefundService = ReturnType<typeof createRefundService>;

/** PAY_REFUND webhook data (spec §6.5): the order's fields plus the refund result as refundInfo. */
function refundEventData(order: Order, refund: Refund): Record<string, unknown> {
  return {
    merchantTradeNo: order.merchantTradeNo,
    productType: order.productType,
    productName: order.productName,
    tradeType: order.terminalType,
    totalFee: num8(order.orderAmount),
    currency: order.currency,
    // The order's payment time: the refund's own time is not part of the published data.
    transactTime: order.transactTime ?? undefined,
    commission: num8(order.commission),
    openUserId: order.openUserId ?? undefined,
    // refundInfo is RefundResult without refundId (§6.5 lists its fields).
    refundInfo: (({ refundId: _id, ...info }) => info)(refundResult(refund, false)),
  };
}

/** RefundResult (spec §4.5 `data`); `duplicate` null leaves duplicateRequest out (query refund, §4.6). */
export function refundResult(r: Refund, duplicate: boolean | null): Record<string, unknown> {
  return {
    refundId: raw(r.refundId),
    refundRequestId: r.refundRequestId,
    prepayId: r.prepayId,
    orderAmount: r.orderAmount,
    refundedAmount: r.refundedAmount,
    refundAmount: r.refundAmount,
    remainingAttempts: r.remainingAttempts,
    payerOpenId: r.payerOpenId,
    ...(duplicate === null ? {} : { duplicateRequest: duplicate ? 'Y' : 'N' }),
  };
}
