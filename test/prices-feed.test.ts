import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createMerchant, startTestApp, v3Order, type TestApp } from './helpers.ts';

/** With PRICE_FEED_URL set, the platform prices from the ticker feed instead of the sandbox walk. */
let feed: Server;
let t: TestApp;
before(async () => {
  feed = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify([
        { symbol: 'EURUSDT', price: '1.25' },
        { symbol: 'BNBUSDT', price: '500' },
      ]),
    ),
  );
  await new Promise<void>((r) => feed.listen(0, '127.0.0.1', r));
  t = await startTestApp({
    env: { PRICE_FEED_URL: `http://127.0.0.1:${(feed.address() as AddressInfo).port}/api/v3/ticker/price` },
  });
});
after(async () => {
  await t.close();
  await new Promise((r) => feed.close(r));
});

test('a fiat-denominated order is priced at the feed rate', async () => {
  const m = await createMerchant(t);
  const { orderAmount: _a, currency: _c, ...rest } = v3Order();
  const eur = await m.client.post('/v3/order', { ...rest, fiatAmount: '10.00', fiatCurrency: 'EUR' });
  assert.equal(eur.json.status, 'SUCCESS', eur.text);
  assert.equal(eur.json.data.totalFee, '12.50000000'); // 10 EUR × 1.25 USDT/EUR (sandbox table would give 10.8)
  const bnb = await m.client.post('/v3/order', {
    ...rest,
    merchantTradeNo: 'FEEDBNB',
    currency: 'BNB',
    fiatAmount: '100.00',
    fiatCurrency: 'USD',
  });
  assert.equal(bnb.json.status, 'SUCCESS', bnb.text);
  assert.equal(bnb.json.data.totalFee, '0.20000000');
  const gbp = await m.client.post('/v3/order', {
    ...rest,
    merchantTradeNo: 'FEEDGBP',
    fiatAmount: '10.00',
    fiatCurrency: 'GBP',
  });
  assert.equal(gbp.json.code, '400102', 'no GBP price in the feed: refused rather than guessed');
});
