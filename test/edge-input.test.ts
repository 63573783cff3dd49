import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kycSignature } from '../src/kyc/auth.ts';
import { signPay } from '../src/pay/auth.ts';
import { randomAlnum } from '../src/platform/crypto.ts';
import { createMerchant, DB_KINDS, snapshot, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { onboardPartner } from './support/connect-client.ts';
import { capturingLogger } from './support/log-capture.ts';

/**
 * Exact answers for edge input (issue 13): huge ids and amounts, NUL characters, unparsable content types.
 * Each case answers the family's parameter code, changes nothing and logs nothing at error level.
 */
const KYC_BASE = '/bapi/ekyc/v2/public/ekyc/customer';
const NUL = '\u0000';

for (const kind of DB_KINDS) {
  describe(`edge input answers (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    let p: Awaited<ReturnType<typeof onboardPartner>>;
    let broker: { bizEntityKey: string; secret: string };
    let log: ReturnType<typeof capturingLogger>;
    before(async () => {
      log = capturingLogger();
      t = await startTestApp({ kind, logger: log.logger, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      m = await createMerchant(t);
      p = await onboardPartner(t);
      const b = await t.admin('POST', '/admin/v1/brokers', {
        name: 'Edge broker',
        partialSharing: false,
        ipWhitelist: ['127.0.0.1'],
      });
      assert.equal(b.status, 201, JSON.stringify(b.json));
      broker = b.json;
    });
    after(async () => t.close());

    const unchanged = async (fn: () => Promise<void>) => {
      log.lines.length = 0;
      const before = await snapshot(t.db);
      await fn();
      assert.deepEqual(await snapshot(t.db), before);
      assert.deepEqual(log.errors(), []);
    };
    const kyc = async (name: string, raw: string) => {
      const res = await fetch(`${t.baseUrl}${KYC_BASE}/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-SHA2-Signature': kycSignature(broker.secret, raw) },
        body: raw,
      });
      return { status: res.status, json: (await res.json()) as any };
    };

    test('Pay: a prepayId of 2^63 or more, as a number or a string, is a parameter error on query and close', () =>
      unchanged(async () => {
        for (const path of ['/v2/order/query', '/order/close']) {
          for (const raw of [
            '{"prepayId":9223372036854775808}',
            '{"prepayId":"9223372036854775808"}',
            '{"prepayId":"9999999999999999999"}',
          ]) {
            const r = await m.client.post(path, undefined, { rawBody: raw });
            assert.equal(r.json.code, '400102', `${path} ${raw}: ${r.text}`);
          }
          // The largest int8 is still a well-formed id: simply not found.
          assert.equal((await m.client.post(path, { prepayId: '9223372036854775807' })).json.code, '400202');
        }
      }));

    test('Pay: a NUL character (or a lone surrogate) in any string field is 400103, never a database error', () =>
      unchanged(async () => {
        const cases: [string, unknown][] = [
          ['/v2/order/query', { merchantTradeNo: `a${NUL}b` }],
          ['/order/close', { merchantTradeNo: NUL }],
          ['/order/query', { merchantId: m.merchantId, merchantTradeNo: `x${NUL}` }],
          ['/order/refund', { refundRequestId: 'r1', prepayId: `1${NUL}`, refundAmount: '1' }],
          ['/order/refund/query', { refundRequestId: `r${NUL}` }],
          ['/v3/order', v3Order({ merchantTradeNo: `T${NUL}1` })],
          ['/v3/order', { ...v3Order(), [`k${NUL}`]: 'v' }],
          ['/v2/order/query', { merchantTradeNo: '\ud800' }],
        ];
        for (const [path, body] of cases) {
          const r = await m.client.post(path, body);
          assert.equal(r.json.code, '400103', `${path}: ${r.text}`);
        }
      }));

    test('Pay: an unparsable Content-Type is 400007 like any other non-JSON type', () =>
      unchanged(async () => {
        for (const ct of ['garbage;;;', ';', '/', 'text/plain;;;']) {
          const r = await m.client.post('/v2/order/query', { prepayId: '1' }, { headers: { 'content-type': ct } });
          assert.equal(r.json.code, '400007', `${ct}: ${r.text}`);
        }
      }));

    test('Pay: amounts have an upper bound that fits the columns (400102)', () =>
      unchanged(async () => {
        const huge = [
          '1' + '0'.repeat(30),
          '1' + '0'.repeat(20),
          '99999999999999999999.99999999',
          '1' + '0'.repeat(400),
        ];
        for (const a of huge) {
          assert.equal(
            (await m.client.post('/v3/order', undefined, { rawBody: JSON.stringify(v3Order()).replace('"25.17"', a) }))
              .json.code,
            '400102',
            a,
          );
          assert.equal(
            (
              await m.client.post(
                '/v3/order',
                v3Order({ orderAmount: undefined, currency: undefined, fiatAmount: a, fiatCurrency: 'USD' }),
              )
            ).json.code,
            '400102',
            a,
          );
          assert.equal(
            (await m.client.post('/order/refund', { refundRequestId: 'r1', prepayId: '1', refundAmount: a })).json.code,
            '400102',
            a,
          );
        }
      }));

    test('Connect: a NUL character (or a lone surrogate) in any field is OPE100000010; a huge amount is OPE100000031', () =>
      unchanged(async () => {
        for (const [op, body] of [
          ['query-order-list', { merchantOrderId: `m${NUL}` }],
          ['query-order-list', { orderId: `1${NUL}` }],
          ['query-order-list', { merchantOrderId: '\udfff' }],
          ['check-ip-address', { clientUserIp: `1.2.3.4${NUL}` }],
          [
            'buy-withdraw-crypto',
            {
              merchantOrderId: `m${NUL}`,
              businessType: 'BUY',
              fiatCurrency: 'USD',
              cryptoCurrency: 'USDT',
              orderAmount: 50,
            },
          ],
          [
            'get-quote',
            {
              fiatCurrency: `USD${NUL}`,
              cryptoCurrency: 'USDT',
              cryptoNetwork: 'ETH',
              paymentMethod: 'CARD',
              fiatAmount: 100,
            },
          ],
        ] as const) {
          const r = await p.client.call(op, body);
          assert.equal(r.json.code, 'OPE100000010', `${op}: ${r.text}`);
        }
        for (const a of ['1' + '0'.repeat(30), '1' + '0'.repeat(400)]) {
          const q = await p.client.call('get-quote', undefined, {
            rawBody:
              `{"fiatCurrency":"USD","cryptoCurrency":"USDT","cryptoNetwork":"ETH","paymentMethod":"CARD",` +
              `"fiatAmount":${a}}`,
          });
          assert.equal(q.json.code, 'OPE100000031', q.text);
        }
      }));

    test('KYC Sharing: a NUL character (or a lone surrogate) in any field is the parameter error 000002', () =>
      unchanged(async () => {
        for (const [name, body] of [
          [
            'query-share-data-status',
            { bizEntityKey: broker.bizEntityKey, entityCustomerId: `c${NUL}`, requestNo: 'r1' },
          ],
          [
            'check-kyc-status',
            {
              bizEntityKey: broker.bizEntityKey,
              entityCustomerId: `c${NUL}`,
              kycType: 'USER',
              brokerMainAccountId: '1',
              brokerSubAccountId: '2',
            },
          ],
          [
            'share-kyc-data',
            {
              bizEntityKey: broker.bizEntityKey,
              requestNo: `r${NUL}`,
              kycInfo: { userInfo: { entityCustomerId: NUL } },
            },
          ],
          [
            'query-share-data-status',
            { bizEntityKey: `${broker.bizEntityKey}${NUL}`, entityCustomerId: 'c', requestNo: 'r1' },
          ],
          [
            'check-kyc-status',
            {
              bizEntityKey: broker.bizEntityKey,
              entityCustomerId: 'c\ud800',
              kycType: 'USER',
              brokerMainAccountId: '1',
              brokerSubAccountId: '2',
            },
          ],
        ] as const) {
          const r = await kyc(name, JSON.stringify(body));
          assert.equal(r.json.code, '000002', `${name}: ${JSON.stringify(r.json)}`);
        }
      }));

    test('forms and JSON routes: a NUL character is a 400 parameter error, never a database error', () =>
      unchanged(async () => {
        const form = async (path: string, fields: Record<string, string>) =>
          fetch(t.baseUrl + path, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(fields).toString(),
          });
        for (const path of ['/en/partner/login', '/en/dashboard/login']) {
          const r = await form(path, { email: `a${NUL}@b.example`, password: 'x', csrf: 'x', _csrf: 'x' });
          assert.equal(r.status, 400, path);
        }
        const r = await fetch(`${t.baseUrl}/admin/v1/brokers/${encodeURIComponent(`k${NUL}`)}`, {
          headers: { authorization: `Bearer ${t.adminToken}` },
        });
        assert.equal(r.status, 400);
        const j = await t.admin('POST', '/admin/v1/merchants', { name: `N${NUL}` });
        assert.equal(j.status, 400);
      }));

    test('client errors are never logged at error level', () =>
      unchanged(async () => {
        const ts = String(Date.now());
        const nonce = randomAlnum(32);
        const raw = '{"prepayId":"1"';
        await fetch(`${t.baseUrl}/binancepay/openapi/v2/order/query`, {
          method: 'POST',
          body: raw,
          headers: {
            'content-type': 'garbage;;;',
            'BinancePay-Timestamp': ts,
            'BinancePay-Nonce': nonce,
            'BinancePay-Certificate-SN': m.apiKey,
            'BinancePay-Signature': signPay(m.apiSecret, ts, nonce, raw),
          },
        });
        await fetch(`${t.baseUrl}/gateway-api/v1/public/open-api/connect/get-quote`, {
          method: 'POST',
          headers: { 'content-type': 'garbage;;;' },
          body: '{',
        });
        await fetch(`${t.baseUrl}${KYC_BASE}/check-kyc-status`, {
          method: 'POST',
          headers: { 'content-type': 'garbage;;;' },
          body: '{',
        });
      }));
  });
}
