import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createTickerPriceSource } from './ticker.ts';

let server: Server;
let url = '';
let answer: { status: number; body: string } = { status: 200, body: '' };
let requests = 0;
before(async () => {
  server = createServer((_req, res) => {
    requests++;
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3/ticker/price`;
});
after(() => new Promise((r) => server.close(r)));

const FEED = JSON.stringify([
  { symbol: 'BTCUSDT', price: '65000.01000000' },
  { symbol: 'ETHUSDT', price: '3200.5' },
  { symbol: 'EURUSDT', price: '1.0812' },
  { symbol: 'USDTTRY', price: '32.00' },
  { symbol: 'BADUSDT', price: 'NaN' },
  { symbol: 'ZEROUSDT', price: '0' },
]);

test('prices come from the feed as exact decimals; inverse pairs and USDT as USD', async () => {
  let t = 1_000_000;
  answer = { status: 200, body: FEED };
  const p = createTickerPriceSource({ url, now: () => t });
  assert.equal(p.cryptoUsd('BTC'), null, 'nothing before the first snapshot');
  assert.equal(await p.refresh(), true);
  assert.equal(p.cryptoUsd('BTC'), '65000.01000000');
  assert.equal(p.cryptoUsd('USDT'), '1');
  assert.equal(p.fiatUsd('USD'), '1');
  assert.equal(p.fiatUsd('EUR'), '1.0812');
  assert.equal(p.fiatUsd('TRY'), '0.03125');
  assert.equal(p.cryptoUsd('BAD'), null);
  assert.equal(p.cryptoUsd('ZERO'), null);
  assert.equal(p.cryptoUsd('DOGE'), null);

  // A failing feed keeps the last good snapshot until it is too old, then prices are refused.
  answer = { status: 500, body: 'oops' };
  t += 30_000;
  const before = requests;
  assert.equal(p.cryptoUsd('ETH'), '3200.5', 'stale-but-fresh-enough snapshot still answers');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(requests > before, 'a background refresh was attempted');
  assert.equal(await p.refresh(), false);
  t += 31_000;
  assert.equal(p.cryptoUsd('ETH'), null, 'older than maxAge: no price rather than a wrong one');
  answer = { status: 200, body: '{"not":"a list"}' };
  assert.equal(await p.refresh(), false);
  answer = { status: 200, body: FEED.replace('3200.5', '3300.25') };
  assert.equal(await p.refresh(), true);
  assert.equal(p.cryptoUsd('ETH'), '3300.25');
});
