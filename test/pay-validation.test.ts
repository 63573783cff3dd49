import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMerchant, DB_KINDS, snapshot, startTestApp, v3Order, type TestApp } from './helpers.ts';

/**
 * Field validation of create/query/close/balance (spec §3 codes 400100–400103, §4 rules), each leaving the database
 * unchanged.
 */
const goods = { goodsType: '01', goodsCategory: 'D000', referenceGoodsId: 'R1', goodsName: 'Apple' };
const withGoods = (g: Record<string, unknown>) => v3Order({ goodsDetails: [{ ...goods, ...g }] });
const without = (key: string) => {
  const o: Record<string, unknown> = v3Order();
  delete o[key];
  return o;
};

const CASES: [string, string, unknown, RegExp?][] = [
  ['400100', 'missing env', without('env'), /^env: is required/],
  ['400100', 'missing terminalType', v3Order({ env: {} }), /^env\.terminalType: is required/],
  ['400100', 'missing merchantTradeNo', without('merchantTradeNo'), /^merchantTradeNo/],
  ['400100', 'empty description', v3Order({ description: '' }), /^description: must not be empty/],
  ['400100', 'null description', v3Order({ description: null }), /^description/],
  ['400100', 'description as a number', v3Order({ description: true }), /^description/],
  [
    '400100',
    'no amount at all',
    (() => {
      const o: any = v3Order();
      delete o.orderAmount;
      delete o.currency;
      return o;
    })(),
    /orderAmount/,
  ],
  ['400100', 'orderAmount without currency', without('currency'), /^currency/],
  ['400100', 'empty goodsDetails', v3Order({ goodsDetails: [] }), /^goodsDetails: must not be empty/],
  [
    '400100',
    'goods item without goodsName',
    v3Order({ goodsDetails: [{ goodsType: '01', referenceGoodsId: 'R' }] }),
    /^goodsDetails\[0\]\.goodsName/,
  ],
  ['400100', 'MINI_PROGRAM without appId', v3Order({ env: { terminalType: 'MINI_PROGRAM' } }), /^appId/],
  ['400101', 'description too long', v3Order({ description: 'x'.repeat(257) }), /^description: must be at most 256/],
  ['400101', 'goodsName too long', withGoods({ goodsName: 'x'.repeat(257) }), /^goodsDetails\[0\]\.goodsName/],
  ['400101', 'referenceGoodsId too long', withGoods({ referenceGoodsId: 'x'.repeat(65) }), /referenceGoodsId/],
  [
    '400101',
    'amount with 9 decimals',
    v3Order({ orderAmount: '1.123456789' }),
    /^orderAmount: must have at most 8 decimal places/,
  ],
  ['400101', 'amount not a number', v3Order({ orderAmount: '1,5' }), /^orderAmount/],
  ['400101', 'returnUrl not http(s)', v3Order({ returnUrl: 'ftp://x.example' }), /^returnUrl/],
  ['400101', 'webhookUrl too long', v3Order({ webhookUrl: 'https://x.example/' + 'a'.repeat(250) }), /^webhookUrl/],
  [
    '400101',
    'orderClientIp not an IP',
    v3Order({ env: { terminalType: 'WEB', orderClientIp: '999.1.1.1' } }),
    /orderClientIp/,
  ],
  ['400101', 'passThroughInfo over 512', v3Order({ passThroughInfo: 'p'.repeat(513) }), /passThroughInfo/],
  [
    '400101',
    'more than 100 goods',
    v3Order({ goodsDetails: Array.from({ length: 101 }, () => goods) }),
    /^goodsDetails/,
  ],
  [
    '400101',
    'fiat amount with more decimals than its minor units',
    (() => {
      const o: any = v3Order();
      delete o.orderAmount;
      delete o.currency;
      return { ...o, fiatAmount: '1.001', fiatCurrency: 'USD' };
    })(),
    /fiatAmount/,
  ],
  ['400102', 'unknown terminalType', v3Order({ env: { terminalType: 'TV' } }), /^env\.terminalType: must be one of/],
  ['400102', 'unknown goodsType', withGoods({ goodsType: '03' }), /goodsType/],
  ['400102', 'unknown goodsCategory', withGoods({ goodsCategory: 'G000' }), /goodsCategory/],
  ['400102', 'currency not enabled', v3Order({ currency: 'DOGE' }), /^currency: DOGE is not supported/],
  ['400102', 'amount below the minimum', v3Order({ orderAmount: '0' }), /^orderAmount: must be at least/],
  ['400102', 'orderExpireTime in the past', v3Order({ orderExpireTime: 1000 }), /^orderExpireTime/],
  [
    '400102',
    'orderExpireTime beyond 15 days',
    v3Order({ orderExpireTime: Date.now() + 16 * 86_400_000 }),
    /^orderExpireTime/,
  ],
  [
    '400102',
    'supportPayCurrency with a disabled asset',
    v3Order({ supportPayCurrency: 'USDT,DOGE' }),
    /^supportPayCurrency/,
  ],
  [
    '400102',
    'unsupported fiat currency',
    (() => {
      const o: any = v3Order();
      delete o.orderAmount;
      delete o.currency;
      return { ...o, fiatAmount: '10', fiatCurrency: 'XYZ' };
    })(),
    /fiatCurrency/,
  ],
  [
    '400103',
    'backslash in goodsName',
    withGoods({ goodsName: 'a\\b' }),
    /^goodsDetails\[0\]\.goodsName: contains illegal characters/,
  ],
  [
    '400103',
    'double quote in description',
    v3Order({ description: 'say "hi"' }),
    /^description: contains illegal characters/,
  ],
  ['400103', 'emoji in goodsName', withGoods({ goodsName: 'ice 🍦' }), /illegal/],
  ['400103', 'control character in goodsDetail', withGoods({ goodsDetail: 'a\u0007b' }), /illegal/],
  ['400201', 'merchantTradeNo with other characters', v3Order({ merchantTradeNo: 'abc-123' }), /merchantTradeNo/],
  ['400201', 'merchantTradeNo over 32', v3Order({ merchantTradeNo: 'a'.repeat(33) }), /merchantTradeNo/],
  ['400206', 'unknown sub-merchant', v3Order({ merchant: { subMerchantId: '12345' } })],
];

