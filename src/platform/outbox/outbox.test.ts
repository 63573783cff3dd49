import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import { createManualClock } from '../clock.ts';
import type { Db } from '../db/client.ts';
import { createIdGenerator } from '../ids.ts';
import { createOutbox, createOutboxWorker, type OutboxRow } from './service.ts';

for (const kind of DB_KINDS) {
  describe(`outbox (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    const clock = createManualClock();
    const outbox = createOutbox({ clock, ids: createIdGenerator() });
    before(async () => ({ db, drop } = await openTestDb(kind)));
    after(() => drop());

    test('an event written in a transaction that rolls back never exists', async () => {
      await assert.rejects(
        db.tx(async (q) => {
          await outbox.enqueue(q, { topic: 't', payload: { n: 1 } });
          throw new Error('boom');
        }),
      );
      assert.equal((await db.query(`SELECT count(*) AS n FROM outbox`)).rows[0].n, 0n);
    });

    test('two workers claiming concurrently handle every row exactly once (SKIP LOCKED)', async () => {
      for (let i = 0; i < 60; i++) await db.tx((q) => outbox.enqueue(q, { topic: 'job', payload: { i } }));
      const seen: number[] = [];
      const handler = async (row: OutboxRow) => {
        seen.push((row.payload as { i: number }).i);
        await new Promise((r) => setTimeout(r, 2));
        return { status: 'done' as const };
      };
      const w1 = createOutboxWorker({ db, clock, handlers: { job: handler }, batchSize: 7 });
      const w2 = createOutboxWorker({ db, clock, handlers: { job: handler }, batchSize: 7 });
      let total = 0;
      for (;;) {
        const [a, b] = await Promise.all([w1.runOnce(), w2.runOnce()]);
        total += a + b;
        if (a + b === 0) break;
      }
      assert.equal(total, 60);
      assert.deepEqual(
        [...seen].sort((x, y) => x - y),
        Array.from({ length: 60 }, (_, i) => i),
      );
    });

    test('rows sharing an ordering key wait for the earlier one; retries follow the business clock', async () => {
      await db.tx(async (q) => {
        await outbox.enqueue(q, { topic: 'ord', orderingKey: 'k1', payload: { step: 1 } });
        await outbox.enqueue(q, { topic: 'ord', orderingKey: 'k1', payload: { step: 2 } });
        await outbox.enqueue(q, { topic: 'ord', orderingKey: 'k2', payload: { step: 1 } });
      });
      const calls: string[] = [];
      let failFirst = true;
      const worker = createOutboxWorker({
        db,
        clock,
        handlers: {
          ord: async (row) => {
            const { step } = row.payload as { step: number };
            calls.push(`${row.ordering_key}:${step}`);
            if (row.ordering_key === 'k1' && step === 1 && failFirst) {
              failFirst = false;
              return { status: 'retry', at: clock.now() + 60_000, error: 'receiver down' };
            }
            return { status: 'done' };
          },
        },
      });
      await worker.runOnce();
      assert.deepEqual(calls.sort(), ['k1:1', 'k2:1']);
      await worker.runOnce();
      assert.deepEqual(calls.length, 2, 'k1:2 must wait behind the retrying k1:1, which is not due yet');
      clock.advance(60_000);
      await worker.runOnce();
      await worker.runOnce();
      assert.deepEqual(calls.slice(2), ['k1:1', 'k1:2']);
      const rows = (await db.query(`SELECT status, attempts FROM outbox WHERE topic = 'ord' ORDER BY id`)).rows;
      assert.deepEqual(
        rows.map((r) => [r.status, r.attempts]),
        [
          ['DONE', 2],
          ['DONE', 1],
          ['DONE', 1],
        ],
      );
    });

    test('a claimed row whose worker died is picked up again after its lease lapses', async () => {
      await db.tx((q) => outbox.enqueue(q, { topic: 'lease', payload: {} }));
      const crashed = createOutboxWorker({ db, clock, handlers: { lease: () => new Promise(() => {}) }, leaseMs: 50 });
      void crashed.runOnce(); // never settles: the "process" died holding the lease
      await new Promise((r) => setTimeout(r, 20));
      const rescuer = createOutboxWorker({ db, clock, handlers: { lease: async () => ({ status: 'done' }) } });
      assert.equal(await rescuer.runOnce(), 0, 'still leased');
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(await rescuer.runOnce(), 1);
    });
  });
}
