import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createVerify } from 'node:crypto';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';

for (const kind of DB_KINDS) {
  describe(`Binance Pay orders over HTTP (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    before(async () => {
      t = await startTestApp({ kind });
      m = await createMerchant(t, { name: 'Ice Cream Shop' });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    test('create v3 returns the full response and the checkout serves a real PNG QR code', async () => {
      const body = v3Order({
        returnUrl: 'https://shop.example/ok',
        passThroughInfo: 'pt-1',
        universalUrlAttach: '?x=1',
      });
      const r = await m.client.post('/v3/order', body);
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.equal(r.json.code, '000000');
      assert.equal(r.json.errorMessage, null);
      const d = r.json.data;
      assert.match(d.prepayId, /^\d{18,19}$/);
      assert.equal(d.terminalType, 'WEB');
      assert.equal(d.currency, 'USDT');
      assert.equal(d.totalFee, '25.17000000');
      assert.equal(d.fiatCurrency, null);
      assert.equal(d.fiatAmount, null);
      assert.ok(d.checkoutUrl.startsWith(`${t.baseUrl}/checkout/`));
      assert.equal(d.qrContent, d.checkoutUrl);
      assert.equal(d.deeplink, d.checkoutUrl);
      assert.equal(d.qrcodeLink, `${d.checkoutUrl}/qr.png`);
      assert.equal(d.universalUrl, `${d.checkoutUrl}?x=1`);
      assert.equal(typeof d.expireTime, 'number');
      assert.equal(d.expireTime, t.clock.now() + 3_600_000);
      // expireTime is written as an integer literal in the raw response text
      assert.match(r.text, /"expireTime":\d{13},/);
      const png = await fetch(d.qrcodeLink);
      assert.equal(png.status, 200);
      assert.equal(png.headers.get('content-type'), 'image/png');
      const bytes = Buffer.from(await png.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    });

    test('create v2 (goods) and v1 (flat) answer in their own shapes', async () => {
      const { goodsDetails, ...rest } = v3Order();
      const v2 = await m.client.post('/v2/order', { ...rest, goods: goodsDetails[0] });
      assert.equal(v2.json.status, 'SUCCESS', v2.text);
      assert.ok(v2.json.data.prepayId);
      assert.equal(v2.json.data.totalFee, undefined);
      assert.equal(v2.json.data.terminalType, 'WEB');
      const v1 = await m.client.post('/order', {
        merchantId: Number(m.merchantId),
        merchantTradeNo: 'V1ORDER1',
        tradeType: 'APP',
        totalFee: 1.5,
        currency: 'USDT',
        productType: 'Food',
        productName: 'Cake',
      });
      assert.equal(v1.json.status, 'SUCCESS', v1.text);
      assert.equal(v1.json.data.tradeType, 'APP');
      assert.equal(v1.json.data.terminalType, undefined);
      const q1 = await m.client.post('/order/query', { merchantId: Number(m.merchantId), merchantTradeNo: 'V1ORDER1' });
      assert.equal(q1.json.data.totalFee, '1.50000000');
      assert.equal(q1.json.data.productName, 'Cake');
      const wrongMerchant = await m.client.post('/order', {
        merchantId: 1,
        merchantTradeNo: 'V1ORDER2',
        tradeType: 'APP',
        totalFee: 1.5,
        currency: 'USDT',
        productType: 'Food',
        productName: 'Cake',
      });
      assert.equal(wrongMerchant.json.code, '400004');
    });

    test('a fiat-denominated order is priced into crypto and keeps the fiat for display', async () => {
      const { orderAmount: _a, currency: _c, ...rest } = v3Order();
      const r = await m.client.post('/v3/order', { ...rest, fiatAmount: '10.80', fiatCurrency: 'EUR' });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.equal(r.json.data.currency, 'USDT');
      assert.equal(r.json.data.totalFee, '11.66400000'); // 10.80 EUR × 1.08 USD/EUR ÷ 1 USD/USDT
      assert.equal(r.json.data.fiatCurrency, 'EUR');
      assert.equal(r.json.data.fiatAmount, '10.80');
      const jpy = await m.client.post('/v3/order', {
        ...rest,
        merchantTradeNo: 'JPY1',
        fiatAmount: '10.5',
        fiatCurrency: 'JPY',
      });
      assert.equal(jpy.json.code, '400101');
    });

    /**
     * Wraps the app's Db so every order insert statement is recorded (its batch size) and held `delayMs` first, the
     * time a busy database would take; `poison` makes a statement whose batch includes that merchantTradeNo fail.
     */
    function watchOrderInserts(opts: { delayMs: number; poison?: string }) {
      const original = t.db.query;
      const batches: number[] = [];
      const poisonedBatches: number[] = [];
      t.db.query = (async (sql: string, p?: unknown[]) => {
        if (!sql.includes('INSERT INTO pay_orders')) return original.call(t.db, sql, p);
        const size = (JSON.parse(String(p![0])) as unknown[]).length;
        batches.push(size);
        await new Promise((r) => setTimeout(r, opts.delayMs));
        if (opts.poison && String(p![0]).includes(opts.poison)) {
          poisonedBatches.push(size);
          throw new Error('simulated constraint failure');
        }
        return original.call(t.db, sql, p);
      }) as typeof original;
      return { batches, poisonedBatches, restore: () => (t.db.query = original) };
    }

    test('creates arriving while the database is busy share one insert statement, each answered with its own order', async () => {
      const watch = watchOrderInserts({ delayMs: 100 });
      try {
        const bodies = Array.from({ length: 24 }, () => v3Order());
        const results = await Promise.all(bodies.map((b) => m.client.post('/v3/order', b)));
        assert.ok(
          results.every((r) => r.json.status === 'SUCCESS'),
          results.map((r) => r.text).join('\n'),
        );
        assert.equal(new Set(results.map((r) => r.json.data.prepayId)).size, 24);
        assert.equal(
          watch.batches.reduce((a, b) => a + b, 0),
          24,
        );
        assert.ok(watch.batches.length < 24 && Math.max(...watch.batches) > 1, `batches: ${watch.batches.join(', ')}`);
        watch.restore();
        // Each answer belongs to its own request: the returned prepayId queries back to that request's
        // merchantTradeNo.
        for (const [i, r] of results.entries()) {
          const q = await m.client.post('/v2/order/query', { prepayId: r.json.data.prepayId });
          assert.equal(q.json.data.merchantTradeNo, bodies[i]!.merchantTradeNo);
        }
      } finally {
        watch.restore();
      }
    });

    test('concurrent creates with one merchantTradeNo: exactly one order, the others 400201', async () => {
      const watch = watchOrderInserts({ delayMs: 50 });
      try {
        const body = v3Order();
        const results = await Promise.all(Array.from({ length: 12 }, () => m.client.post('/v3/order', body)));
        assert.equal(
          results.filter((r) => r.json.status === 'SUCCESS').length,
          1,
          results.map((r) => r.text).join('\n'),
        );
        assert.ok(results.filter((r) => r.json.status !== 'SUCCESS').every((r) => r.json.code === '400201'));
        assert.ok(Math.max(...watch.batches) > 1, 'some duplicates shared a statement');
        const rows = await t.db.query(`SELECT count(*)::int AS n FROM pay_orders WHERE merchant_trade_no = $1`, [
          body.merchantTradeNo,
        ]);
        assert.equal(rows.rows[0].n, 1);
      } finally {
        watch.restore();
      }
    });

    test('a database error on one order of a shared insert fails that request only', async () => {
      const watch = watchOrderInserts({ delayMs: 50, poison: 'POISON1' });
      try {
        const bodies = [
          v3Order(),
          v3Order(),
          v3Order(),
          v3Order({ merchantTradeNo: 'POISON1' }),
          v3Order(),
          v3Order(),
          v3Order(),
        ];
        const results = await Promise.all(bodies.map((b) => m.client.post('/v3/order', b)));
        assert.deepEqual(
          results.map((r) => r.json.status === 'SUCCESS'),
          [true, true, true, false, true, true, true],
          results.map((r) => r.text).join('\n'),
        );
        assert.ok(
          watch.poisonedBatches.some((n) => n > 1),
          `the poisoned order shared a statement first (batches: ${watch.batches.join(', ')})`,
        );
        assert.ok(watch.poisonedBatches.includes(1), 'then it ran alone');
        const poisoned = await t.db.query(
          `SELECT count(*)::int AS n FROM pay_orders WHERE merchant_trade_no = 'POISON1'`,
        );
        assert.equal(poisoned.rows[0].n, 0);
      } finally {
        watch.restore();
      }
    });

    test('query v2 by prepayId and by merchantTradeNo; unknown or foreign order is 400202', async () => {
      const body = v3Order({ passThroughInfo: 'abc' });
      const c = await m.client.post('/v3/order', body);
      const byId = await m.client.post('/v2/order/query', { prepayId: c.json.data.prepayId });
      assert.equal(byId.json.status, 'SUCCESS');
      const d = byId.json.data;
      assert.equal(d.status, 'INITIAL');
      assert.equal(d.orderAmount, '25.17000000');
      assert.equal(d.merchantTradeNo, body.merchantTradeNo);
      assert.equal(d.passThroughInfo, 'abc');
      assert.equal(String(d.merchantId), m.merchantId);
      assert.match(byId.text, new RegExp(`"merchantId":${m.merchantId},`));
      const byNo = await m.client.post('/v2/order/query', { merchantTradeNo: body.merchantTradeNo });
      assert.equal(byNo.json.data.prepayId, c.json.data.prepayId);
      const other = await createMerchant(t, { name: 'Other' });
      const foreign = await other.client.post('/v2/order/query', { prepayId: c.json.data.prepayId });
      assert.equal(foreign.json.code, '400202');
      const neither = await m.client.post('/v2/order/query', {});
      assert.equal(neither.json.code, '400100');
    });

    test('pay through the sandbox helper: ledger transfer with commission, paymentInfo, balance v2', async () => {
      const payer = await createPayer(t, `p-${kind}@example.com`, { USDT: '100' });
      const c = await m.client.post('/v3/order', v3Order({ orderAmount: '10' }));
      const paid = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, { payerEmail: payer.email });
      assert.equal(paid.status, 200, JSON.stringify(paid.json));
      const q = await m.client.post('/v2/order/query', { prepayId: c.json.data.prepayId });
      const d = q.json.data;
      assert.equal(d.status, 'PAID');
      assert.equal(d.commission, '0.10000000');
      assert.equal(d.transactionId, `M_P_${c.json.data.prepayId}`);
      assert.match(d.openUserId, /^[0-9a-f]{32}$/);
      assert.equal(d.paymentInfo.payMethod, 'FUNDING');
      assert.equal(String(d.paymentInfo.payerId), payer.payerId);
      assert.deepEqual(d.paymentInfo.paymentInstructions, [{ currency: 'USDT', amount: 10, price: 1 }]);
      assert.match(q.text, /"amount":10\.00000000/);
      const bal = await m.client.post('/v2/balance', { wallet: 'FUNDING_WALLET' });
      assert.equal(bal.json.status, 'SUCCESS', bal.text);
      const usdt = bal.json.data.balance.find((b: any) => b.asset === 'USDT');
      assert.match(bal.text, /"available":9\.90000000/);
      assert.equal(usdt.freeze, 0);
      assert.equal(bal.json.data.wallet, 'FUNDING_WALLET');
      const spot = await m.client.post('/v2/balance', { wallet: 'SPOT_WALLET' });
      assert.deepEqual(spot.json.data.balance, []);
      const v1 = await m.client.post('/balance', { currency: 'USDT' });
      assert.match(v1.text, /"balance":9\.90000000/);
      const again = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, {
        payerEmail: payer.email,
      });
      assert.equal(again.status, 409);
    });

    test('close: data true, CANCELED at once, PAY_CLOSED queued once; paid order is 400204', async () => {
      const c = await m.client.post('/v3/order', v3Order());
      const closed = await m.client.post('/order/close', { prepayId: c.json.data.prepayId });
      assert.equal(closed.text, '{"status":"SUCCESS","code":"000000","data":true,"errorMessage":null}');
      const again = await m.client.post('/order/close', { prepayId: c.json.data.prepayId });
      assert.equal(again.json.data, true);
      const q = await m.client.post('/v2/order/query', { prepayId: c.json.data.prepayId });
      assert.equal(q.json.data.status, 'CANCELED');
      const payer = await createPayer(t, `close-${kind}@example.com`, { USDT: '100' });
      const p = await m.client.post('/v3/order', v3Order());
      await t.admin('POST', `/sandbox/v1/orders/${p.json.data.prepayId}/pay`, { payerEmail: payer.email });
      const bad = await m.client.post('/order/close', { prepayId: p.json.data.prepayId });
      assert.equal(bad.json.code, '400204');
      const unknown = await m.client.post('/order/close', { prepayId: '123456789012345678' });
      assert.equal(unknown.json.code, '400202');
    });

    test('orders past expireTime become EXPIRED by the worker, driven by the clock', async () => {
      const c = await m.client.post('/v3/order', v3Order({ orderExpireTime: t.clock.now() + 60_000 }));
      assert.equal(await t.app.services.orders.expireDue(), 0);
      await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 61_000 });
      assert.ok((await t.app.services.orders.expireDue()) >= 1);
      const q = await m.client.post('/v2/order/query', { prepayId: c.json.data.prepayId });
      assert.equal(q.json.data.status, 'EXPIRED');
      const payer = await createPayer(t, `late-${kind}@example.com`, { USDT: '100' });
      const late = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, { payerEmail: payer.email });
      assert.equal(late.status, 409);
    });

    test('certificates: one RSA key whose serial is the MD5 of the PEM; stable until rotated', async () => {
      const r = await m.client.post('/certificates', '');
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.equal(r.json.data.length, 1);
      const { certSerial, certPublic } = r.json.data[0];
      assert.match(certSerial, /^[0-9A-F]{32}$/);
      assert.ok(
        certPublic.startsWith('-----BEGIN PUBLIC KEY-----\n') && certPublic.endsWith('-----END PUBLIC KEY-----'),
      );
      for (const body of ['{}', '[]']) {
        const again = await m.client.post('/certificates', body);
        assert.equal(again.json.data[0].certSerial, certSerial);
      }
      const rotated = await t.admin('POST', '/admin/v1/webhooks/keys/rotate');
      assert.notEqual(rotated.json.certSerial, certSerial);
      const after = await m.client.post('/certificates', {});
      assert.equal(after.json.data[0].certSerial, rotated.json.certSerial);
      assert.ok(createVerify('RSA-SHA256').update('x').verify !== undefined);
    });

    test('50 simultaneous pay attempts on one order: exactly one succeeds, balance never negative', async () => {
      const payer = await createPayer(t, `race-${kind}@example.com`, { USDT: '30' });
      const c = await m.client.post('/v3/order', v3Order({ orderAmount: '20' }));
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, { payerEmail: payer.email }),
        ),
      );
      assert.equal(results.filter((r) => r.status === 200).length, 1);
      const bal = await t.app.services.ledger.balance(t.db, {
        ownerType: 'payer',
        ownerId: payer.payerId,
        asset: 'USDT',
      });
      assert.equal(bal.available, '10');
      // A second order the payer cannot afford: refused, nothing moves.
      const c2 = await m.client.post('/v3/order', v3Order({ orderAmount: '20' }));
      const before = await snapshot(t.db);
      const poor = await t.admin('POST', `/sandbox/v1/orders/${c2.json.data.prepayId}/pay`, {
        payerEmail: payer.email,
      });
      assert.equal(poor.status, 409);
      assert.equal(poor.json.error.code, 'INSUFFICIENT_FUNDS');
      assert.deepEqual(await snapshot(t.db), before);
      await assertAuditOk(t);
    });
  });
}
