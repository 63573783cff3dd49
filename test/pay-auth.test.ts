import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signPay } from '../src/pay/auth.ts';
import { randomAlnum } from '../src/platform/crypto.ts';
import { createMerchant, DB_KINDS, payClient, snapshot, startTestApp, v3Order, type TestApp } from './helpers.ts';

/** Request authentication (spec §3): every failure code, each leaving the database unchanged. */
for (const kind of DB_KINDS) {
  describe(`Binance Pay request authentication (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    before(async () => {
      t = await startTestApp({ kind });
      m = await createMerchant(t, { name: 'Auth Shop' });
    });
    after(() => t.close());

    async function send(opts: {
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      path?: string;
      secret?: string;
      ts?: string;
      nonce?: string;
      sn?: string;
      sig?: string;
      drop?: string[];
    }) {
      const body = opts.body ?? JSON.stringify(v3Order());
      const ts = opts.ts ?? String(Date.now());
      const nonce = opts.nonce ?? randomAlnum(32);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'BinancePay-Timestamp': ts,
        'BinancePay-Nonce': nonce,
        'BinancePay-Certificate-SN': opts.sn ?? m.apiKey,
        'BinancePay-Signature': opts.sig ?? signPay(opts.secret ?? m.apiSecret, ts, nonce, body),
        ...opts.headers,
      };
      for (const h of opts.drop ?? []) delete headers[h];
      const method = opts.method ?? 'POST';
      const res = await fetch(`${t.baseUrl}/binancepay/openapi${opts.path ?? '/v3/order'}`, {
        method,
        headers,
        body: method === 'GET' ? undefined : body,
      });
      const text = await res.text();
      return { status: res.status, text, json: JSON.parse(text) };
    }

    async function expectFail(code: string, opts: Parameters<typeof send>[0], message?: RegExp) {
      const before = await snapshot(t.db);
      const r = await send(opts);
      assert.equal(r.status, 200);
      assert.equal(r.json.status, 'FAIL', r.text);
      assert.equal(r.json.code, code, r.text);
      assert.equal(r.json.data, undefined);
      if (message) assert.match(r.json.errorMessage, message);
      assert.deepEqual(await snapshot(t.db), before, `code ${code} changed the database`);
    }

    test('400006 wrong method', () => expectFail('400006', { method: 'GET' }, /method not supported/));
    test('400007 wrong media type', () => expectFail('400007', { headers: { 'content-type': 'text/plain' } }));
    test('400104 body over 256 KiB', () =>
      expectFail('400104', { body: JSON.stringify({ ...v3Order(), pad: 'x'.repeat(300 * 1024) }) }));
    test('400104 body over the transport limit too', () =>
      expectFail('400104', { body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) }));
    test('400005 missing or malformed Certificate-SN', async () => {
      await expectFail('400005', { drop: ['BinancePay-Certificate-SN'] });
      await expectFail('400005', { sn: 'short' });
      await expectFail('400005', { sn: 'x'.repeat(20) + '!' });
    });
    test('400004 unknown key', () => expectFail('400004', { sn: 'a'.repeat(64) }));
    test('400003 timestamp outside the window, or in seconds', async () => {
      await expectFail('400003', { ts: String(Date.now() - 301_000) }, /recvWindow/);
      await expectFail('400003', { ts: String(Date.now() + 301_000) });
      await expectFail('400003', { ts: String(Math.floor(Date.now() / 1000)) });
      await expectFail('400003', { ts: 'abc' });
    });
    test('400001 malformed nonce', () => expectFail('400001', { nonce: 'abc' }));
    test('400002 wrong signature, wrong secret, lowercase hex', async () => {
      await expectFail('400002', { secret: 'not-the-secret' }, /Signature for this request is not valid/);
      const ts = String(Date.now());
      const nonce = randomAlnum(32);
      const body = JSON.stringify(v3Order());
      await expectFail('400002', { ts, nonce, body, sig: signPay(m.apiSecret, ts, nonce, body).toLowerCase() });
      await expectFail('400002', { drop: ['BinancePay-Signature'] });
    });
    test('the signature covers the exact bytes: a re-serialized body does not verify', async () => {
      const ts = String(Date.now());
      const nonce = randomAlnum(32);
      const sent = '{"merchantTradeNo": "X1"}';
      await expectFail('400002', {
        ts,
        nonce,
        body: sent,
        sig: signPay(m.apiSecret, ts, nonce, JSON.stringify(JSON.parse(sent))),
      });
    });
    test('400001 replayed nonce', async () => {
      const nonce = randomAlnum(32);
      const first = await send({ nonce, path: '/v2/order/query', body: '{"prepayId":"1"}' });
      assert.equal(first.json.code, '400202');
      await expectFail('400001', { nonce, path: '/v2/order/query', body: '{"prepayId":"1"}' }, /Nonce has been used/);
    });
    test('create order records its nonce with the order: a replay is 400001 whatever the body, and creates nothing', async () => {
      const nonce = randomAlnum(32);
      const body = JSON.stringify(v3Order());
      const first = await send({ nonce, body });
      assert.equal(first.json.status, 'SUCCESS', first.text);
      await expectFail('400001', { nonce, body }, /Nonce has been used/);
      // A failed create (validation, duplicate, unparsable body) still burns its nonce, checked before the failure.
      const badNonce = randomAlnum(32);
      const bad = JSON.stringify({ ...v3Order(), description: '' });
      assert.equal((await send({ nonce: badNonce, body: bad })).json.code, '400100');
      await expectFail('400001', { nonce: badNonce, body: bad });
      const garbageNonce = randomAlnum(32);
      assert.equal((await send({ nonce: garbageNonce, body: '{' })).json.code, '400008');
      await expectFail('400001', { nonce: garbageNonce, body: '{' });
      const dupNonce = randomAlnum(32);
      assert.equal((await send({ nonce: dupNonce, body })).json.code, '400201');
      await expectFail('400001', { nonce: dupNonce, body });
      // Concurrent replays of one signed create: exactly one order.
      const raceNonce = randomAlnum(32);
      const raceBody = JSON.stringify(v3Order());
      const ts = String(Date.now());
      const results = await Promise.all(
        Array.from({ length: 10 }, () => send({ nonce: raceNonce, body: raceBody, ts })),
      );
      assert.equal(results.filter((r) => r.json.status === 'SUCCESS').length, 1);
      assert.ok(results.filter((r) => r.json.status !== 'SUCCESS').every((r) => r.json.code === '400001'));
    });
    test('400008 body is not a JSON object', async () => {
      await expectFail('400008', { body: '{"a":' });
      await expectFail('400008', { body: '[1,2]' });
      await expectFail('400008', { body: '"str"' });
      await expectFail('400008', { body: '' });
    });
    test('400004 revoked key and IP outside the key whitelist', async () => {
      const other = await createMerchant(t, { name: 'Whitelisted', ipWhitelist: ['10.1.2.3', '192.168.0.0/16'] });
      await expectFail('400004', { sn: other.apiKey, secret: other.apiSecret }, /IP/);
      const allowed = await createMerchant(t, { name: 'Loopback', ipWhitelist: ['127.0.0.0/8'] });
      const ok = await payClient(t.baseUrl, allowed.apiKey, allowed.apiSecret).post('/v2/order/query', {
        prepayId: '1',
      });
      assert.equal(ok.json.code, '400202');
      const revoke = await t.admin('DELETE', `/admin/v1/merchants/${allowed.merchantId}/keys/${allowed.apiKey}`);
      assert.equal(revoke.status, 200);
      await expectFail('400004', { sn: allowed.apiKey, secret: allowed.apiSecret });
    });
    test('Python spacing, pretty-printed bodies, charset parameter and PHP header casing all verify', async () => {
      const pythonBody = JSON.stringify(v3Order()).replace(/":/g, '": ').replace(/,"/g, ', "');
      const a = await send({ body: pythonBody });
      assert.equal(a.json.status, 'SUCCESS', a.text);
      const b = await send({
        body: JSON.stringify(v3Order(), null, 2),
        headers: { 'content-type': 'application/json;charset=utf-8' },
      });
      assert.equal(b.json.status, 'SUCCESS', b.text);
      const ts = String(Date.now());
      const nonce = randomAlnum(32);
      const body = JSON.stringify(v3Order());
      const res = await fetch(`${t.baseUrl}/binancepay/openapi/v3/order`, {
        method: 'POST',
        body,
        headers: {
          'Content-Type': 'application/json; charset=UTF-8',
          'Binancepay-Timestamp': ts,
          'Binancepay-Nonce': nonce,
          'Binancepay-Certificate-Sn': m.apiKey,
          'Binancepay-Signature': signPay(m.apiSecret, ts, nonce, body),
        },
      });
      assert.equal((await res.json()).status, 'SUCCESS');
    });
    test('API secrets are stored encrypted, never in the clear', async () => {
      const rows = (await t.db.query(`SELECT * FROM merchant_api_keys WHERE api_key = $1`, [m.apiKey])).rows;
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows[0], (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(m.apiSecret));
      assert.match(rows[0].secret_sealed, /^v1\./);
    });
    test('unknown path: HTTP 404 with the Pay envelope', async () => {
      const r = await send({ path: '/v9/nothing' });
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, { status: 'FAIL', code: '400000', errorMessage: 'Not found.' });
    });
    test('a TSP token without an authorization is refused with 400004 and changes nothing', async () => {
      const body = JSON.stringify({
        ...v3Order(),
        'BinancePay-technicalServiceProviderAuthId': '4f92a76767a948d8b5ab60abd8ca2e15',
      });
      await expectFail('400004', { body }, /Technical service provider/);
    });
  });
}
