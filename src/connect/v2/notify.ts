import { isReturnCodeSuccess, type WebhookFamily } from '../../platform/outbox/webhook-family.ts';
import type { SigningKeys } from '../../platform/signing-keys.ts';
import { PLATFORM_KEY_PURPOSE } from '../partners.ts';

/**
 * Generation 2's `connect_order_event` webhooks (binance-connect-v2.md §8) as a family of the shared delivery engine:
 * each attempt signs `rawBody + timestamp` with the platform's Connect key (the "public key for webhook" handed out at
 * onboarding, the same key as gen-1's), and names the partner's client id in X-BN-Connect-For. The retry schedule is
 * gen-1's (§8 Decision).
 */
const RETRY_DELAYS_MS = [15_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];

export function createGen2WebhookFamily(deps: { signingKeys: SigningKeys }): WebhookFamily {
  return {
    async sign(body, payload) {
      const key = await deps.signingKeys.current(PLATFORM_KEY_PURPOSE);
      // Receivers compare against their own real clock: wall time, not the business clock.
      const timestamp = String(Date.now());
      return {
        'Content-Type': 'application/json',
        'X-BN-Connect-Timestamp': timestamp,
        'X-BN-Connect-Signature': key.sign(body + timestamp),
        'X-BN-Connect-For': payload?.recipient ?? '',
      };
    },
    isAck: isReturnCodeSuccess,
    retryDelaysMs: RETRY_DELAYS_MS,
  };
}
