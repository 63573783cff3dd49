import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { enqueuePayWebhook } from '../src/pay/events.ts';
import { createOutboxWorker, DEFAULT_WEBHOOK_CLASS } from '../src/platform/outbox/service.ts';
import { assertAuditOk, createMerchant, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { ACK, startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Webhook delivery bookkeeping in batches (issue 20): a claim takes a host's rows for several rounds (queued in the
 * worker, never more than the per-host limit in flight), and each attempt is logged with its row's outcome in one
 * statement per batch, the round and attempt count coming with the claim. Counted at the database handle.
 */
const TIMEOUT_MS = 400;
const perHost = DEFAULT_WEBHOOK_CLASS.perHost!;

for (const kind of DB_KINDS) {
  describe(`webhook bookkeeping in batches (${kind})`, () => {
    let t: TestApp;
    let merchantId: string;
    const statements: string[] = [];
    let counting = false;

    before(async () => {
      t = await startTestApp({ kind, webhookTimeoutMs: TIMEOUT_MS });
      merchantId = (await createMerchant(t, { name: 'Batch Shop' })).merchantId;
      await t.app.services.signingKeys.current('pay-webhook');
      const query = t.db.query.bind(t.db);
      t.db.query = ((sql: string, p?: unknown[]) => {
        if (counting) statements.push(sql);
        return query(sql, p);
      }) as typeof t.db.query;
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    async function enqueue(url: string, n: number, tag: string) {
      await t.db.tx(async (q) => {
        for (let i = 0; i < n; i++)
          await enqueuePayWebhook(t.app.services.outbox, q, {
            url,
            ownerId: merchantId,
            bizType: 'PAY',
            bizId: `${tag}${String(i).padStart(6, '0')}`,
            bizStatus: 'PAY_SUCCESS',
            data: { i },
          });
      });
    }

    test('60 deliveries to one receiver: a few statements in all, never more than the per-host limit at once', async () => {
      let open = 0;
      let most = 0;
      const rx = await startReceiver(async () => {
        most = Math.max(most, ++open);
        await new Promise((r) => setTimeout(r, 5));
        open--;
        return ACK;
      });
      try {
        await enqueue(rx.url('/batch'), 60, '71');
        const worker = createOutboxWorker({ db: t.db, clock: t.clock, handlers: t.app.services.outboxHandlers });
        statements.length = 0;
        counting = true;
        let handled = 0;
        for (let n; (n = await worker.runOnce()) > 0;) handled += n;
        counting = false;
        assert.equal(handled, 60);
        assert.equal(rx.received.length, 60);
        assert.ok(most <= perHost, `${most} requests at once at one host`);
        // Before: two reads, the attempt insert and the settle per delivery, plus two per claim (over 240 in all).
        assert.ok(statements.length < 45, `${statements.length} statements for 60 deliveries`);
        const list = (await t.admin('GET', `/admin/v1/webhooks/deliveries?limit=500&ownerId=${merchantId}`)).json
          .deliveries as any[];
        const mine = list.filter((d) => d.url === rx.url('/batch'));
        assert.equal(mine.length, 60);
        for (const d of mine) {
          assert.equal(d.status, 'DELIVERED');
          assert.deepEqual(
            d.attempts.map((a: any) => [a.round, a.attemptNo, a.acked]),
            [[0, 1, true]],
          );
        }
      } finally {
        counting = false;
        await rx.close();
      }
    });

    test('attempt numbers come with the claim: failures count up, a redelivery starts round 1 at attempt 1', async () => {
      let calls = 0;
      const rx = await startReceiver(() => (++calls <= 2 ? { status: 500, body: 'busy' } : ACK));
      try {
        await enqueue(rx.url('/retry'), 1, '72');
        const worker = createOutboxWorker({ db: t.db, clock: t.clock, handlers: t.app.services.outboxHandlers });
        for (let i = 0; i < 3; i++) {
          await worker.runOnce();
          t.clock.advance!(60_000);
        }
        const [d] = (await t.admin('GET', `/admin/v1/webhooks/deliveries?bizId=72000000`)).json.deliveries as any[];
        assert.equal(d.status, 'DELIVERED');
        assert.deepEqual(
          d.attempts.map((a: any) => [a.round, a.attemptNo, a.acked]),
          [
            [0, 1, false],
            [0, 2, false],
            [0, 3, true],
          ],
        );
        assert.equal((await t.admin('POST', `/admin/v1/webhooks/deliveries/${d.id}/redeliver`)).status, 202);
        await worker.runOnce();
        const [again] = (await t.admin('GET', `/admin/v1/webhooks/deliveries?bizId=72000000`)).json.deliveries as any[];
        assert.equal(again.status, 'DELIVERED');
        assert.deepEqual(again.attempts.at(-1).round, 1);
        assert.deepEqual(again.attempts.at(-1).attemptNo, 1);
        const row = (await t.db.query(`SELECT round, round_attempts FROM outbox WHERE id = $1`, [d.id])).rows[0];
        assert.deepEqual([Number(row.round), Number(row.round_attempts)], [1, 1]);
      } finally {
        await rx.close();
      }
    });

    test('a pool that stops gives back the leases of the rows it had queued for a slow host', async () => {
      const rx = await startReceiver(() => ({ hangMs: 60_000 }));
      try {
        await enqueue(rx.url('/slow'), 3 * perHost, '73');
        const worker = createOutboxWorker({ db: t.db, clock: t.clock, handlers: t.app.services.outboxHandlers });
        const pool = worker.start({ idleMs: 50 });
        await waitFor('requests at the slow host', () => rx.received.length >= perHost);
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(rx.received.length, perHost, 'only the per-host limit goes out, the rest waits in the worker');
        const leased = async () =>
          (
            await t.db.query(
              `SELECT count(*) AS n FROM outbox WHERE payload->>'url' = $1 AND status = 'PENDING' AND leased_until > $2`,
              [rx.url('/slow'), Date.now()],
            )
          ).rows[0].n;
        assert.equal(Number(await leased()), 3 * perHost, 'the claim took the queued rows too');
        await pool.stop();
        // The in-flight ones timed out and wait for their retry; the queued ones were never sent and are free again.
        assert.equal(rx.received.length, perHost);
        assert.equal(Number(await leased()), 0);
        const attempts = (
          await t.db.query(
            `SELECT count(*) AS n FROM webhook_delivery_attempts a JOIN outbox o ON o.id = a.delivery_id
              WHERE o.payload->>'url' = $1`,
            [rx.url('/slow')],
          )
        ).rows[0].n;
        assert.equal(Number(attempts), perHost);
      } finally {
        await rx.close();
      }
    });
  });
}
