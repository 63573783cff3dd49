import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { enqueuePayWebhook } from '../src/pay/events.ts';
import { DEFAULT_WEBHOOK_CLASS } from '../src/platform/outbox/service.ts';
import { createMerchant, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { ACK, startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Head-of-line blocking (issue 13): one merchant's receiver hangs every request until the 5 s delivery timeout,
 * with a backlog of deliveries queued for it. An email, an internal step and another merchant's webhook queued
 * after that backlog must each be handled within one second, and the hanging host never holds more than its
 * per-host share of the webhook slots.
 */
const BACKLOG = 60;
const INTERNAL_TOPIC = 'test.internal-step';

for (const kind of DB_KINDS) {
  describe(`outbox isolation: one hanging receiver stalls nobody else (${kind})`, () => {
    let t: TestApp;
    let hanging: Awaited<ReturnType<typeof startReceiver>>;
    let healthy: Awaited<ReturnType<typeof startReceiver>>;
    const internalHandled: number[] = [];

    before(async () => {
      // The default 5 s per-attempt timeout; the business clock stands still, so no hanging row is retried during the
      // test.
      t = await startTestApp({
        kind,
        workers: true,
        outboxHandlers: {
          [INTERNAL_TOPIC]: async () => {
            internalHandled.push(Date.now());
            return { status: 'done' };
          },
        },
      });
      hanging = await startReceiver(() => ({ hangMs: 60_000 }));
      healthy = await startReceiver(() => ACK);
    });
    after(async () => {
      await hanging.close();
      await t.close();
      await healthy.close();
    });

    test(
      "an email, an internal step and another merchant's webhook are not delayed by more than one second",
      { timeout: 60_000 },
      async () => {
        const slow = await createMerchant(t, { name: 'Slow Shop' });
        const other = await createMerchant(t, { name: 'Other Shop' });
        const { outbox, mailer } = t.app.services;
        // The signing key is generated on first use; make it now, so the first deliveries do not all race to generate
        // it.
        await t.app.services.signingKeys.current('pay-webhook');
        for (let i = 0; i < BACKLOG; i++) {
          await t.db.tx((q) =>
            enqueuePayWebhook(outbox, q, {
              url: hanging.url('/slow'),
              ownerId: slow.merchantId,
              bizType: 'PAY',
              bizId: `9${String(i).padStart(17, '0')}`,
              bizStatus: 'PAY_SUCCESS',
              data: { i },
            }),
          );
        }
        // The worker is now holding requests to the hanging receiver.
        await waitFor('requests at the hanging receiver', () => hanging.received.length > 0);
        await new Promise((r) => setTimeout(r, 200));

        const queuedAt = Date.now();
        await t.db.tx(async (q) => {
          await mailer.send(q, { to: 'someone@example.com', subject: 'Your code', text: 'Code: 654321' });
          await outbox.enqueue(q, { topic: INTERNAL_TOPIC, payload: {} });
          await enqueuePayWebhook(outbox, q, {
            url: healthy.url('/other'),
            ownerId: other.merchantId,
            bizType: 'PAY',
            bizId: '800000000000000001',
            bizStatus: 'PAY_SUCCESS',
            data: {},
          });
        });
        const mailAt = await waitFor(
          'the email in the dev mailbox',
          async () => {
            const [m] = await mailer.list('someone@example.com');
            return m && m.status !== 'QUEUED' ? Date.now() : 0;
          },
          10_000,
          10,
        );
        const webhookAt = await waitFor("the other merchant's webhook", () => healthy.received[0]?.at ?? 0, 10_000, 10);
        const internalAt = await waitFor('the internal step', () => internalHandled[0] ?? 0, 10_000, 10);

        assert.ok(mailAt - queuedAt < 1000, `email delayed ${mailAt - queuedAt} ms`);
        assert.ok(webhookAt - queuedAt < 1000, `other merchant's webhook delayed ${webhookAt - queuedAt} ms`);
        assert.ok(internalAt - queuedAt < 1000, `internal step delayed ${internalAt - queuedAt} ms`);
        // Within the first timeout every request the hanging host got is still open: it holds only its share of the
        // webhook slots, never the whole pool.
        const seen = hanging.received.length;
        if (Date.now() - hanging.received[0]!.at < 4_500) {
          assert.ok(seen <= DEFAULT_WEBHOOK_CLASS.perHost!, `${seen} requests in flight at one host`);
        }
      },
    );
  });
}
