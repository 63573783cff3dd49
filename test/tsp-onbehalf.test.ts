import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  waitForOutbox,
  type TestApp,
} from './helpers.ts';
import { authorize, createAuthorization, createTsp, decide, type Tsp } from './tsp-support.ts';
import { waitFor } from './support/webhook-receiver.ts';

/** Calling the Pay API on behalf of a merchant (binance-pay.md §7.7, §7.8): scopes, IPs, token states, fund flow. */
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
/** Row counts, minus what the background webhook worker writes on its own (attempt logs). */
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);

for (const kind of DB_KINDS) {
  describe(`TSP calling on behalf (${kind})`, () => {
    let t: TestApp;
    let tsp: Tsp;
    let payer: Awaited<ReturnType<typeof createPayer>>;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      tsp = await createTsp(t);
      payer = await createPayer(t, `tsp-payer-${kind}@example.com`, { USDT: '1000' });
    });
    after(async () => {
      await tsp?.receiver.close();
      await assertAuditOk(t);
      await t.close();
    });

    const balance = async (merchantId: string) => {
      const r = await t.admin('GET', `/admin/v1/merchants/${merchantId}`);
      return r.json.balances.find((b: any) => b.asset === 'USDT')?.available ?? '0';
    };

    test(
      'an order created with the token belongs to the merchant, settles to it, and its PAY webhook goes ' +
        'to the TSP',
      async () => {
        const m = await createMerchant(t, { name: 'Settle Co', webhookUrl: 'http://127.0.0.1:9/merchant-own-hook' });
        const a = await authorize(t, tsp, m.merchantId, ['CHECKOUT', 'REFUND', 'BALANCE']);
        const created = await tsp.client.post('/v3/order', {
          [FIELD]: a.authorizationToken,
          ...v3Order({ orderAmount: '10' }),
        });
        assert.equal(created.json.status, 'SUCCESS', created.text);
        const prepayId = created.json.data.prepayId;

        // The merchant sees it with its own key; the TSP without a token (its own account) does not.
        const own = await m.client.post('/v2/order/query', { prepayId });
        assert.equal(own.json.data.merchantId, Number(m.merchantId));
        assert.equal((await tsp.client.post('/v2/order/query', { prepayId })).json.code, '400202');
        const viaTsp = await tsp.client.post(
          '/v2/order/query',
          { prepayId },
          { headers: { [FIELD]: a.authorizationToken } },
        );
        assert.equal(viaTsp.json.data.prepayId, prepayId);
        // The authorizationId is accepted in place of the token.
        const viaId = await tsp.client.post('/v2/order/query', { [FIELD]: a.authorizationId, prepayId });
        assert.equal(viaId.json.data.prepayId, prepayId);
        // Body and header both present and different.
        const both = await tsp.client.post(
          '/v2/order/query',
          { [FIELD]: a.authorizationToken, prepayId },
          { headers: { [FIELD]: 'f'.repeat(32) } },
        );
        assert.equal(both.json.code, '400102');

        const tspBefore = await balance(tsp.merchantId);
        const pay = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
        assert.equal(pay.json.status, 'PAID', JSON.stringify(pay.json));
        assert.ok(Number(await balance(m.merchantId)) > 9, 'merchant credited');
        assert.equal(await balance(tsp.merchantId), tspBefore, 'the TSP is never in the fund flow');
        const w = await waitFor('PAY webhook at the TSP', () =>
          tsp.receiver.received.find((r) => r.body.toString().includes(`"bizIdStr":"${prepayId}"`)),
        );
        assert.match(w.body.toString(), /"bizType":"PAY".*"bizStatus":"PAY_SUCCESS"/);

        // Refund on behalf debits the merchant's balance.
        const before = Number(await balance(m.merchantId));
        const refund = await tsp.client.post('/order/refund', {
          [FIELD]: a.authorizationToken,
          refundRequestId: `r${Date.now()}`,
          prepayId,
          refundAmount: '2',
        });
        assert.equal(refund.json.status, 'SUCCESS', refund.text);
        await waitFor('refund settled', async () => Number(await balance(m.merchantId)) <= before - 2);
        const bal = await tsp.client.post('/v2/balance', {
          [FIELD]: a.authorizationToken,
          wallet: 'FUNDING_WALLET',
          currency: 'USDT',
        });
        assert.equal(bal.json.status, 'SUCCESS', bal.text);
        assert.equal(bal.json.data.balance[0].available, Number(await balance(m.merchantId)));
      },
    );

    test(
      'scope × endpoint matrix: each endpoint allowed exactly with its scope, refused with 400004 and no effect ' +
        'otherwise',
      async () => {
        const ENDPOINTS: { path: string; scope: string | null; body: (prepayId: string) => Record<string, unknown> }[] =
          [
            { path: '/v3/order', scope: 'CHECKOUT', body: () => v3Order() },
            {
              path: '/v2/order',
              scope: 'CHECKOUT',
              body: () => ({
                env: { terminalType: 'WEB' },
                merchantTradeNo: `V2${Date.now()}${Math.floor(Math.random() * 1e6)}`,
                orderAmount: '1',
                currency: 'USDT',
                goods: { goodsType: '01', referenceGoodsId: 'g', goodsName: 'G' },
              }),
            },
            {
              path: '/order',
              scope: 'CHECKOUT',
              body: () => ({
                merchantId: '0',
                merchantTradeNo: `V1${Date.now()}`,
                tradeType: 'WEB',
                totalFee: '1',
                currency: 'USDT',
                productType: 'x',
                productName: 'y',
              }),
            },
            { path: '/v2/order/query', scope: 'CHECKOUT', body: (p) => ({ prepayId: p }) },
            { path: '/order/query', scope: 'CHECKOUT', body: (p) => ({ merchantId: '0', prepayId: p }) },
            { path: '/order/close', scope: 'CHECKOUT', body: () => ({ prepayId: '123456789012345678' }) },
            {
              path: '/order/refund',
              scope: 'REFUND',
              body: (p) => ({
                refundRequestId: `m${Date.now()}${Math.floor(Math.random() * 1e6)}`,
                prepayId: p,
                refundAmount: '0.5',
              }),
            },
            { path: '/order/refund/query', scope: 'REFUND', body: () => ({ refundRequestId: 'nope' }) },
            { path: '/v2/balance', scope: 'BALANCE', body: () => ({ wallet: 'FUNDING_WALLET' }) },
            { path: '/balance', scope: 'BALANCE', body: () => ({ currency: 'USDT' }) },
            { path: '/certificates', scope: null, body: () => ({}) },
          ];
        for (const granted of ['CHECKOUT', 'REFUND', 'BALANCE', 'CONVERT']) {
          const m = await createMerchant(t, { name: `Matrix ${granted}` });
          // A paid order of the merchant (created by the merchant itself) to query and refund.
          const o = await m.client.post('/v3/order', v3Order({ orderAmount: '5' }));
          await t.admin('POST', `/sandbox/v1/orders/${o.json.data.prepayId}/pay`, { payerEmail: payer.email });
          const a = await authorize(t, tsp, m.merchantId, [granted]);
          for (const e of ENDPOINTS) {
            const body = e.body(o.json.data.prepayId);
            if (body.merchantId === '0') body.merchantId = m.merchantId;
            const snap = await snap0(t);
            const r = await tsp.client.post(e.path, { [FIELD]: a.authorizationToken, ...body });
            const allowed = e.scope === null || e.scope === granted;
            if (allowed) {
              assert.notEqual(r.json.code, '400004', `${granted} ${e.path} should be allowed: ${r.text}`);
              if (!['/order/close', '/order/refund/query'].includes(e.path))
                assert.equal(r.json.status, 'SUCCESS', `${granted} ${e.path}: ${r.text}`);
              // An accepted refund completes in the background; let it settle before the next snapshot.
              await waitForOutbox(t);
            } else {
              assert.deepEqual(
                r.json,
                { status: 'FAIL', code: '400004', errorMessage: `Scope ${e.scope} is not authorized.` },
                `${granted} ${e.path}`,
              );
              assert.deepEqual(await snap0(t), snap, `${granted} ${e.path} changed nothing`);
            }
          }
        }
      },
    );

    test('/service/provider/* refuses a token (400102) even a valid one', async () => {
      const m = await createMerchant(t, { name: 'SP Co' });
      const a = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
      const r = await tsp.client.post('/service/provider/record', { [FIELD]: a.authorizationToken, page: 1, rows: 1 });
      assert.equal(r.json.code, '400102');
    });

    test(
      'authorization IP whitelist: outside refused with 400004, inside allowed; a merchant change is effective at ' +
        'once and sends TP_AUTH_CHANGED',
      async () => {
        const m = await createMerchant(t, { name: 'IP Co' });
        const a = await authorize(t, tsp, m.merchantId, ['CHECKOUT'], ['10.1.2.3']);
        const snap = await snap0(t);
        const r = await tsp.client.post('/v3/order', { [FIELD]: a.authorizationToken, ...v3Order() });
        assert.deepEqual(r.json, {
          status: 'FAIL',
          code: '400004',
          errorMessage: 'IP is not in the authorization whitelist.',
        });
        assert.deepEqual(await snap0(t), snap);

        const ch = await t.app.services.tsp.change(m.merchantId, a.authorizationId, {
          scopes: ['CHECKOUT', 'BALANCE'],
          ipWhitelist: ['127.0.0.0/8'],
        });
        assert.ok(ch.ok);
        const w = await tsp.webhook(a.authorizationId, 'TP_AUTH_CHANGED');
        assert.deepEqual(JSON.parse(w.dataText).scopes, ['CHECKOUT', 'BALANCE']);
        assert.equal(JSON.parse(w.dataText).authorizationToken, a.authorizationToken, 'token unchanged');
        const r2 = await tsp.client.post('/v3/order', { [FIELD]: a.authorizationToken, ...v3Order() });
        assert.equal(r2.json.status, 'SUCCESS', r2.text);
        const r3 = await tsp.client.post('/v2/balance', { [FIELD]: a.authorizationToken, wallet: 'FUNDING_WALLET' });
        assert.equal(r3.json.status, 'SUCCESS', r3.text);
        // Scopes the TSP is not allowed cannot be granted by the merchant either.
        const tsp2 = await createTsp(t, { allowScopes: ['CHECKOUT'] });
        try {
          const b = await authorize(t, tsp2, m.merchantId, ['CHECKOUT']);
          const bad = await t.app.services.tsp.change(m.merchantId, b.authorizationId, { scopes: ['REFUND'] });
          assert.equal(bad.ok, false);
        } finally {
          await tsp2.receiver.close();
        }
      },
    );

    test('pending, rejected, disabled, unknown and other-TSP tokens are refused with 400004 and nothing happens', async () => {
      const m = await createMerchant(t, { name: 'Refuse Co' });
      const pending = await createAuthorization(tsp, m.merchantId, ['CHECKOUT']);
      const rejected = await createAuthorization(tsp, m.merchantId, ['CHECKOUT']);
      await decide(t, rejected.authorizationId, 'REJECT');
      const disabled = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
      assert.ok((await t.app.services.tsp.disable(m.merchantId, disabled.authorizationId)).ok);
      const other = await createTsp(t, { name: 'Other TSP' });
      try {
        const foreign = await authorize(t, other, m.merchantId, ['CHECKOUT']);
        const tokens = [
          pending.authorizationToken,
          rejected.authorizationToken,
          disabled.authorizationToken,
          foreign.authorizationToken,
          foreign.authorizationId,
          'f'.repeat(32),
          'not a token',
        ];
        const snap = await snap0(t);
        for (const token of tokens) {
          for (const path of ['/v3/order', '/certificates']) {
            const r = await tsp.client.post(path, { [FIELD]: token, ...(path === '/v3/order' ? v3Order() : {}) });
            assert.deepEqual(
              r.json,
              {
                status: 'FAIL',
                code: '400004',
                errorMessage: 'Technical service provider authorization is not valid.',
              },
              `${token} ${path}`,
            );
          }
        }
        assert.deepEqual(await snap0(t), snap);
        // The right TSP with the same token works.
        assert.equal(
          (await other.client.post('/certificates', { [FIELD]: foreign.authorizationToken })).json.status,
          'SUCCESS',
        );
      } finally {
        await other.receiver.close();
      }
    });

    test(
      'a token disabled mid-flight: works, the merchant disables it (TP_AUTH_DISABLED), the very next call ' +
        'is refused',
      async () => {
        const m = await createMerchant(t, { name: 'Midflight Co' });
        const a = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
        const first = await tsp.client.post('/v3/order', { [FIELD]: a.authorizationToken, ...v3Order() });
        assert.equal(first.json.status, 'SUCCESS', first.text);
        assert.ok((await t.app.services.tsp.disable(m.merchantId, a.authorizationId)).ok);
        const snap = await snap0(t);
        const second = await tsp.client.post('/v3/order', { [FIELD]: a.authorizationToken, ...v3Order() });
        assert.equal(second.json.code, '400004');
        const close = await tsp.client.post('/order/close', {
          [FIELD]: a.authorizationToken,
          prepayId: first.json.data.prepayId,
        });
        assert.equal(close.json.code, '400004');
        assert.deepEqual(await snap0(t), snap);
        assert.equal(
          (await m.client.post('/v2/order/query', { prepayId: first.json.data.prepayId })).json.data.status,
          'INITIAL',
        );
        await tsp.webhook(a.authorizationId, 'TP_AUTH_DISABLED');
        // Disabling twice is refused; operator removing the TSP flag also stops every token.
        assert.equal((await t.app.services.tsp.disable(m.merchantId, a.authorizationId)).ok, false);
        const b = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
        await t.admin('PATCH', `/admin/v1/merchants/${tsp.merchantId}`, { tsp: null });
        try {
          assert.equal((await tsp.client.post('/certificates', { [FIELD]: b.authorizationToken })).json.code, '400004');
        } finally {
          await t.admin('PATCH', `/admin/v1/merchants/${tsp.merchantId}`, {
            tsp: {
              allowScopes: ['CONVERT', 'REFUND', 'CHECKOUT', 'PAYOUT', 'REPORT', 'INTERNAL_TRANSFER', 'BALANCE'],
              allowFeeShare: false,
            },
          });
        }
      },
    );
  });
}
