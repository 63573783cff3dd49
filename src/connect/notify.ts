import { randomHex } from '../platform/crypto.ts';
import type { Queryable } from '../platform/db/client.ts';
import { raw, stringify } from '../platform/json.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import {
  isReturnCodeSuccess,
  WEBHOOK_TOPIC,
  type WebhookFamily,
  type WebhookPayload,
} from '../platform/outbox/webhook-family.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import type { ConnectOrder } from './orders/store.ts';
import { PLATFORM_KEY_PURPOSE } from './partners.ts';

/**
 * Order-status webhooks (binance-connect.md §7) as a family of the shared delivery engine. The body is built
 * once when the status change commits; each attempt signs `rawBody + timestamp` (plain concatenation) with the
 * platform's 'connect' RSA key, the one handed to the partner at onboarding. Ack: 2xx with returnCode SUCCESS.
 */
export const CONNECT_FAMILY = 'connect';
const CONNECT_WEBHOOK_RETRY_DELAYS_MS = [15_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];

export function createConnectWebhookFamily(deps: { signingKeys: SigningKeys }): WebhookFamily {
  return {
    async sign(body) {
      const key = await deps.signingKeys.current(PLATFORM_KEY_PURPOSE);
      // Receivers compare against their own real clock: wall time, not the business clock.
      const timestamp = String(Date.now());
      let merchantCode = '';
      try {
        merchantCode = String((JSON.parse(body) as { merchantCode?: unknown }).merchantCode ?? '');
      } catch {
        // bodies are built by this module; an unparsable one is still sent, just without the header value
      }
      return {
        'Content-Type': 'application/json',
        'X-BN-Connect-Timestamp': timestamp,
        'X-BN-Connect-Signature': key.sign(body + timestamp),
        'X-BN-Connect-For': merchantCode,
      };
    },
    isAck: isReturnCodeSuccess,
    retryDelaysMs: CONNECT_WEBHOOK_RETRY_DELAYS_MS,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The §4.5 item: what query-order-list returns and every webhook carries. */
export function wireOrderItem(o: ConnectOrder) {
  return {
    connectOrderId: o.orderId,
    merchantCode: o.partnerCode,
    merchantOrderId: o.merchantOrderId,
    merchantUserId: o.merchantUserId,
    businessType: o.businessType,
    baseCurrency: o.fiatCurrency,
    fiatCurrency: o.fiatCurrency,
    cryptoCurrency: o.cryptoCurrency,
    cryptoNetwork: o.cryptoNetwork,
    cryptoAddress: o.cryptoAddress,
    cryptoAddressMemo: o.cryptoAddressMemo,
    orderAmount: raw(o.orderAmount),
    executePrice: raw(o.executePrice),
    userFee: raw(o.userFee),
    chainSettlementFee: raw(o.networkFee),
    obtainAmount: raw(o.obtainAmount),
    orderMainStatus: o.mainStatus,
    orderSubStatus: o.subStatus,
    errorCode: o.errorCode,
    errorReason: o.errorReason,
    withdrawTxHash: o.withdrawTxHash,
    createTime: iso(o.createdAt),
    updateTime: iso(o.updatedAt),
  };
}

function orderEventBody(o: ConnectOrder, eventId = `ev_${randomHex(16)}`): string {
  return stringify({ webhookEventType: 'connect_order_event', eventId, ...wireOrderItem(o) });
}

/** Queues one order-status event in the caller's transaction; events of one order are delivered in order. */
export async function enqueueOrderEvent(outbox: Outbox, q: Queryable, o: ConnectOrder, webhookUrl: string | null) {
  if (!webhookUrl) return null;
  const payload: WebhookPayload = {
    family: CONNECT_FAMILY,
    url: webhookUrl,
    body: orderEventBody(o),
    bizType: 'CONNECT_ORDER',
    bizId: o.orderId,
    bizStatus: `${o.mainStatus}/${o.subStatus}`,
    ownerId: o.partnerCode,
  };
  return outbox.enqueue(q, { topic: WEBHOOK_TOPIC, orderingKey: `connect-order:${o.orderId}`, payload });
}
