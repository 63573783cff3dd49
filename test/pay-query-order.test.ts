import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomAlnum } from '../src/platform/crypto.ts';
import { assertAuditOk, createMerchant, DB_KINDS, startTestApp, v3Order, type TestApp } from './helpers.ts';

/**
 * Query order (v2) is one database round trip (issue 20): the request nonce is recorded by the same statement that
 * reads the order, as create order does with its insert. The statements the app sends are counted at the database
 * handle; the answers are the ones two statements gave: the order, 400202 for none (its nonce still recorded), and
 * 400001 for a replay whether or not the order exists.
 */
for (const kind of DB_KINDS) {
  describe(`query order in one statement (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    let order: { prepayId: string; merchantTradeNo: string };
    let counting = false;
    const seen: string[] = [];

    before(async () => {
      t = await startTestApp({ kind });
      m = await createMerchant(t, { name: 'Query Shop' });
      const body = v3Order();
      const c = await m.client.post('/v3/order', body);
      assert.equal(c.json.status, 'SUCCESS', c.text);
      order = { prepayId: c.json.data.prepayId, merchantTradeNo: body.merchantTradeNo };
      // Every statement the app sends goes through this handle (services call db.query on it at call time).
      const query = t.db.query.bind(t.db);
      t.db.query = ((sql: string, p?: unknown[]) => {
        if (counting) seen.push(sql);
        return query(sql, p);
      }) as typeof t.db.query;
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    /** The answer to a signed query and the statements it sent. */
    async function query(body: Record<string, unknown>, nonce = randomAlnum(32)) {
      seen.length = 0;
      counting = true;
      try {
        return { r: await m.client.post('/v2/order/query', body, { nonce }), statements: [...seen] };
      } finally {
        counting = false;
      }
    }
    const nonces = async () => Number((await t.db.query(`SELECT count(*) AS n FROM pay_nonces`)).rows[0].n);

    test('an existing order by prepayId and by merchantTradeNo: one statement each', async () => {
      for (const ref of [{ prepayId: order.prepayId }, { merchantTradeNo: order.merchantTradeNo }]) {
        const before = await nonces();
        const { r, statements } = await query(ref);
        assert.equal(r.json.status, 'SUCCESS', r.text);
        assert.equal(r.json.data.prepayId, order.prepayId);
        assert.equal(r.json.data.merchantTradeNo, order.merchantTradeNo);
        assert.equal(r.json.data.status, 'INITIAL');
        assert.equal(statements.length, 1, statements.join('\n---\n'));
        assert.equal(await nonces(), before + 1, 'the nonce is recorded');
      }
    });

    test('no such order: 400202 in one statement, and the nonce is recorded all the same', async () => {
      const nonce = randomAlnum(32);
      const before = await nonces();
      const { r, statements } = await query({ prepayId: '1' }, nonce);
      assert.equal(r.json.code, '400202', r.text);
      assert.equal(statements.length, 1);
      assert.equal(await nonces(), before + 1);
      const replay = await query({ prepayId: '1' }, nonce);
      assert.equal(replay.r.json.code, '400001', replay.r.text);
      assert.equal(replay.r.json.errorMessage, 'Nonce has been used.');
      assert.equal(replay.statements.length, 1);
      assert.equal(await nonces(), before + 1);
    });

    test('a replay of a query that found its order is 400001, not the order', async () => {
      const nonce = randomAlnum(32);
      assert.equal((await query({ prepayId: order.prepayId }, nonce)).r.json.status, 'SUCCESS');
      const replay = await query({ prepayId: order.prepayId }, nonce);
      assert.equal(replay.r.json.status, 'FAIL');
      assert.equal(replay.r.json.code, '400001');
      assert.equal(replay.r.json.data, undefined);
    });

    test("another merchant's order is not found, and its nonce recorded", async () => {
      const other = await createMerchant(t, { name: 'Other Shop' });
      const nonce = randomAlnum(32);
      const r = await other.client.post('/v2/order/query', { prepayId: order.prepayId }, { nonce });
      assert.equal(r.json.code, '400202', r.text);
      assert.equal(
        (await other.client.post('/v2/order/query', { prepayId: order.prepayId }, { nonce })).json.code,
        '400001',
      );
    });

    test('a body that fails validation still checks the nonce first (recorded on the way out)', async () => {
      const nonce = randomAlnum(32);
      const before = await nonces();
      const bad = await query({ prepayId: 'abc' }, nonce);
      assert.notEqual(bad.r.json.code, '400001');
      assert.equal(await nonces(), before + 1);
      assert.equal((await query({ prepayId: 'abc' }, nonce)).r.json.code, '400001');
    });
  });
}
