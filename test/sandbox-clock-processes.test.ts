import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { payClient, PG_URL, v3Order } from './helpers.ts';
import { processFixture } from './support/processes.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * The sandbox business clock is one value per database: two API processes and one worker process on one
 * PostgreSQL database. An advance through either API adds to what the other did, both APIs then report the same
 * time, and the worker (the only process running background work) expires an order on the advanced clock.
 */
const ADMIN_TOKEN = 'clock-test-admin-token-0123456789';
const MIN = 60_000;

describe(
  'sandbox clock across processes (PostgreSQL)',
  { skip: PG_URL ? false : 'needs DATABASE_URL or TEST_DATABASE_URL' },
  () => {
    const fx = processFixture('clock', ADMIN_TOKEN);
    const { startApi, spawnServer, admin } = fx;
    after(() => fx.close());

    test(
      'advances through two APIs add up; both APIs and the worker run on the advanced clock',
      { timeout: 240_000 },
      async () => {
        await fx.create();

        const api1 = await startApi(); // migrates the new database
        const api2 = await startApi();
        spawnServer({ WORKERS_ONLY: '1' });

        const m = await admin(api1, 'POST', '/admin/v1/merchants', { name: 'Clock Shop' });
        assert.equal(m.status, 201, JSON.stringify(m.json));
        const client1 = payClient(api1, m.json.apiKey, m.json.apiSecret);
        const client2 = payClient(api2, m.json.apiKey, m.json.apiSecret);
        const status = async (prepayId: string) =>
          (await client2.post('/v2/order/query', { prepayId })).json.data.status as string;

        // The worker is running (the APIs run no background work): an order expiring in 1.5 s expires.
        const warmup = await client1.post('/v3/order', v3Order({ orderExpireTime: Date.now() + 1_500 }));
        assert.equal(warmup.json.status, 'SUCCESS', warmup.text);
        await waitFor(
          'the worker expires an order',
          async () => (await status(warmup.json.data.prepayId)) === 'EXPIRED',
          30_000,
          200,
        );

        const created = await client1.post('/v3/order', v3Order({ orderExpireTime: Date.now() + 50 * MIN }));
        assert.equal(created.json.status, 'SUCCESS', created.text);
        const prepayId = created.json.data.prepayId;

        const a1 = await admin(api1, 'POST', '/sandbox/v1/clock/advance', { ms: 30 * MIN });
        assert.equal(a1.status, 200);
        assert.equal(a1.json.offsetMs, 30 * MIN);
        const a2 = await admin(api2, 'POST', '/sandbox/v1/clock/advance', { ms: 30 * MIN });
        assert.equal(a2.status, 200);
        assert.equal(a2.json.offsetMs, 60 * MIN, 'the second advance adds to the first, made by another process');

        const c1 = await admin(api1, 'GET', '/sandbox/v1/clock');
        const c2 = await admin(api2, 'GET', '/sandbox/v1/clock');
        assert.equal(c1.status, 200);
        assert.equal(c1.json.offsetMs, 60 * MIN);
        assert.equal(c2.json.offsetMs, 60 * MIN);
        assert.ok(
          Math.abs(c1.json.now - c2.json.now) < 5_000,
          `both APIs agree on now: ${c1.json.now} vs ${c2.json.now}`,
        );
        assert.ok(Math.abs(c1.json.now - (Date.now() + 60 * MIN)) < 5_000);

        // Only the worker expires orders: it sees the advance within a tick (50 min expiry, 60 min advanced).
        const t0 = Date.now();
        await waitFor(
          'the worker expires the order on the advanced clock',
          async () => (await status(prepayId)) === 'EXPIRED',
          10_000,
          100,
        );
        assert.ok(Date.now() - t0 < 3_000, `expired ${Date.now() - t0} ms after the advance`);
      },
    );
  },
);
