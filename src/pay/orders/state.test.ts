import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import { createAccountsService } from '../../accounts/service.ts';
import { createManualClock } from '../../platform/clock.ts';
import { createSecretBox } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { createIdGenerator } from '../../platform/ids.ts';
import { createOutbox } from '../../platform/outbox/service.ts';
import {
  createOrderTransitions,
  ORDER_STATUSES,
  TRANSITIONS,
  type OrderStatus,
  type OrderTransition,
  type OrderTransitions,
} from './state.ts';

/** The event each allowed move writes (bizType:bizStatus), null for none; leaving REFUNDING is a refund settling. */
function expectedEvent(from: OrderStatus, to: OrderStatus): string | null {
  if (from === 'REFUNDING') return 'PAY_REFUND:REFUND_SUCCESS';
  if (to === 'PAID') return 'PAY:PAY_SUCCESS';
  if (to === 'CANCELED' || to === 'EXPIRED' || to === 'ERROR') return 'PAY:PAY_CLOSED';
  return null;
}

for (const kind of DB_KINDS) {
  describe(`pay order state machine (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    let merchantId: string;
    const clock = createManualClock();
    const ids = createIdGenerator();
    const outbox = createOutbox({ clock, ids });
    let transition: OrderTransitions['transition'];
    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      const accounts = createAccountsService({ db, clock, box: createSecretBox(randomBytes(32).toString('hex')) });
      ({ transition } = createOrderTransitions({ outbox, accounts }));
      merchantId = String(
        (
          await db.query(`INSERT INTO merchants (name, webhook_url, created_at) VALUES ($1, $2, $3) RETURNING id`, [
            'State Test',
            'https://merchant.example/hook',
            clock.now(),
          ])
        ).rows[0].id,
      );
    });
    after(() => drop());

    async function orderIn(status: OrderStatus): Promise<string> {
      const prepayId = String(ids.next());
      await db.query(
        `INSERT INTO pay_orders (prepay_id, merchant_id, creator_merchant_id, merchant_trade_no, api_version, status,
          terminal_type, currency,
           order_amount, goods, product_type, product_name, checkout_token, create_time, expire_time)
         VALUES ($1, $2, $2, $3, 'v3', $4, 'WEB', 'USDT', '10.00000000', '[]', 'Food', 'Bread', $5, $6, $7)`,
        [
          prepayId,
          merchantId,
          `S${prepayId}`,
          status,
          randomBytes(8).toString('hex'),
          clock.now(),
          clock.now() + 60_000,
        ],
      );
      return prepayId;
    }

    /** The order row and its events, to compare before and after. */
    const state = async (q: Queryable, prepayId: string) => ({
      row: (await q.query(`SELECT * FROM pay_orders WHERE prepay_id = $1`, [prepayId])).rows[0],
      events: (
        await q.query<{ e: string }>(
          `SELECT (payload->>'bizType') || ':' || (payload->>'bizStatus') AS e FROM outbox WHERE ordering_key = $1
            ORDER BY id`,
          [`pay:${prepayId}`],
        )
      ).rows.map((r) => r.e),
    });

    const move = (prepayId: string, from: OrderStatus, to: OrderStatus, explicit: boolean): OrderTransition => ({
      prepayId,
      to,
      ...(explicit ? { from: [from] } : {}),
      ...(from === 'REFUNDING'
        ? { refund: { bizStatus: 'REFUND_SUCCESS' as const, webhookUrl: null, data: () => ({}) } }
        : {}),
    });

    test('every (from, to) pair outside the table is refused and changes nothing', async () => {
      for (const from of ORDER_STATUSES) {
        for (const to of ORDER_STATUSES) {
          if (TRANSITIONS[from].includes(to)) continue;
          const prepayId = await orderIn(from);
          const before = await state(db, prepayId);
          // Named explicitly, the move is a bug in the caller: it throws before touching the row.
          await assert.rejects(
            db.tx((q) => transition(q, move(prepayId, from, to, true))),
            /illegal|settle/,
            `${from} → ${to}`,
          );
          // Asked by the target alone, the conditional update finds the order in no status the table allows.
          const r = await db.tx((q) => transition(q, move(prepayId, from, to, false))).catch((e: Error) => e);
          assert.ok(r === null || r instanceof Error, `${from} → ${to} must not apply`);
          assert.deepEqual(await state(db, prepayId), before, `${from} → ${to} changed the order or wrote an event`);
        }
      }
    });

    test(
      'every pair in the table applies once, with its event in the same transaction; the same call again ' +
        'is refused',
      async () => {
        let pairs = 0;
        for (const from of ORDER_STATUSES) {
          for (const to of TRANSITIONS[from]) {
            pairs++;
            const prepayId = await orderIn(from);
            const moved = await db.tx((q) => transition(q, move(prepayId, from, to, true)));
            assert.equal(moved?.status, to, `${from} → ${to}`);
            const after = await state(db, prepayId);
            assert.equal(after.row.status, to);
            const event = expectedEvent(from, to);
            assert.deepEqual(after.events, event ? [event] : [], `${from} → ${to} events`);
            const again = await db.tx((q) => transition(q, move(prepayId, from, to, true)));
            if (from === to) {
              // Staying REFUNDING (refunds still in flight) is the one self-loop: it applies whenever the order is
              // REFUNDING.
              assert.equal(again?.status, to);
            } else {
              assert.equal(again, null, `${from} → ${to} applied twice`);
              assert.deepEqual(await state(db, prepayId), after, `${from} → ${to}: the refused call changed something`);
            }
          }
        }
        assert.equal(pairs, Object.values(TRANSITIONS).flat().length);
      },
    );

    test('an event belongs to its transition: a rolled-back move leaves neither the status nor the event', async () => {
      const prepayId = await orderIn('INITIAL');
      const before = await state(db, prepayId);
      await assert.rejects(
        db.tx(async (q) => {
          assert.ok(await transition(q, { prepayId, to: 'CANCELED', set: { closed_time: clock.now() } }));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await state(db, prepayId), before);
    });

    test("the webhook goes to the order's webhookUrl, else its creator's; a refund's own webhookUrl wins", async () => {
      const target = async (prepayId: string) =>
        (
          await db.query(`SELECT payload->>'url' AS url FROM outbox WHERE ordering_key = $1 ORDER BY id DESC LIMIT 1`, [
            `pay:${prepayId}`,
          ])
        ).rows[0].url;
      const a = await orderIn('INITIAL');
      await db.tx((q) => transition(q, { prepayId: a, to: 'CANCELED', set: { closed_time: clock.now() } }));
      assert.equal(await target(a), 'https://merchant.example/hook');
      const b = await orderIn('INITIAL');
      await db.query(`UPDATE pay_orders SET webhook_url = 'https://order.example/hook' WHERE prepay_id = $1`, [b]);
      await db.tx((q) => transition(q, { prepayId: b, to: 'EXPIRED', set: { closed_time: clock.now() } }));
      assert.equal(await target(b), 'https://order.example/hook');
      const c = await orderIn('REFUNDING');
      await db.tx((q) =>
        transition(q, {
          prepayId: c,
          to: 'FULL_REFUNDED',
          refund: { bizStatus: 'REFUND_SUCCESS', webhookUrl: 'https://refund.example/hook', data: () => ({}) },
        }),
      );
      assert.equal(await target(c), 'https://refund.example/hook');
    });

    test("the payer's claim applies only before expireTime", async () => {
      const prepayId = await orderIn('INITIAL');
      const expireTime = clock.now() + 60_000;
      assert.equal(await db.tx((q) => transition(q, { prepayId, to: 'PENDING', unexpiredAt: expireTime })), null);
      assert.equal(
        (await db.tx((q) => transition(q, { prepayId, to: 'PENDING', unexpiredAt: expireTime - 1 })))?.status,
        'PENDING',
      );
    });
  });
}
