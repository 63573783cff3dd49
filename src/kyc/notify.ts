import type { Db, Queryable } from '../platform/db/client.ts';
import { hmacSha256Hex, type SecretBox } from '../platform/crypto.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { WEBHOOK_TOPIC, type WebhookFamily, type WebhookPayload } from '../platform/outbox/webhook-family.ts';

/**
 * USER-STATUS notifications (kyc-sharing.md §6). The body is built once when the change commits; the
 * delivery engine sends those exact bytes, signed per attempt with the broker's secret (Rampart's addition;
 * brokers may ignore it). Any 2xx acknowledges; retries at +3, +5 and +10 minutes after each failure.
 */
export const KYC_FAMILY = 'kyc';
const KYC_RETRY_DELAYS_MS = [3 * 60_000, 5 * 60_000, 10 * 60_000];

export function createKycWebhookFamily(deps: { db: Db; box: SecretBox }): WebhookFamily {
  return {
    async sign(body): Promise<Record<string, string>> {
      const key = (JSON.parse(body) as { bizEntityKey?: unknown }).bizEntityKey;
      const r = (
        await deps.db.query<{ secret_sealed: string }>(
          `SELECT secret_sealed FROM kyc_brokers WHERE biz_entity_key = $1`,
          [String(key)],
        )
      ).rows[0];
      // A broker deleted since the event committed: send unsigned rather than drop the event.
      if (!r) return { 'content-type': 'application/json' };
      return {
        'content-type': 'application/json',
        'X-SHA2-Signature': hmacSha256Hex(deps.box.open(r.secret_sealed), body),
      };
    },
    isAck: (status) => status >= 200 && status < 300,
    retryDelaysMs: KYC_RETRY_DELAYS_MS,
  };
}

function userStatusBody(
  bizEntityKey: string,
  entityCustomerId: string,
  eventVo: { statusInfo: unknown; levelInfo: unknown },
): string {
  return JSON.stringify({ bizEntityKey, entityCustomerId, kycType: 'USER', eventType: 'USER-STATUS', eventVo });
}

/** Queues one USER-STATUS event in the caller's transaction; events of one KYC record are delivered in order. */
export async function enqueueUserStatus(
  outbox: Outbox,
  q: Queryable,
  e: {
    notifyUrl: string | null;
    recordId: string;
    bizEntityKey: string;
    entityCustomerId: string;
    kycStatus: string;
    eventVo: { statusInfo: unknown; levelInfo: unknown };
  },
) {
  if (!e.notifyUrl || e.notifyUrl === '.') return null;
  const payload: WebhookPayload = {
    family: KYC_FAMILY,
    url: e.notifyUrl,
    body: userStatusBody(e.bizEntityKey, e.entityCustomerId, e.eventVo),
    bizType: 'USER-STATUS',
    bizId: e.recordId,
    bizStatus: e.kycStatus,
    ownerId: e.bizEntityKey,
  };
  return outbox.enqueue(q, { topic: WEBHOOK_TOPIC, orderingKey: `kyc-notify:${e.recordId}`, payload });
}
