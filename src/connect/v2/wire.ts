import { stringify } from '../../platform/json.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import { WEBHOOK_TOPIC, type WebhookPayload } from '../../platform/outbox/webhook-family.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { ConnectOrder, SubStatus } from '../orders/store.ts';

/**
 * Generation 2's projection of the one Connect order (binance-connect-v2.md §5, §8, §12.3): the integer status, the
 * order object `order` returns, and the `connect_order_event` webhook, whose body is that object plus its event type.
 */
export const GEN2_FAMILY = 'connect2';

/** §5.1 statuses Rampart produces. */
export const STATUS = {
  INIT: 0,
  ON_RAMP_PROCESSING: 1,
  ON_RAMP_COMPLETED: 2,
  WITHDRAW_INIT: 10,
  WITHDRAW_PROCESSING: 11,
  COMPLETED: 20,
  WITHDRAW_ABANDONED: 96,
  ON_RAMP_FAILED: 97,
  WITHDRAW_FAILED: 98,
  FAILED: 99,
} as const;

/** The forward path of a buy (§5.3); a move forward along it passes every status between, one webhook each. */
const FORWARD: readonly number[] = [0, 1, 2, 10, 11, 20];
/** A send (§10.4) has no purchase: 0 → 10 → 11 → 20. */
const FORWARD_SEND: readonly number[] = [0, 10, 11, 20];

/** A send-primary order that has not fallen back to a purchase: type 3, businessType 3 (§10.4). */
export const isSendOrder = (o: ConnectOrder) =>
  o.gen2?.customization.SEND_PRIMARY === true && o.gen2.sendFellBack !== true;
export const isFinalStatus = (s: number) => s >= 20;

/** Failures of the payment or the purchase: ON_RAMP_FAILED (97); the rest of the failures are FAILED (99). */
export const ON_RAMP_ERRORS = new Set([
  'CARD_NOT_SUPPORTED',
  'CARD_DECLINED',
  'INSUFFICIENT_FUNDS',
  'THREE_DS_FAILED',
  'QUOTE_EXPIRED',
  'PURCHASE_FAILED',
]);

/**
 * §12.3: the gen-2 status of an internal state. WITHDRAW_PROCESSING shows 10 until the withdrawal is queued on the
 * chain (then 11, see `withdrawalQueued` in the order service). A gen-2 order whose withdrawal failed after the
 * automatic attempts is final (98): the crypto stays in the user's account and the order offers no later retry.
 */
export function gen2StatusOf(o: { subStatus: SubStatus; errorCode: string | null }): number {
  switch (o.subStatus) {
    case 'CREATED':
    case 'KYC_REVIEW':
    case 'PAYMENT_PROCESSING':
      return STATUS.INIT;
    case 'PURCHASE_PROCESSING':
      return STATUS.ON_RAMP_PROCESSING;
    case 'WITHDRAW_PROCESSING':
      return STATUS.WITHDRAW_INIT;
    case 'WITHDRAW_FAILED':
      return STATUS.WITHDRAW_FAILED;
    case 'COMPLETED':
      return STATUS.COMPLETED;
    case 'FAILED':
      if (o.errorCode === 'WITHDRAW_FAILED') return STATUS.WITHDRAW_FAILED;
      if (o.errorCode === 'KEPT_IN_ACCOUNT') return STATUS.WITHDRAW_ABANDONED;
      return o.errorCode !== null && ON_RAMP_ERRORS.has(o.errorCode) ? STATUS.ON_RAMP_FAILED : STATUS.FAILED;
  }
}

/**
 * The statuses a move from `from` to `to` publishes, in order: every status between on the forward path, or just
 * `to` for a failure; nothing when the move is not forward (a declined card returning the order to method choice, a
 * final status reached already).
 */
export function gen2Path(from: number, to: number, send = false): number[] {
  if (from === to || isFinalStatus(from)) return [];
  const forward = send ? FORWARD_SEND : FORWARD;
  const a = forward.indexOf(from);
  const b = forward.indexOf(to);
  // A status off this path (never expected) moves only to `to`: a path is never replayed from its start.
  if (a < 0) return [to];
  // Kept in the account (96) follows the purchase (2): a move to it from before 2 passes 2 first.
  if (to === STATUS.WITHDRAW_ABANDONED && !send && a < FORWARD.indexOf(STATUS.ON_RAMP_COMPLETED))
    return [...forward.slice(a + 1, forward.indexOf(STATUS.ON_RAMP_COMPLETED) + 1), to];
  if (b >= 0) return b > a ? forward.slice(a + 1, b + 1) : [];
  return [to];
}

/**
 * The order as `order` returns it (§4.8): the §8 body without webhookEventType. Amounts are JSON strings; times are
 * ms. `status` may be given to describe one step of a forward move (each webhook carries its own status).
 */
export function wireOrder2(o: ConnectOrder, opts: { orderDetailLink: string; status?: number }) {
  const g = o.gen2!;
  const status = opts.status ?? o.gen2Status ?? STATUS.INIT;
  // The method is the page's card flow once the order has left INIT; before that, what the partner pre-selected.
  const send = isSendOrder(o);
  const paid = !send && status !== STATUS.INIT && status !== STATUS.FAILED;
  return {
    externalOrderId: o.merchantOrderId,
    type: send ? 3 : 1,
    businessType: send ? 3 : 1,
    status,
    payMethodCode: paid ? 'BUY_CARD' : g.payMethodCode,
    payMethodSubCode: paid ? 'card' : g.payMethodSubCode,
    fiatCurrency: o.fiatCurrency,
    cryptoCurrency: o.cryptoCurrency,
    openUserId: o.openUserId,
    // A send pays no fiat (§8: "0" for send).
    fiatAmount: send ? '0' : o.orderAmount,
    cryptoAmount: o.obtainAmount,
    // A send charges no platform fee.
    feeAmount: send ? '0' : g.feeUsd,
    feeCurrency: 'USD',
    // Decision (§8): partners have no revenue share configured in Rampart yet.
    revenueAmount: '0',
    revenueCurrency: 'USD',
    networkFee: o.networkFee,
    withdrawWalletAddress: o.cryptoAddress,
    withdrawNetwork: o.cryptoNetwork,
    withdrawMemo: o.cryptoAddressMemo,
    withdrawTxHash: o.withdrawTxHash,
    orderDetailLink: opts.orderDetailLink,
    orderTime: o.createdAt,
    completionTime: isFinalStatus(status) ? (o.completedAt ?? o.updatedAt) : null,
    updateTime: o.updatedAt,
    userData: g.userData,
  };
}

/** Queues one `connect_order_event` per published status in the caller's transaction (one order's events in order). */
export async function enqueueGen2Events(
  outbox: Outbox,
  q: Queryable,
  o: ConnectOrder,
  statuses: number[],
  to: { webhookUrl: string | null; clientId: string; orderDetailLink: string },
) {
  if (!to.webhookUrl) return;
  for (const status of statuses) {
    const payload: WebhookPayload = {
      family: GEN2_FAMILY,
      url: to.webhookUrl,
      body: stringify({
        webhookEventType: 'connect_order_event',
        ...wireOrder2(o, { orderDetailLink: to.orderDetailLink, status }),
      }),
      bizType: 'CONNECT_ORDER',
      bizId: o.orderId,
      bizStatus: String(status),
      ownerId: o.partnerCode,
      recipient: to.clientId,
    };
    await outbox.enqueue(q, { topic: WEBHOOK_TOPIC, orderingKey: `connect-order:${o.orderId}`, payload });
  }
}