for (const kind of DB_KINDS) {
  describe(`Binance Pay field validation (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    before(async () => {
      t = await startTestApp({ kind });
      m = await createMerchant(t, { name: 'Validation Shop' });
    });
    after(() => t.close());

    for (const [code, name, body, message] of CASES) {
      test(`${code} ${name}`, async () => {
        const before = await snapshot(t.db);
        const r = await m.client.post('/v3/order', body);
        assert.equal(r.json.status, 'FAIL', r.text);
        assert.equal(r.json.code, code, r.text);
        if (message) assert.match(r.json.errorMessage, message);
        assert.ok(r.json.errorMessage.length <= 256);
        assert.deepEqual(await snapshot(t.db), before);
      });
    }

    test('400201 duplicate merchantTradeNo; the first order is untouched', async () => {
      const body = v3Order();
      assert.equal((await m.client.post('/v3/order', body)).json.status, 'SUCCESS');
      const before = await snapshot(t.db);
      const dup = await m.client.post('/v3/order', { ...body, orderAmount: '99' });
      assert.equal(dup.json.code, '400201');
      assert.deepEqual(await snapshot(t.db), before);
      const q = await m.client.post('/v2/order/query', { merchantTradeNo: body.merchantTradeNo });
      assert.equal(q.json.data.orderAmount, '25.17000000');
    });

    test('unknown fields are ignored; JSON numbers and numeric strings are both exact', async () => {
      const r = await m.client.post(
        '/v3/order',
        '{"env":{"terminalType":"APP"},"merchantTradeNo":"NUM1","orderAmount":0.12345678,"currency":"USDT",' +
          ('"description":"d","goodsDetails":[{"goodsType":"02","referenceGoodsId":"r","goodsName":"n"}],' +
            '"somethingNew":{"x":1}}'),
      );
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.equal(r.json.data.totalFee, '0.12345678');
    });

    test('query, close and balance validate their fields too', async () => {
      const cases: [string, unknown, string][] = [
        ['/v2/order/query', { prepayId: 'abc' }, '400101'],
        ['/v2/order/query', { merchantTradeNo: 'x'.repeat(33) }, '400101'],
        ['/order/close', {}, '400100'],
        ['/v2/balance', {}, '400100'],
        ['/v2/balance', { wallet: 'MAIN' }, '400102'],
        ['/balance', { wallet: 'FUNDING_WALLET' }, '400100'],
      ];
      for (const [path, body, code] of cases) {
        const r = await m.client.post(path, body);
        assert.equal(r.json.code, code, `${path} ${JSON.stringify(body)}: ${r.text}`);
      }
    });
  });
}
