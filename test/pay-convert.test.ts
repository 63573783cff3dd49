import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { assertAuditOk, createMerchant, DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';
import { consoleLogin, createOperator } from './support/console.ts';
import { formBrowser } from './support/form-browser.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/** Convert (binance-pay-extended.md §15): pairs, quote, execute, query; the convert-house book. */
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
let seq = 0;
/** 1 / 0.004975 (201.005025125628140703…) as the wire writes a rate: 8 decimals, rounded down (checked on the text). */
const INVERSE = 201.00502512;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);

/** Fixed-rate pairs: numbers a reader can check by hand (ratio = rate × (1 − spread)). */
const PAIRS = [
  {
    fromAsset: 'USDT',
    toAsset: 'BNB',
    fromMin: '1',
    fromMax: '100000',
    toMin: '0.002',
    toMax: '200',
    fixedRate: '0.005',
    spreadBps: 50,
  },
  {
    fromAsset: 'BNB',
    toAsset: 'USDT',
    fromMin: '0.002',
    fromMax: '200',
    toMin: '1',
    toMax: '100000',
    fixedRate: '200',
    spreadBps: 100,
  },
  {
    fromAsset: 'USDT',
    toAsset: 'ETH',
    fromMin: '1',
    fromMax: '1000',
    toMin: '0.0001',
    toMax: '1',
    enabled: false,
    fixedRate: '0.0003',
  },
];

