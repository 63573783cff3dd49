import { randomAlnum } from '../platform/crypto.ts';
import { isReturnCodeSuccess, type WebhookFamily } from '../platform/outbox/webhook-family.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';

/**
 * Binance Pay webhooks (binance-pay.md §6.1, §6.3) as a family of the shared delivery engine:
 * RSA SHA256withRSA over `ts\nnonce\nbody\n` with the active 'pay-webhook' key, fresh timestamp and nonce
 * per attempt, ack = 2xx with JSON `returnCode` exactly "SUCCESS", 6 retries.
 */
export const PAY_WEBHOOK_RETRY_DELAYS_MS = [15_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];

export function createPayWebhookFamily(deps: { signingKeys: SigningKeys }): WebhookFamily {
  return {
    async sign(body) {
      const key = await deps.signingKeys.current('pay-webhook');
      // Receivers check the timestamp against their own real clock, so this is wall time, not the business clock.
      const timestamp = String(Date.now());
      const nonce = randomAlnum(32);
      return {
        'Content-Type': 'application/json',
        'BinancePay-Timestamp': timestamp,
        'BinancePay-Nonce': nonce,
        'BinancePay-Certificate-SN': key.serial,
        'BinancePay-Signature': await key.signAsync(`${timestamp}\n${nonce}\n${body}\n`),
      };
    },
    isAck: isReturnCodeSuccess,
    retryDelaysMs: PAY_WEBHOOK_RETRY_DELAYS_MS,
  };
}
