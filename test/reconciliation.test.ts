import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { REFUND_TOPIC } from '../src/pay/refunds/service.ts';
import { REPORT_CSV_HEADER } from '../src/pay/reports/service.ts';
import { createManualClock } from '../src/platform/clock.ts';
import { Decimal } from '../src/platform/money.ts';
import { createOutboxWorker } from '../src/platform/outbox/service.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';

const MINUTE = 60_000;

for (const kind of DB_KINDS) {
  describe(`Reconciliation: daily merchant report from the ledger (${kind})`, () => {
    let t: TestApp;
    let clock: ReturnType<typeof createManualClock>;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    const prepay: Record<string, string> = {};

    before(async () => {
      clock = createManualClock(Date.UTC(2026, 2, 9, 20, 0));
      t = await startTestApp({ kind, clock });
      m = await createMerchant(t, { name: 'Ledger Shop' });
      const other = await createMerchant(t, { name: 'Somebody Else' });
      const payer = await createPayer(t, `recon-${kind}@example.com`, { USDT: '1000', BNB: '10' });
      const settle = async () => {
        const w = createOutboxWorker({
          db: t.db,
          clock: t.clock,
          handlers: { [REFUND_TOPIC]: t.app.services.refunds.handler },
        });
        while ((await w.runOnce()) > 0);
      };
      const pay = async (merchant: typeof m, amount: string, currency = 'USDT') => {
        const c = await merchant.client.post('/v3/order', v3Order({ orderAmount: amount, currency }));
        const p = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, { payerEmail: payer.email });
        assert.equal(p.status, 200, JSON.stringify(p.json));
        clock.advance(MINUTE);
        return c.json.data.prepayId as string;
      };
      const refund = async (prepayId: string, amount: string, reason?: string) => {
        const r = await m.client.post('/order/refund', {
          refundRequestId: `r${Date.now()}${Math.random().toString(36).slice(2, 8)}`,
          prepayId,
          refundAmount: amount,
          refundReason: reason,
        });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        clock.advance(MINUTE);
      };

      // 2026-03-09: one payment.
      prepay.C = await pay(m, '100');
      // 2026-03-10
      clock.advance(6 * 60 * MINUTE);
      prepay.A = await pay(m, '50');
      prepay.B = await pay(m, '20.5');
      prepay.D = await pay(m, '2', 'BNB');
      await pay(other, '7');
      await refund(prepay.A, '10');
      await refund(prepay.B, '5', 'SANDBOX_REJECT');
      await settle(); // A's 10 posted, B's 5 voided
      clock.advance(MINUTE);
      await refund(prepay.A, '3'); // left pending: in freeze, not yet posted
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    const report = (date: string, format = 'json') =>
      t.admin('GET', `/admin/v1/merchants/${m.merchantId}/reports/daily?date=${date}&format=${format}`);

    test(
      'payments with commission and posted refunds with a running balance; closing = /v2/balance available ' +
        '+ freeze',
      async () => {
        const r = await report('2026-03-10');
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.merchantId, m.merchantId);
        assert.equal(r.json.from, Date.UTC(2026, 2, 10));
        assert.equal(r.json.to, Date.UTC(2026, 2, 11));
        const usdt = r.json.assets.find((a: any) => a.asset === 'USDT');
        assert.equal(usdt.openingBalance, '99.00000000');
        assert.deepEqual(
          usdt.transactions.map((x: any) => [x.type, x.prepayId, x.grossAmount, x.commission, x.amount, x.balance]),
          [
            ['PAYMENT', prepay.A, '50.00000000', '0.50000000', '49.50000000', '148.50000000'],
            ['PAYMENT', prepay.B, '20.50000000', '0.20500000', '20.29500000', '168.79500000'],
            ['REFUND', prepay.A, '10.00000000', '0.00000000', '-10.00000000', '158.79500000'],
          ],
        );
        assert.equal(usdt.closingBalance, '158.79500000');
        assert.deepEqual(usdt.totals, {
          payments: '70.50000000',
          commissions: '0.70500000',
          refunds: '10.00000000',
          other: '0.00000000',
          net: '59.79500000',
        });
        const bnb = r.json.assets.find((a: any) => a.asset === 'BNB');
        assert.equal(bnb.openingBalance, '0.00000000');
        assert.deepEqual(
          bnb.transactions.map((x: any) => [x.type, x.amount, x.commission]),
          [['PAYMENT', '1.98000000', '0.02000000']],
        );

        for (const a of r.json.assets) {
          const bal = await m.client.post('/v2/balance', { wallet: 'FUNDING_WALLET', currency: a.asset });
          const [, available = '', freeze = ''] = new RegExp(
            `"asset":"${a.asset}","available":([\\d.]+),"freeze":([\\d.]+)`,
          ).exec(bal.text)!;
          assert.equal(new Decimal(available).plus(freeze).toFixed(8), a.closingBalance, a.asset);
        }
        assert.match(
          (await m.client.post('/v2/balance', { wallet: 'FUNDING_WALLET', currency: 'USDT' })).text,
          /"freeze":3\.00000000/,
        );
      },
    );

    test(
      "consecutive days chain: one day's closing is the next day's opening; a quiet day carries " + 'the balance',
      async () => {
        const d9 = (await report('2026-03-09')).json;
        const usdt9 = d9.assets.find((a: any) => a.asset === 'USDT');
        assert.equal(usdt9.openingBalance, '0.00000000');
        assert.deepEqual(
          usdt9.transactions.map((x: any) => [x.prepayId, x.amount]),
          [[prepay.C, '99.00000000']],
        );
        assert.equal(usdt9.closingBalance, '99.00000000');
        assert.equal(
          d9.assets.find((a: any) => a.asset === 'BNB'),
          undefined,
        );
        const d11 = (await report('2026-03-11')).json;
        const usdt11 = d11.assets.find((a: any) => a.asset === 'USDT');
        assert.deepEqual(usdt11.transactions, []);
        assert.equal(usdt11.openingBalance, '158.79500000');
        assert.equal(usdt11.closingBalance, '158.79500000');
      },
    );

    test('CSV: a header and one row per transaction', async () => {
      const res = await fetch(
        `${t.baseUrl}/admin/v1/merchants/${m.merchantId}/reports/daily?date=2026-03-10&format=csv`,
        { headers: { authorization: `Bearer ${t.adminToken}` } },
      );
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
      const lines = (await res.text()).split('\r\n');
      assert.equal(lines.pop(), '');
      assert.equal(lines[0], REPORT_CSV_HEADER.join(','));
      assert.equal(lines[0], 'time,asset,type,kind,transferId,prepayId,grossAmount,commission,amount,balance');
      const rows = lines.slice(1).map((l) => l.split(','));
      assert.equal(rows.length, 4); // 2 USDT payments, 1 USDT refund, 1 BNB payment; nothing of the other merchant
      assert.ok(rows.every((r) => r.length === 10));
      assert.deepEqual(rows.map((r) => [r[1], r[2], r[5], r[8], r[9]]).sort(), [
        ['BNB', 'PAYMENT', prepay.D, '1.98000000', '1.98000000'],
        ['USDT', 'PAYMENT', prepay.A, '49.50000000', '148.50000000'],
        ['USDT', 'PAYMENT', prepay.B, '20.29500000', '168.79500000'],
        ['USDT', 'REFUND', prepay.A, '-10.00000000', '158.79500000'],
      ]);
      assert.ok(rows.every((r) => r[0]!.startsWith('2026-03-10T')));
    });

    test('guarded and validated: bearer token, calendar date, known merchant', async () => {
      const anon = await fetch(`${t.baseUrl}/admin/v1/merchants/${m.merchantId}/reports/daily?date=2026-03-10`);
      assert.equal(anon.status, 401);
      for (const q of ['date=2026-02-30', 'date=20260310', 'date=2026-03-10&format=xml', '']) {
        const r = await t.admin('GET', `/admin/v1/merchants/${m.merchantId}/reports/daily?${q}`);
        assert.equal(r.status, 400, q);
      }
      const unknown = await t.admin('GET', '/admin/v1/merchants/1/reports/daily?date=2026-03-10');
      assert.equal(unknown.status, 404);
    });
  });
}
