import type { Queryable } from '../platform/db/client.ts';
import { raw, stringify } from '../platform/json.ts';
import { fixed } from '../platform/money.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import type { SecretBox } from '../platform/crypto.ts';
import { redactBody, WEBHOOK_TOPIC, type WebhookPayload } from '../platform/outbox/webhook-family.ts';

/**
 * Binance Pay webhook bodies (binance-pay.md §6). The body is built once, when the event commits, and
 * the exact same bytes are sent on every attempt. `bizId` is written as a raw integer literal.
 */

export function payWebhookBody(
  bizType: string,
  bizId: string,
  bizStatus: string,
  data: Record<string, unknown>,
): string {
  return (
    `{"bizType":${JSON.stringify(bizType)},"bizId":${raw(bizId).text},"bizIdStr":${JSON.stringify(bizId)},` +
    `"bizStatus":${JSON.stringify(bizStatus)},"data":${JSON.stringify(stringify(data))}}`
  );
}

/** Queues a Pay webhook in the caller's transaction; events of one bizId are delivered in order. */
export async function enqueuePayWebhook(
  outbox: Outbox,
  q: Queryable,
  e: {
    url: string | null;
    ownerId: string;
    bizType: string;
    bizId: string;
    bizStatus: string;
    data: Record<string, unknown>;
    /** Secret values in `data`: the body is then stored sealed, and only a redacted copy in clear. */
    secrets?: { values: string[]; box: SecretBox };
  },
) {
  if (!e.url) return null;
  const body = payWebhookBody(e.bizType, e.bizId, e.bizStatus, e.data);
  const payload: WebhookPayload = {
    family: 'pay',
    url: e.url,
    bizType: e.bizType,
    bizId: e.bizId,
    bizStatus: e.bizStatus,
    ownerId: e.ownerId,
    ...(e.secrets ? { body: redactBody(body, e.secrets.values), sealedBody: e.secrets.box.seal(body) } : { body }),
  };
  return outbox.enqueue(q, { topic: WEBHOOK_TOPIC, orderingKey: `pay:${e.bizId}`, payload });
}

export const num8 = (v: string | null | undefined) => raw(fixed(v ?? '0', 8));