for (const kind of DB_KINDS) {
  describe(`Binance Pay convert (${kind})`, () => {
    let t: TestApp;
    let tsp: Tsp;

    before(async () => {
      t = await startTestApp({ kind });
      tsp = await createTsp(t);
    });
    afterEach(async () => {
      await assertAuditOk(t);
    });
    after(async () => {
      await tsp?.receiver.close();
      await t.close();
    });

    async function funded(name: string, amount = '100', asset = 'USDT', ownerType = 'merchant'): Promise<Merchant> {
      const m = await createMerchant(t, { name });
      await fund(m, amount, asset, ownerType);
      return m;
    }
    async function fund(m: Merchant, amount: string, asset = 'USDT', ownerType = 'merchant') {
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-fund:${m.merchantId}:${asset}:${++seq}`,
          debit: platformAccount('sandbox_mint', asset),
          credit: { ownerType: ownerType as 'merchant', ownerId: m.merchantId, asset },
          amount,
          kind: 'sandbox.fund',
        }),
      );
    }
    const available = async (m: Merchant, asset: string, ownerType = 'merchant') =>
      (await t.app.services.ledger.balance(t.db, { ownerType: ownerType as 'merchant', ownerId: m.merchantId, asset }))
        .available;
    const house = async (asset: string) =>
      (await t.app.services.ledger.balance(t.db, platformAccount('convert-house', asset))).posted;
    const setPairs = async (pairs: unknown[] = PAIRS) => {
      const r = await t.admin('PUT', '/admin/v1/convert/pairs', { pairs });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json;
    };

    test('sandbox defaults before the operator sets pairs; PUT replaces them; an unconfigured asset lists nothing', async () => {
      const m = await funded('Selector Shop', '1');
      const d = await m.client.post('/otc-portal/get-to-selector', { fromAsset: 'USDT' });
      assert.equal(d.json.status, 'SUCCESS', d.text);
      assert.deepEqual(
        d.json.data.toList.map((p: any) => p.coin),
        ['BNB', 'BTC', 'ETH', 'USDC'],
      );
      assert.deepEqual(d.json.data.toList[0], {
        coin: 'BNB',
        fromMin: 1,
        fromMax: 100000,
        toMin: 0.002,
        toMax: 200,
        reverse: true,
        base: false,
      });
      const bnb = await m.client.post('/otc-portal/get-to-selector', { fromAsset: 'BNB' });
      assert.equal(bnb.json.data.toList[0].base, true);
      // A default pair is priced by the price source: BNB at the sandbox's walk, the spread taken off.
      const q = await m.client.post('/otc-portal/get-quote', {
        wallet: 'FUNDING_WALLET',
        fromAsset: 'USDT',
        toAsset: 'BNB',
        fromAmount: '10',
      });
      assert.equal(q.json.status, 'SUCCESS', q.text);
      const mid = 1 / Number(t.app.services.prices.cryptoUsd('BNB'));
      // The wire's ratio has 8 decimals, rounded down.
      assert.ok(mid * 0.995 - q.json.data.ratio >= 0 && mid * 0.995 - q.json.data.ratio < 1e-8, q.text);

      const put = await setPairs();
      assert.equal(put.pairs.length, 3);
      const s = await m.client.post('/otc-portal/get-to-selector', { fromAsset: 'USDT' });
      // ETH is configured but disabled: not listed. BNB→USDT exists, so USDT→BNB is reversible.
      assert.deepEqual(s.json, {
        status: 'SUCCESS',
        code: '000000',
        data: {
          coin: 'USDT',
          toList: [{ coin: 'BNB', fromMin: 1, fromMax: 100000, toMin: 0.002, toMax: 200, reverse: true, base: false }],
        },
        errorMessage: null,
      });
      assert.deepEqual((await m.client.post('/otc-portal/get-to-selector', { fromAsset: 'XYZ' })).json.data, {
        coin: 'XYZ',
        toList: [],
      });
      // The admin API refuses nonsense and needs the token.
      for (const bad of [
        [{ ...PAIRS[0], fromMin: '10', fromMax: '1' }],
        [PAIRS[0], PAIRS[0]],
        [{ ...PAIRS[0], spreadBps: 10000 }],
        [{ ...PAIRS[0], toAsset: 'USDT' }],
      ]) {
        const r = await t.admin('PUT', '/admin/v1/convert/pairs', { pairs: bad });
        assert.equal(r.status, 400, JSON.stringify(r.json));
      }
      const anon = await fetch(`${t.baseUrl}/admin/v1/convert/pairs`, { method: 'GET' });
      assert.equal(anon.status, 401);
      assert.equal((await t.admin('GET', '/admin/v1/convert/pairs')).json.pairs.length, 3);
    });

    test('quote → execute → query: ratio = rate less spread, both ledger legs through convert-house, exactly as published', async () => {
      await setPairs();
      const m = await funded('Convert Shop', '150');
      const houseUsdt = await house('USDT');
      const houseBnb = await house('BNB');
      const now = t.clock.now();
      const q = await m.client.post(
        '/otc-portal/get-quote',
        '{"wallet":"FUNDING_WALLET","fromAsset":"USDT","toAsset":"BNB","fromAmount":100.5}',
      );
      assert.equal(q.json.status, 'SUCCESS', q.text);
      assert.match(q.json.data.quoteId, /^[0-9a-f]{32}$/);
      assert.deepEqual(q.json.data, {
        quoteId: q.json.data.quoteId,
        ratio: 0.004975,
        inverseRatio: INVERSE,
        validTimestamp: now + 10_000,
        expireTime: now + 10_000,
        toAmount: 0.4999875,
        toCoin: 'BNB',
        fromAmount: 100.5,
        fromCoin: 'USDT',
      });
      assert.match(q.text, /"inverseRatio":201.00502512,/);
      assert.match(q.text, /"toAmount":0.4999875,/);

      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId });
      assert.equal(x.json.status, 'SUCCESS', x.text);
      assert.match(x.json.data.orderId, /^\d{19}$/);
      assert.deepEqual(x.json.data, {
        orderId: x.json.data.orderId,
        createTime: now,
        orderStatus: 'SUCCESS',
        quotePrice: 0.004975,
        inversePrice: INVERSE,
        fromCoin: 'USDT',
        fromCoinAmount: 100.5,
        toCoin: 'BNB',
        toCoinAmount: 0.4999875,
      });
      assert.equal(await available(m, 'USDT'), '49.5');
      assert.equal(await available(m, 'BNB'), '0.4999875');
      // The house took the USDT and is short the BNB (it may be; the merchant never is).
      assert.equal(Number(await house('USDT')) - Number(houseUsdt), 100.5);
      assert.equal(Number(await house('BNB')) - Number(houseBnb), -0.4999875);
      // The ledger audit reports the house's net position per asset, as information: the audit is still ok.
      const audit = await assertAuditOk(t);
      assert.deepEqual(audit.convertHouse, [
        { asset: 'BNB', net: await house('BNB') },
        { asset: 'USDT', net: await house('USDT') },
      ]);
      assert.ok(
        audit.convertHouse.some((p: { net: string }) => p.net.startsWith('-')),
        'the house is short BNB',
      );
      // The console's ledger page shows it beside a balanced audit.
      const b = formBrowser(t.baseUrl);
      assert.equal(
        (await consoleLogin(b, await createOperator(t, 'admin', `convert-${kind}@ops.example`))).status,
        303,
      );
      const ledgerPage = await b.get('/admin/ledger');
      assert.match(ledgerPage.body, /id="audit" class="ok"/);
      assert.ok(
        ledgerPage.body.includes(
          `id="convert-house">Convert book (may be short): <span class="mono">${await house('BNB')} BNB</span>`,
        ),
        ledgerPage.body,
      );

      // Query by string or by number.
      const orderId = x.json.data.orderId;
      for (const body of [{ orderId }, `{"orderId":${orderId}}`]) {
        const r = await m.client.post('/otc-portal/query-trade-order', body);
        assert.deepEqual(r.json.data, {
          orderId,
          orderStatus: 'SUCCESS',
          fromAsset: 'USDT',
          fromAmount: 100.5,
          toAsset: 'BNB',
          toAmount: 0.4999875,
          ratio: 0.004975,
          inverseRatio: INVERSE,
        });
      }
      // Re-executing returns the same order, before and after expiry; nothing moves again.
      assert.deepEqual(
        (await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId })).json,
        x.json,
      );
      t.clock.advance!(60_000);
      assert.deepEqual(
        (await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId })).json,
        x.json,
      );
      assert.equal(await available(m, 'USDT'), '49.5');

      // Back the other way by toAmount: fromAmount = toAmount / ratio rounded down to 8 dp (ratio 198 after 1%).
      const back = await m.client.post('/otc-portal/get-quote', {
        wallet: 'FUNDING_WALLET',
        fromAsset: 'BNB',
        toAsset: 'USDT',
        toAmount: '10',
      });
      assert.equal(back.json.data.ratio, 198);
      assert.equal(back.json.data.fromAmount, 0.05050505);
      assert.equal(back.json.data.toAmount, 10);
      const bx = await m.client.post('/otc-portal/execute-quote', { quoteId: back.json.data.quoteId });
      assert.equal(bx.json.data.orderStatus, 'SUCCESS', bx.text);
      assert.equal(await available(m, 'BNB'), '0.44948245');
      assert.equal(await available(m, 'USDT'), '59.5');
    });

    test('rates on the wire: 8 decimals rounded down, like the published sample; amounts from the full-precision rate', async () => {
      // 0.00447815 × 0.995 = 0.0044557592500 (stored to 18 dp); on the wire 0.00445575 (down, not 0.00445576).
      await setPairs([{ ...PAIRS[0], fixedRate: '0.00447815' }]);
      const m = await funded('Rate Digits Shop', '200');
      const q = await m.client.post(
        '/otc-portal/get-quote',
        '{"wallet":"FUNDING_WALLET","fromAsset":"USDT","toAsset":"BNB","fromAmount":179.54201695}',
      );
      assert.equal(q.json.status, 'SUCCESS', q.text);
      assert.match(q.text, /"ratio":0.00445575,"inverseRatio":224.42864254,/);
      // 179.54201695 × 0.00445575925 = 0.7999960…; the 8-decimal rate would have given 0.79999434.
      assert.match(q.text, /"toAmount":0.799996,/);
      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId });
      assert.match(x.text, /"quotePrice":0.00445575,"inversePrice":224.42864254,/);
      assert.match(x.text, /"toCoinAmount":0.799996\}/);
      const o = await m.client.post('/otc-portal/query-trade-order', { orderId: x.json.data.orderId });
      assert.match(o.text, /"ratio":0.00445575,"inverseRatio":224.42864254\}/);
      assert.equal(await available(m, 'BNB'), '0.799996');
      // Every rate the API writes has at most 8 decimals.
      for (const text of [q.text, x.text, o.text])
        for (const [, digits] of text.matchAll(/"(?:ratio|inverseRatio|quotePrice|inversePrice)":\d+\.?(\d*)/g))
          assert.ok(digits!.length <= 8, text);
    });

    test('SPOT_WALLET converts inside the spot wallet; the funding wallet is untouched', async () => {
      await setPairs();
      const m = await funded('Spot Convert Shop', '20', 'USDT', 'merchant_spot');
      await fund(m, '5');
      const q = await m.client.post('/otc-portal/get-quote', {
        wallet: 'SPOT_WALLET',
        fromAsset: 'USDT',
        toAsset: 'BNB',
        fromAmount: '20',
      });
      assert.ok(q.json.data.quoteId, q.text);
      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId });
      assert.equal(x.json.data.orderStatus, 'SUCCESS');
      assert.equal(await available(m, 'USDT', 'merchant_spot'), '0');
      assert.equal(await available(m, 'BNB', 'merchant_spot'), '0.0995');
      assert.equal(await available(m, 'USDT'), '5');
      assert.equal(await available(m, 'BNB'), '0');
    });

    test('no quoteId when the wallet cannot cover fromAmount; a covered quote the wallet no longer covers → FAIL, nothing moves', async () => {
      await setPairs();
      const m = await funded('Short Convert Shop', '10');
      const body = { wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '10.00000001' };
      const snap = await snap0(t);
      const q = await m.client.post('/otc-portal/get-quote', body);
      assert.equal(q.json.status, 'SUCCESS');
      assert.equal('quoteId' in q.json.data, false, q.text);
      assert.equal(q.json.data.toAmount, 0.04975);
      assert.deepEqual(await snap0(t), snap, 'an uncovered quote stores nothing');

      const ok = await m.client.post('/otc-portal/get-quote', { ...body, fromAmount: '10' });
      assert.ok(ok.json.data.quoteId);
      // The money leaves the funding wallet before execution.
      const tr = await m.client.post('/wallet/transfer', {
        requestId: `C${++seq}`,
        currency: 'USDT',
        amount: '1',
        transferType: 'TO_MAIN',
      });
      assert.equal(tr.json.data.status, 'SUCCESS');
      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: ok.json.data.quoteId });
      assert.equal(x.json.status, 'SUCCESS', x.text);
      assert.equal(x.json.data.orderStatus, 'FAIL');
      assert.equal(await available(m, 'USDT'), '9');
      assert.equal(await available(m, 'BNB'), '0');
      // Refunded to 10 now, the quote's order is still the FAIL: a quote executes once.
      await fund(m, '1');
      assert.deepEqual(
        (await m.client.post('/otc-portal/execute-quote', { quoteId: ok.json.data.quoteId })).json,
        x.json,
      );
      const qr = await m.client.post('/otc-portal/query-trade-order', { orderId: x.json.data.orderId });
      assert.equal(qr.json.data.orderStatus, 'FAIL');
      assert.equal(await available(m, 'USDT'), '10');
    });

    test('an expired quote → 345231 and nothing moves; valid through its last millisecond (business clock)', async () => {
      await setPairs();
      const m = await funded('Expiry Shop', '10');
      const quote = async () =>
        (
          await m.client.post('/otc-portal/get-quote', {
            wallet: 'FUNDING_WALLET',
            fromAsset: 'USDT',
            toAsset: 'BNB',
            fromAmount: '2',
          })
        ).json.data;
      const late = await quote();
      t.clock.advance!(10_001);
      const snap = await snap0(t);
      assert.deepEqual((await m.client.post('/otc-portal/execute-quote', { quoteId: late.quoteId })).json, {
        status: 'FAIL',
        code: '345231',
        errorMessage: 'The quote has expired; request a new quote.',
      });
      assert.deepEqual(await snap0(t), snap);
      const edge = await quote();
      t.clock.advance!(10_000);
      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: edge.quoteId });
      assert.equal(x.json.data?.orderStatus, 'SUCCESS', x.text);
      assert.equal(await available(m, 'USDT'), '8');
    });

    test('every field rule answers its code and changes nothing', async () => {
      await setPairs();
      const m = await funded('Convert Field Shop', '10');
      const other = await funded('Convert Other Shop', '10');
      const good = { wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '2' };
      const foreign = (await other.client.post('/otc-portal/get-quote', good)).json.data.quoteId;
      assert.ok(foreign);
      const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ['/otc-portal/get-quote', { wallet: undefined }, '400100', /^wallet: is required$/],
        ['/otc-portal/get-quote', { wallet: 'MAIN_WALLET' }, '400102', /^wallet: must be one of/],
        ['/otc-portal/get-quote', { fromAsset: undefined }, '400100', /^fromAsset: is required$/],
        ['/otc-portal/get-quote', { fromAsset: 'usdt' }, '400101', /^fromAsset: must be upper-case/],
        ['/otc-portal/get-quote', { toAsset: 'bnb' }, '400101', /^toAsset: /],
        ['/otc-portal/get-quote', { fromAmount: undefined }, '400102', /exactly one of fromAmount and toAmount/],
        ['/otc-portal/get-quote', { toAmount: '0.01' }, '400102', /exactly one of fromAmount and toAmount/],
        ['/otc-portal/get-quote', { fromAmount: 'x' }, '400101', /^fromAmount: must be a decimal number$/],
        ['/otc-portal/get-quote', { fromAmount: '1.000000001' }, '400101', /at most 8 decimal places/],
        ['/otc-portal/get-quote', { fromAmount: '0' }, '400102', /^fromAmount: must be at least 0.00000001$/],
        ['/otc-portal/get-quote', { fromAmount: '1000000000000000' }, '400102', /must be at most 999999999999999/],
        ['/otc-portal/get-quote', { toAsset: 'BTC' }, '400102', /^USDT to BTC is not a supported pair\.$/],
        ['/otc-portal/get-quote', { toAsset: 'ETH' }, '400102', /not a supported pair/], // disabled
        ['/otc-portal/get-quote', { fromAmount: '0.5' }, '400102', /^fromAmount must be between 1 and 100000\.$/],
        ['/otc-portal/get-quote', { fromAmount: '100001' }, '400102', /^fromAmount must be between/],
        [
          '/otc-portal/get-quote',
          { fromAmount: undefined, toAmount: '200.1' },
          '400102',
          /^toAmount must be between 0.002 and 200\.$/,
        ],
        ['/otc-portal/get-to-selector', { fromAsset: undefined }, '400100', /^fromAsset: is required$/],
        ['/otc-portal/get-to-selector', { fromAsset: 'usdt' }, '400101', /^fromAsset: /],
        ['/otc-portal/execute-quote', { quoteId: undefined }, '400100', /^quoteId: is required$/],
        ['/otc-portal/execute-quote', { quoteId: '' }, '400100', /^quoteId: must not be empty$/],
        ['/otc-portal/execute-quote', { quoteId: 'f'.repeat(32) }, '400102', /is not a valid quote/],
        ['/otc-portal/execute-quote', { quoteId: foreign }, '400102', /is not a valid quote/],
        ['/otc-portal/query-trade-order', { orderId: undefined }, '400100', /^orderId: is required$/],
        ['/otc-portal/query-trade-order', { orderId: 'abc' }, '400101', /^orderId: must be an integer$/],
        ['/otc-portal/query-trade-order', { orderId: '1309477640981204290' }, '400202', /^Convert order not found\.$/],
      ];
      const snap = await snap0(t);
      for (const [path, change, code, message] of cases) {
        const body = path === '/otc-portal/get-quote' ? { ...good, ...change } : change;
        const r = await m.client.post(path, body);
        assert.equal(r.json.code, code, `${path} ${JSON.stringify(change)}: ${r.text}`);
        assert.match(r.json.errorMessage, message, `${path} ${JSON.stringify(change)}`);
      }
      assert.deepEqual(await snap0(t), snap);
      // Another merchant's order is not found either.
      const x = await other.client.post('/otc-portal/execute-quote', { quoteId: foreign });
      assert.equal(x.json.data.orderStatus, 'SUCCESS');
      const r = await m.client.post('/otc-portal/query-trade-order', { orderId: x.json.data.orderId });
      assert.equal(r.json.code, '400202');
    });

    test('race: 10 concurrent executions of one quote → one order, every answer the same, moved once', async () => {
      await setPairs();
      const m = await funded('Race Convert Shop', '10');
      const q = await m.client.post('/otc-portal/get-quote', {
        wallet: 'FUNDING_WALLET',
        fromAsset: 'USDT',
        toAsset: 'BNB',
        fromAmount: '4',
      });
      const results = await Promise.all(
        Array.from({ length: 10 }, () => m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId })),
      );
      for (const r of results) assert.deepEqual(r.json, results[0]!.json);
      assert.equal(results[0]!.json.data.orderStatus, 'SUCCESS');
      assert.equal(await available(m, 'USDT'), '6');
      const n = await t.db.query(`SELECT count(*) AS n FROM pay_convert_orders WHERE quote_id = $1`, [
        q.json.data.quoteId,
      ]);
      assert.equal(Number(n.rows[0].n), 1);
    });

    test('race: 6 quotes of 4 each from a balance of 10, executed at once → 2 SUCCESS, 4 FAIL, never below zero', async () => {
      await setPairs();
      const m = await funded('Race Many Shop', '10');
      const quotes = [];
      for (let i = 0; i < 6; i++) {
        const q = await m.client.post('/otc-portal/get-quote', {
          wallet: 'FUNDING_WALLET',
          fromAsset: 'USDT',
          toAsset: 'BNB',
          fromAmount: '4',
        });
        quotes.push(q.json.data.quoteId);
      }
      const results = await Promise.all(
        quotes.map((quoteId) => m.client.post('/otc-portal/execute-quote', { quoteId })),
      );
      const statuses = results.map((r) => r.json.data?.orderStatus ?? r.text).sort();
      assert.deepEqual(statuses, ['FAIL', 'FAIL', 'FAIL', 'FAIL', 'SUCCESS', 'SUCCESS']);
      assert.equal(await available(m, 'USDT'), '2');
      assert.equal(await available(m, 'BNB'), '0.0398');
    });

    test('feature convert off → 400203 on every endpoint; fields are checked first; on again → works', async () => {
      await setPairs();
      const m = await funded('Gated Convert Shop', '10');
      const q = await m.client.post('/otc-portal/get-quote', {
        wallet: 'FUNDING_WALLET',
        fromAsset: 'USDT',
        toAsset: 'BNB',
        fromAmount: '2',
      });
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { convert: false } });
      const gated = {
        status: 'FAIL',
        code: '400203',
        errorMessage: 'Not support for this account, please check account status.',
      };
      const snap = await snap0(t);
      for (const [path, body] of [
        ['/otc-portal/get-to-selector', { fromAsset: 'USDT' }],
        ['/otc-portal/get-quote', { wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '2' }],
        ['/otc-portal/execute-quote', { quoteId: q.json.data.quoteId }],
        ['/otc-portal/query-trade-order', { orderId: '1' }],
      ] as const) {
        assert.deepEqual((await m.client.post(path, body)).json, gated, path);
      }
      assert.equal((await m.client.post('/otc-portal/get-to-selector', { fromAsset: 'x' })).json.code, '400101');
      assert.deepEqual(await snap0(t), snap);
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { convert: true } });
      const x = await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId });
      assert.equal(x.json.data.orderStatus, 'SUCCESS');
    });

    test('TSP: CONVERT converts the merchant’s funds; without the scope or from outside the IP list → 400004', async () => {
      await setPairs();
      const m = await funded('TSP Convert Shop', '10');
      const a = await authorize(t, tsp, m.merchantId, ['CONVERT']);
      const body = { wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '2' };
      const q = await tsp.client.post('/otc-portal/get-quote', { [FIELD]: a.authorizationToken, ...body });
      assert.ok(q.json.data?.quoteId, q.text);
      const x = await tsp.client.post('/otc-portal/execute-quote', {
        [FIELD]: a.authorizationToken,
        quoteId: q.json.data.quoteId,
      });
      assert.equal(x.json.data?.orderStatus, 'SUCCESS', x.text);
      assert.equal(await available(m, 'USDT'), '8');
      // The quote and order are the merchant's: the merchant itself can query it; the TSP as itself cannot.
      assert.equal(
        (await m.client.post('/otc-portal/query-trade-order', { orderId: x.json.data.orderId })).json.data.orderStatus,
        'SUCCESS',
      );
      assert.equal(
        (await tsp.client.post('/otc-portal/query-trade-order', { orderId: x.json.data.orderId })).json.code,
        '400202',
      );
      for (const [scopes, ips, message] of [
        [['CHECKOUT', 'BALANCE'], [], /^Scope CONVERT is not authorized\.$/],
        [['CONVERT'], ['10.1.2.3'], /^IP is not in the authorization whitelist\.$/],
      ] as const) {
        const token = (await authorize(t, tsp, m.merchantId, [...scopes], [...ips])).authorizationToken;
        const snap = await snap0(t);
        for (const [path, b] of [
          ['/otc-portal/get-to-selector', { fromAsset: 'USDT' }],
          ['/otc-portal/get-quote', body],
          ['/otc-portal/execute-quote', { quoteId: q.json.data.quoteId }],
          ['/otc-portal/query-trade-order', { orderId: x.json.data.orderId }],
        ] as const) {
          const r = await tsp.client.post(path, { [FIELD]: token, ...b });
          assert.equal(r.json.code, '400004', r.text);
          assert.match(r.json.errorMessage, message);
        }
        assert.deepEqual(await snap0(t), snap);
      }
    });
  });
}

/** §15.5 settings (src/config.ts): not a matter of the database, so one app on PGlite. */
describe('Binance Pay convert settings: convert.quoteValidityMs and convert.spreadBps', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ env: { PAY_CONVERT_QUOTE_VALIDITY_MS: '30000', PAY_CONVERT_SPREAD_BPS: '200' } });
  });
  afterEach(async () => {
    await assertAuditOk(t);
  });
  after(async () => {
    await t.close();
  });

  test('a quote holds for the configured validity; pairs without their own spread take the configured one', async () => {
    const m = await createMerchant(t, { name: 'Settings Convert Shop' });
    await t.db.tx((q) =>
      t.app.services.ledger.transfer(q, {
        id: `test-fund:${m.merchantId}:settings`,
        debit: platformAccount('sandbox_mint', 'USDT'),
        credit: { ownerType: 'merchant', ownerId: m.merchantId, asset: 'USDT' },
        amount: '100',
        kind: 'sandbox.fund',
      }),
    );
    const body = { wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '10' };
    // The sandbox's default pairs: the price source's mid less 2 % (not 0.5 %).
    const sandbox = await m.client.post('/otc-portal/get-quote', body);
    const mid = 1 / Number(t.app.services.prices.cryptoUsd('BNB'));
    assert.ok(Math.abs(sandbox.json.data.ratio - mid * 0.98) < 1e-8, sandbox.text);
    assert.equal(
      (await t.admin('GET', '/admin/v1/convert/pairs')).json.pairs.find((p: any) => p.toAsset === 'BNB').spreadBps,
      200,
    );

    // A pair set without spreadBps: 200 stored and used; one with its own keeps it.
    const { spreadBps: _dropped, ...noSpread } = PAIRS[0]!;
    const put = await t.admin('PUT', '/admin/v1/convert/pairs', { pairs: [noSpread, PAIRS[1]] });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.deepEqual(
      put.json.pairs.map((p: any) => [p.fromAsset, p.spreadBps]),
      [
        ['BNB', 100],
        ['USDT', 200],
      ],
    );
    const now = t.clock.now();
    const q = await m.client.post('/otc-portal/get-quote', body);
    assert.equal(q.json.data.ratio, 0.0049, q.text); // 0.005 × (1 − 2 %)
    assert.equal(q.json.data.expireTime, now + 30_000);
    assert.equal(q.json.data.validTimestamp, now + 30_000);
    // Past the default 10 s, still valid; past 30 s, expired.
    t.clock.advance!(20_000);
    const x = await m.client.post('/otc-portal/execute-quote', { quoteId: q.json.data.quoteId });
    assert.equal(x.json.data?.orderStatus, 'SUCCESS', x.text);
    const late = await m.client.post('/otc-portal/get-quote', body);
    t.clock.advance!(30_001);
    assert.equal(
      (await m.client.post('/otc-portal/execute-quote', { quoteId: late.json.data.quoteId })).json.code,
      '345231',
    );
  });
});
