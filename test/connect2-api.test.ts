import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { gen2SigningStrings } from '../src/connect/v2/auth.ts';
import { assertAuditOk, DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';
import { connectClient, rsaPair } from './support/connect-client.ts';
import { GEN2_V1, GEN2_V2, gen2Client, onboardGen2Partner } from './support/connect2-client.ts';
import { capturingLogger } from './support/log-capture.ts';
import { productionEnv } from './support/production-env.ts';

/**
 * The generation-2 Connect partner API (binance-connect-v2.md) over HTTP: the §3.3 pipeline in its order, the §3.2
 * signing string and its empty-body alternatives, every operation's fields and codes, the pre-order field rules, and
 * the one order model shared with generation 1 (ids unique across both, each order visible only to its generation).
 */
const run = promisify(execFile);
const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';
const USDT_BSC = '0x55d398326f99059fF775485246999027B3197955';
let seq = 0;
const eid = () => `ord${Date.now()}x${++seq}`;
const preOrder = (o: Record<string, unknown> = {}) => ({
  externalOrderId: eid(),
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  amountType: 1,
  requestedAmount: '100',
  network: 'BSC',
  address: ETH_ADDR,
  ...o,
});
const quote = (o: Record<string, unknown> = {}) => ({
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  requestedAmount: '100',
  amountType: 1,
  payMethodCode: 'BUY_CARD',
  network: 'BSC',
  ...o,
});
const codeOf = (r: { json: any }) => r.json.code;
/** [code, message] of an answer. */
const cm = (r: { json: any }) => [r.json.code, r.json.message];
const illegal = (param: string) => ['1130303', `The parameter ${param} is illegal`];

for (const kind of DB_KINDS) {
  describe(`Connect gen-2 partner API (${kind})`, () => {
    let t: TestApp;
    let p: Awaited<ReturnType<typeof onboardGen2Partner>>;
    before(async () => {
      // The 20 req/s limit has its own test below (its own app); these tests call faster than that on purpose.
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      p = await onboardGen2Partner(t);
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    describe('onboarding and signing', () => {
      test('the admin create answer carries the gen-2 credentials: 32-hex client id, 48-char sign access token', async () => {
        assert.match(p.clientId, /^[0-9a-f]{32}$/);
        assert.match(p.signAccessToken, /^[A-Za-z0-9]{48}$/);
        // Shown once: the partner view does not carry it.
        const view = await t.admin('GET', `/admin/v1/partners/${p.merchantCode}`);
        assert.equal(view.status, 200);
        assert.equal(JSON.stringify(view.json).includes(p.signAccessToken), false);
      });

      test('§3.2: the example signing string is rawBody + timestamp, byte for byte; openssl signs what the platform verifies', async () => {
        const body =
          '{"externalOrderId":"ord20260101a","amountType":1,"requestedAmount":"100","network":"BSC",' +
          '"address":"0x52908400098527886E0F7030069857D2E4169EE7"}';
        const [first] = gen2SigningStrings(Buffer.from(body), '1767225600000');
        assert.equal(
          first!.toString('utf8'),
          '{"externalOrderId":"ord20260101a","amountType":1,"requestedAmount":"100","network":"BSC",' +
            '"address":"0x52908400098527886E0F7030069857D2E4169EE7"}1767225600000',
        );
        // A non-empty body has no alternative form.
        assert.equal(gen2SigningStrings(Buffer.from(body), '1').length, 1);

        // The spec's reproduction recipe, with a 1024-bit key registered as bare base64 SPKI DER (Binance's format).
        const dir = mkdtempSync(join(tmpdir(), 'connect2-openssl-'));
        try {
          const { publicKey, privateKey } = generateKeyPairSync('rsa', {
            modulusLength: 1024,
            publicKeyEncoding: { type: 'spki', format: 'der' },
            privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
          });
          writeFileSync(join(dir, 'private_key.pem'), privateKey);
          const q = await onboardGen2Partner(t, {
            name: 'Openssl Tesla',
            publicKey: (publicKey as Buffer).toString('base64'),
          });
          // The example body itself (fiat and crypto default: USD, the first crypto of BSC), with a fresh id.
          const sent = body.replace('ord20260101a', `ossl${Date.now()}`);
          const ts = String(Date.now());
          writeFileSync(join(dir, 'body'), sent);
          const sig = (
            await run(
              'sh',
              [
                '-c',
                `printf '%s%s' "$(cat body)" "${ts}" > msg; openssl dgst -sha256 -sign private_key.pem msg | openssl enc -base64 -A`,
              ],
              { cwd: dir },
            )
          ).stdout.trim();
          const headers = {
            'content-type': 'application/json',
            'X-Tesla-ClientId': q.clientId,
            'X-Tesla-SignAccessToken': q.signAccessToken,
            'X-Tesla-Timestamp': ts,
            'X-Tesla-Signature': sig,
          };
          const res = await fetch(`${t.baseUrl}${GEN2_V1}/buy/pre-order`, { method: 'POST', headers, body: sent });
          const json = await res.json();
          assert.equal(json.code, '000000', JSON.stringify(json));
          // The same signature over a re-serialization (a space added) is refused.
          const again = await fetch(`${t.baseUrl}${GEN2_V1}/order`, {
            method: 'POST',
            headers,
            body: sent.replace('{', '{ '),
          });
          assert.deepEqual(cm({ json: await again.json() }), illegal('X-Tesla-Signature'));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      test('§3.2 empty bodies: "" + ts, ts alone and "{}" + ts all verify for an empty or {} body, and only there', async () => {
        const c = p.client;
        const ts = String(Date.now());
        const ok = async (raw: string, signed: string, method = 'POST') =>
          codeOf(await c.call('buy/trading-pairs', undefined, { rawBody: raw, signed, timestamp: ts, method }));
        assert.equal(await ok('', ts), '000000'); // the skill: "" + ts, no body
        assert.equal(await ok('{}', ts), '000000'); // reown: ts alone, sends {}
        assert.equal(await ok('{}', `{}${ts}`), '000000'); // openrampkit: "{}" + ts, sends {}
        assert.equal(await ok('', `{}${ts}`), '000000');
        assert.equal(await ok(' {}\n', ts), '000000'); // whitespace around {} is still {}
        assert.equal(await ok(' {}\n', ` {}\n${ts}`), '000000'); // and verifies as sent
        assert.equal(await ok('', ts, 'GET'), '000000'); // GET: an empty body signed as empty
        // Any other body signs only as itself.
        assert.deepEqual(
          cm(await c.call('buy/trading-pairs', undefined, { rawBody: '{"a":1}', signed: ts, timestamp: ts })),
          illegal('X-Tesla-Signature'),
        );
        assert.deepEqual(
          cm(await c.call('buy/trading-pairs', undefined, { rawBody: '{"a":1}', signed: `{}${ts}`, timestamp: ts })),
          illegal('X-Tesla-Signature'),
        );
        // Key order and spacing verify as sent.
        assert.equal(
          codeOf(await c.call('buy/trading-pairs', undefined, { rawBody: '{\n  "z": 1,\n  "a": "x"\n}' })),
          '000000',
        );
        // An op with parameters refuses an empty body (§3.3 step 8), after the signature.
        assert.deepEqual(cm(await c.call('order', undefined, { rawBody: '' })), illegal('body'));
      });
    });

    describe('§3.3 pipeline: each failure in order, first failure wins, HTTP 200 with the envelope', () => {
      test('the table', async () => {
        const far = await onboardGen2Partner(t, { name: 'Far Tesla', ipWhitelist: ['10.9.8.7'] });
        const off = await onboardGen2Partner(t, { name: 'Off Tesla', ipWhitelist: ['10.9.8.7'] });
        assert.equal((await t.admin('POST', `/admin/v1/partners/${off.merchantCode}/suspend`)).status, 200);
        const stale = String(Date.now() - 301_000);
        const other = rsaPair().privateKey;
        const big = JSON.stringify({ pad: 'x'.repeat(256 * 1024) });
        const c = p.client;
        // Each row also fails every later check, so only the pipeline's order decides its answer.
        const rows: [string, () => Promise<{ status: number; json: any; text: string }>, string[]][] = [
          [
            '1 client id missing',
            () =>
              c.call('order', { externalOrderId: 'x' }, { omit: ['X-Tesla-ClientId'], token: 'bad', timestamp: stale }),
            ['1130304', 'Missing client id from request'],
          ],
          [
            '1 client id empty',
            () => c.call('order', { externalOrderId: 'x' }, { clientId: '', token: 'bad', timestamp: stale }),
            ['1130304', 'Missing client id from request'],
          ],
          [
            '2 client id unknown',
            () =>
              c.call('order', { externalOrderId: 'x' }, { clientId: randomBytes(16).toString('hex'), token: 'bad' }),
            ['1130314', 'Can not find the partner'],
          ],
          [
            '2 the gen-1 merchant code is no client id',
            () => c.call('order', { externalOrderId: 'x' }, { clientId: p.merchantCode, token: 'bad' }),
            ['1130314', 'Can not find the partner'],
          ],
          [
            '3 partner disabled (its IP not whitelisted either)',
            () => off.client.call('order', { externalOrderId: 'x' }, { token: 'bad', timestamp: stale }),
            ['1130305', 'The partner is disabled'],
          ],
          [
            '4 IP not whitelisted (token wrong too)',
            () => far.client.call('order', { externalOrderId: 'x' }, { token: 'bad', timestamp: stale }),
            ['1130311', 'Request IP is not whitelisted'],
          ],
          [
            '4 X-Forwarded-For is not trusted without configured proxies',
            () => far.client.call('order', { externalOrderId: 'x' }, { headers: { 'x-forwarded-for': '10.9.8.7' } }),
            ['1130311', 'Request IP is not whitelisted'],
          ],
          [
            '5 sign access token wrong (timestamp stale too)',
            () =>
              c.call('order', { externalOrderId: 'x' }, { token: p.signAccessToken.slice(1) + 'A', timestamp: stale }),
            illegal('X-Tesla-SignAccessToken'),
          ],
          [
            "5 another partner's sign access token",
            () => c.call('order', { externalOrderId: 'x' }, { token: far.signAccessToken }),
            illegal('X-Tesla-SignAccessToken'),
          ],
          [
            '5 sign access token missing',
            () => c.call('order', { externalOrderId: 'x' }, { omit: ['X-Tesla-SignAccessToken'] }),
            illegal('X-Tesla-SignAccessToken'),
          ],
          [
            '6 timestamp 301 s old (signature wrong too)',
            () => c.call('order', { externalOrderId: 'x' }, { timestamp: stale, privateKey: other }),
            illegal('X-Tesla-Timestamp'),
          ],
          [
            '6 timestamp 301 s ahead',
            () => c.call('order', { externalOrderId: 'x' }, { timestamp: String(Date.now() + 301_000) }),
            illegal('X-Tesla-Timestamp'),
          ],
          [
            '6 timestamp not all digits',
            () => c.call('order', { externalOrderId: 'x' }, { timestamp: `${Date.now()}.0` }),
            illegal('X-Tesla-Timestamp'),
          ],
          [
            '6 timestamp missing',
            () => c.call('order', { externalOrderId: 'x' }, { omit: ['X-Tesla-Timestamp'] }),
            illegal('X-Tesla-Timestamp'),
          ],
          [
            '7 signature by another key (body over 256 KiB too)',
            () => c.call('order', undefined, { rawBody: big, privateKey: other }),
            illegal('X-Tesla-Signature'),
          ],
          [
            '7 signature not base64',
            () => c.call('order', { externalOrderId: 'x' }, { headers: { 'X-Tesla-Signature': 'not base64!' } }),
            illegal('X-Tesla-Signature'),
          ],
          [
            '7 signature over other bytes',
            () =>
              c.call('order', undefined, {
                rawBody: '{"externalOrderId":"x"}',
                signed: `{"externalOrderId":"y"}${Date.now()}`,
              }),
            illegal('X-Tesla-Signature'),
          ],
          [
            '7 signature missing',
            () => c.call('order', { externalOrderId: 'x' }, { omit: ['X-Tesla-Signature'] }),
            illegal('X-Tesla-Signature'),
          ],
          ['8 body over 256 KiB, signed', () => c.call('order', undefined, { rawBody: big }), illegal('body')],
          ['8 body a JSON array', () => c.call('order', undefined, { rawBody: '[1,2]' }), illegal('body')],
          ['8 body not JSON', () => c.call('order', undefined, { rawBody: '{"externalOrderId":' }), illegal('body')],
          [
            '8 NUL in a field',
            () => c.call('order', undefined, { rawBody: '{"externalOrderId":"a\\u0000b"}' }),
            illegal('body'),
          ],
          ['10 field validation', () => c.call('order', { externalOrderId: 'not-alnum' }), illegal('externalOrderId')],
          [
            '10 then the business rule',
            () => c.call('order', { externalOrderId: 'nosuchorder' }),
            ['1130306', 'Can not find the order'],
          ],
        ];
        for (const [name, send, want] of rows) {
          const r = await send();
          assert.equal(r.status, 200, `${name}: HTTP ${r.status}`);
          assert.deepEqual(r.json, { success: false, code: want[0], message: want[1], data: null }, name);
        }
        // 290 s old is inside the window.
        assert.equal(
          codeOf(await c.call('crypto-network', undefined, { timestamp: String(Date.now() - 290_000) })),
          '000000',
        );
        // Header names are case-insensitive.
        assert.equal(
          codeOf(
            await c.call('crypto-network', undefined, {
              headers: { 'x-tesla-clientid': p.clientId, 'X-TESLA-SIGNACCESSTOKEN': p.signAccessToken },
            }),
          ),
          '000000',
        );
        // Reactivated and whitelisted, the same partners pass.
        assert.equal((await t.admin('POST', `/admin/v1/partners/${off.merchantCode}/reactivate`)).status, 200);
        assert.equal(
          (await t.admin('PATCH', `/admin/v1/partners/${off.merchantCode}`, { ipWhitelist: ['127.0.0.0/8'] })).status,
          200,
        );
        assert.equal(codeOf(await off.client.call('crypto-network')), '000000');
      });

      test('key rotation: during the overlap either active key verifies; a charset parameter on Content-Type is fine', async () => {
        const q = await onboardGen2Partner(t, { name: 'Rotating Key Tesla' });
        const next = rsaPair();
        const added = await t.app.services.partners.addKey(q.merchantCode, next.publicKey);
        assert.ok(added.ok);
        assert.equal(codeOf(await q.client.call('crypto-network')), '000000'); // the old key, in its overlap
        assert.equal(
          codeOf(await q.client.call('crypto-network', undefined, { privateKey: next.privateKey })),
          '000000',
        );
        assert.deepEqual(
          cm(await q.client.call('crypto-network', undefined, { privateKey: rsaPair().privateKey })),
          illegal('X-Tesla-Signature'),
        );
        const charset = await q.client.call(
          'order',
          { externalOrderId: 'nosuchorder' },
          { headers: { 'content-type': 'application/json; charset=utf-8' } },
        );
        assert.equal(codeOf(charset), '1130306');
      });

      test('a new sign access token replaces the old one at once', async () => {
        const q = await onboardGen2Partner(t, { name: 'Rotating Tesla' });
        const issued = await t.app.services.partners.issueSignToken(q.merchantCode);
        assert.ok(issued.ok);
        assert.deepEqual(cm(await q.client.call('crypto-network')), illegal('X-Tesla-SignAccessToken'));
        assert.equal(codeOf(await q.client.call('crypto-network', undefined, { token: issued.value })), '000000');
      });

      test('unknown path: HTTP 404 1130101 Not found; wrong method: HTTP 405 1130303 method; x-trace-id echoed', async () => {
        for (const [op, prefix] of [
          ['buy/everything', GEN2_V1],
          ['order/x', GEN2_V1],
          ['buy/trading-pairs', GEN2_V2],
        ]) {
          const r = await p.client.call(op!, {}, { prefix, headers: { 'x-trace-id': 'trace-404' } });
          assert.equal(r.status, 404, op);
          assert.equal(r.text, '{"success":false,"code":"1130101","message":"Not found","data":null}');
          assert.equal(r.headers.get('x-trace-id'), 'trace-404');
        }
        for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
          const r = await p.client.call('buy/pre-order', preOrder(), { method });
          assert.equal(r.status, 405, method);
          assert.deepEqual(r.json, {
            success: false,
            code: '1130303',
            message: 'The parameter method is illegal',
            data: null,
          });
        }
        for (const method of ['PUT', 'DELETE'])
          assert.equal((await p.client.call('crypto-network', {}, { method })).status, 405);
        const traced = await p.client.call('crypto-network', undefined, { headers: { 'x-trace-id': 'abc-123' } });
        assert.equal(traced.headers.get('x-trace-id'), 'abc-123');
        const failed = await p.client.call(
          'order',
          { externalOrderId: 'nope' },
          { headers: { 'x-trace-id': 'abc-124' } },
        );
        assert.equal(failed.headers.get('x-trace-id'), 'abc-124');
        assert.equal(failed.status, 200);
        assert.equal((await p.client.call('crypto-network')).headers.get('x-trace-id'), null);
      });

      test('the per-client rate limit (CONNECT_RATE_PER_SECOND a second, bursts of twice that) → 1130102', async () => {
        // Rate 2/s, burst 4, so a slow machine cannot serve the requests as fast as the bucket refills (the default is
        // 20/s, burst 40: config.ts).
        const t2 = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '2' } });
        try {
          const busy = await onboardGen2Partner(t2, { name: 'Busy Tesla' });
          const other = await onboardGen2Partner(t2, { name: 'Calm Tesla' });
          const started = Date.now();
          const results = await Promise.all(Array.from({ length: 20 }, () => busy.client.call('buy/trading-pairs')));
          const elapsed = (Date.now() - started) / 1000;
          const codes = results.map(codeOf);
          assert.ok(codes.every((c) => c === '000000' || c === '1130102'));
          const passed = codes.filter((c) => c === '000000').length;
          // The burst, plus what the bucket refilled while the requests were served.
          assert.ok(passed >= 4 && passed <= 4 + Math.ceil(2 * elapsed) + 1, `${passed} in ${elapsed} s`);
          assert.ok(codes.includes('1130102'), codes.join(','));
          const busyAnswer = results.find((r) => r.json.code === '1130102')!;
          assert.deepEqual(busyAnswer.json, {
            success: false,
            code: '1130102',
            message: 'System busy. Please try again later',
            data: null,
          });
          // Per client: another partner is not slowed; the bucket refills.
          assert.equal(codeOf(await other.client.call('buy/trading-pairs')), '000000');
          await new Promise((r) => setTimeout(r, 1100));
          assert.equal(codeOf(await busy.client.call('buy/trading-pairs')), '000000');
        } finally {
          await assertAuditOk(t2);
          await t2.close();
        }
      });
    });

    describe('discovery operations', () => {
      test('buy/trading-pairs: the two arrays, sorted, GET and POST; buy/p2p/trading-pairs: both empty', async () => {
        const r = await p.client.call('buy/trading-pairs', undefined, { method: 'GET' });
        assert.equal(
          r.text,
          '{"success":true,"code":"000000","message":"success","data":{"fiatCurrencies":["AUD","BRL","EUR","GBP",' +
            '"TRY","USD"],"cryptoCurrencies":["BNB","BTC","BUSD","ETH","SOL","TRX","USDC","USDT","XRP"]}}',
        );
        assert.deepEqual((await p.client.call('buy/trading-pairs', {})).json, r.json);
        assert.deepEqual((await p.client.call('buy/p2p/trading-pairs', { fiatCurrency: 'EUR' })).json.data, {
          fiatCurrencies: [],
          cryptoCurrencies: [],
        });
        assert.equal(codeOf(await p.client.call('buy/p2p/trading-pairs', undefined, { method: 'GET' })), '000000');
        assert.deepEqual(
          cm(await p.client.call('buy/p2p/trading-pairs', { fiatCurrency: { a: 1 } })),
          illegal('fiatCurrency'),
        );
      });

      test('crypto-network: networks per crypto; fees and limits exact JSON numbers, depositDust a string', async () => {
        const r = await p.client.call('crypto-network', undefined, { method: 'GET' });
        assert.equal(r.json.success, true);
        const usdt = r.json.data.find((i: any) => i.cryptoCurrency === 'USDT');
        assert.deepEqual(
          usdt.networks.map((n: any) => n.network),
          ['ETH', 'BSC', 'TRX'],
        );
        assert.deepEqual(usdt.networks[1], {
          network: 'BSC',
          addressRegex: '^(0x)[0-9A-Fa-f]{40}$',
          memoRegex: '',
          withdrawFee: 0.29,
          withdrawMinAmount: 10,
          withdrawMaxAmount: 10000000000,
          contractAddress: USDT_BSC,
          withdrawEnable: true,
          depositEnable: true,
          depositDust: '0.00000001',
        });
        assert.match(r.text, /"withdrawFee":0\.29,"withdrawMinAmount":10,"withdrawMaxAmount":10000000000,/);
        const xrp = r.json.data.find((i: any) => i.cryptoCurrency === 'XRP').networks[0];
        assert.deepEqual([xrp.memoRegex, xrp.depositDust, xrp.contractAddress], ['^[0-9]{1,10}$', '0.000001', '']);
        assert.match(r.text, /"network":"SOL","addressRegex":"[^"]+","memoRegex":"","withdrawFee":0\.008,/);
        assert.deepEqual((await p.client.call('crypto-network', {})).json, r.json);
      });

      test('buy/payment-method-list: BUY_CARD/card with fiat and crypto limits; every field rule', async () => {
        const pm = (o: Record<string, unknown> = {}) =>
          p.client.call('buy/payment-method-list', {
            fiatCurrency: 'USD',
            cryptoCurrency: 'USDT',
            totalAmount: '100',
            amountType: 1,
            network: 'BSC',
            ...o,
          });
        const r = await pm();
        assert.deepEqual(r.json.data, {
          paymentMethods: [
            {
              payMethodCode: 'BUY_CARD',
              payMethodSubCode: 'card',
              paymentMethod: 'Card',
              fiatMinLimit: '15',
              fiatMaxLimit: '20000',
              // (15 − 1.99) / 1.0012 − 0.29 and (20000 − 398) / 1.0012 − 0.29, floored to 8 dp
              cryptoMinLimit: '12.70440671',
              cryptoMaxLimit: '19578.21579304',
              p2p: false,
              withdrawRestriction: 0,
            },
          ],
        });
        // Limits are strings on the wire.
        assert.match(r.text, /"fiatMinLimit":"15","fiatMaxLimit":"20000","cryptoMinLimit":"12\.70440671"/);
        // The amount is not filtered (the limits are returned for the partner to show); the EUR limits are converted.
        assert.equal((await pm({ totalAmount: '1' })).json.data.paymentMethods.length, 1);
        const eur = (await pm({ fiatCurrency: 'EUR' })).json.data.paymentMethods[0];
        assert.deepEqual([eur.fiatMinLimit, eur.fiatMaxLimit], ['14', '18518']);
        // EUR fees: max(1.99 USD in EUR = 1.85, 0.0199 × amount), at the EUR price 1.0012 / 1.08 = 0.92703704.
        assert.deepEqual([eur.cryptoMinLimit, eur.cryptoMaxLimit], ['12.81627243', '19577.66559064']);
        // What 15 USD buys is below the BTC network's withdrawal minimum: the limit is that minimum.
        const btc = (await pm({ cryptoCurrency: 'BTC', network: 'BTC' })).json.data.paymentMethods[0];
        assert.equal(btc.cryptoMinLimit, '0.001');
        // Network defaults to the crypto's first; it moves the crypto limits (ETH's fee is 1).
        const eth = (await pm({ network: 'ETH' })).json.data.paymentMethods[0];
        assert.equal(eth.cryptoMinLimit, '11.99440671');
        assert.equal((await pm({ network: undefined })).json.data.paymentMethods[0].cryptoMinLimit, '11.99440671');
        // A listed token's contract stands for it; an unlisted one is an empty list (the token is unsupported).
        const byContract = await pm({ cryptoCurrency: undefined, contractAddress: USDT_BSC });
        assert.deepEqual(byContract.json.data, r.json.data);
        assert.deepEqual(
          (await pm({ cryptoCurrency: undefined, contractAddress: '0x000000000000000000000000000000000000dEaD' })).json
            .data,
          { paymentMethods: [] },
        );
        assert.deepEqual(cm(await pm({ contractAddress: USDT_BSC, network: undefined })), illegal('network'));
        assert.deepEqual(cm(await pm({ fiatCurrency: 'JPY' })), illegal('fiatCurrency'));
        assert.deepEqual(cm(await pm({ fiatCurrency: undefined })), illegal('fiatCurrency'));
        assert.deepEqual(cm(await pm({ cryptoCurrency: undefined })), illegal('cryptoCurrency'));
        assert.deepEqual((await pm({ cryptoCurrency: 'DOGE', network: undefined })).json.data, { paymentMethods: [] });
        assert.deepEqual(cm(await pm({ totalAmount: '0' })), illegal('totalAmount'));
        assert.deepEqual(cm(await pm({ totalAmount: '1.123456789' })), illegal('totalAmount'));
        assert.deepEqual(cm(await pm({ amountType: 3 })), illegal('amountType'));
        assert.equal(codeOf(await pm({ amountType: '2', totalAmount: 100 })), '000000'); // §1: "2" and a number
        assert.deepEqual(cm(await pm({ network: 'SOL' })), illegal('network'));
        assert.equal(codeOf(await pm({ language: 'zh-CN' })), '000000');
        assert.deepEqual(cm(await pm({ lang: 'not a language' })), illegal('lang'));
      });

      test('/papi/v2/.../buy/payment-method-list: every method per fiat, both spellings; GET and POST', async () => {
        const r = await p.client.call('buy/payment-method-list', undefined, { prefix: GEN2_V2, method: 'GET' });
        assert.equal(r.json.code, '000000');
        assert.deepEqual(
          r.json.data.map((f: any) => f.fiatCurrency),
          ['AUD', 'BRL', 'EUR', 'GBP', 'TRY', 'USD'],
        );
        assert.deepEqual(r.json.data[2], {
          fiatCurrency: 'EUR',
          fiat: 'EUR',
          paymentMethods: [
            {
              payMethodCode: 'BUY_CARD',
              paymentMethodCode: 'BUY_CARD',
              payMethodSubCode: 'card',
              channelCode: 'card',
              paymentMethod: 'Card',
              p2p: false,
            },
          ],
        });
        const post = await p.client.call('buy/payment-method-list', { language: 'en' }, { prefix: GEN2_V2 });
        assert.deepEqual(post.json, r.json);
      });

      test('buy/estimated-quote: the §4.6 formula both ways, strings, and every code', async () => {
        const q = (o: Record<string, unknown> = {}) => p.client.call('buy/estimated-quote', quote(o));
        const r = await q();
        // (100 − 1.99) / 1.0012 − 0.29, floored to 8 dp
        assert.equal(
          r.text,
          '{"success":true,"code":"000000","message":"success","data":{"totalAmount":"97.60252896",' +
            '"quotePrice":"1.0012","feeAmount":"1.99","feeCurrency":"USD","networkFee":"0.29","payMethodCode":"BUY_CARD",' +
            '"payMethodSubCode":"card"}}',
        );
        // The percentage above the minimum fee: 2000 × 0.0199 = 39.80.
        assert.equal((await q({ requestedAmount: '2000' })).json.data.feeAmount, '39.8');
        // Network defaults to the crypto's first (ETH, fee 1).
        const eth = await q({ network: undefined });
        assert.deepEqual([eth.json.data.totalAmount, eth.json.data.networkFee], ['96.89252896', '1']);
        // amountType 2: 50 USDT bought = 50 × 1.0012 + 1.99 (the minimum fee dominates) = 52.05 USD.
        const two = await q({ amountType: 2, requestedAmount: '50' });
        assert.deepEqual(two.json.data, {
          totalAmount: '52.05',
          quotePrice: '1.0012',
          feeAmount: '1.99',
          feeCurrency: 'USD',
          networkFee: '0.29',
          payMethodCode: 'BUY_CARD',
          payMethodSubCode: 'card',
        });
        // Above the minimum: 5000 USDT → 5000 × 1.0012 / (1 − 0.0199), rounded up to cents.
        assert.equal((await q({ amountType: 2, requestedAmount: '5000' })).json.data.totalAmount, '5107.65');
        // §1: a JSON number and a numeric-string enumeration are accepted.
        assert.equal(codeOf(await q({ requestedAmount: 100, amountType: '1' })), '000000');
        assert.equal(codeOf(await q({ payMethodSubCode: 'card' })), '000000');
        assert.equal(codeOf(await q({ cryptoCurrency: undefined, contractAddress: USDT_BSC })), '000000');
        assert.equal(codeOf(await q({ address: ETH_ADDR })), '000000');

        const rules: [Record<string, unknown>, string[]][] = [
          [{ fiatCurrency: undefined }, illegal('fiatCurrency')],
          [{ fiatCurrency: 'JPY' }, illegal('fiatCurrency')],
          [{ requestedAmount: undefined }, illegal('requestedAmount')],
          [{ requestedAmount: '-5' }, illegal('requestedAmount')],
          [{ requestedAmount: '100.123456789' }, illegal('requestedAmount')],
          [{ requestedAmount: '100.001' }, illegal('requestedAmount')], // more decimals than USD has
          [{ amountType: 0 }, illegal('amountType')],
          [{ payMethodCode: undefined }, illegal('payMethodCode')],
          [{ payMethodCode: 'BUY_P2P' }, ['1130320', 'Not support quote for this payment method']],
          [{ payMethodCode: 'BUY_WALLET' }, ['1130320', 'Not support quote for this payment method']],
          [{ payMethodSubCode: 'Wallet' }, ['1130320', 'Not support quote for this payment method']],
          [{ cryptoCurrency: undefined }, illegal('cryptoCurrency')],
          [{ cryptoCurrency: 'DOGE' }, illegal('cryptoCurrency')],
          [{ network: 'SOL' }, illegal('network')],
          [{ contractAddress: '0x000000000000000000000000000000000000dEaD' }, ['1130327', 'Swap token not found.']],
          [{ cryptoCurrency: 'BNB', contractAddress: USDT_BSC }, ['1130330', 'Swap token not matched USDT']],
          [{ address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }, illegal('address')],
          [{ requestedAmount: '14.99' }, ['1130320', 'Not support quote for this payment method']],
          [{ requestedAmount: '20000.01' }, ['1130320', 'Not support quote for this payment method']],
          [{ amountType: 2, requestedAmount: '30000' }, ['1130320', 'Not support quote for this payment method']],
          // 15 USD buys less BTC than the network's withdrawal minimum.
          [
            { cryptoCurrency: 'BTC', network: 'BTC', requestedAmount: '15' },
            ['1130320', 'Not support quote for this payment method'],
          ],
        ];
        for (const [o, want] of rules) assert.deepEqual(cm(await q(o)), want, JSON.stringify(o));
      });
    });

    describe('buy/pre-order and order', () => {
      test('pre-order answers the landing link and its expiry; order returns the status-0 object field by field', async () => {
        const o = preOrder({
          payMethodCode: 'BUY_CARD',
          payMethodSubCode: 'card',
          redirectUrl: 'https://wallet.example/done',
          failRedirectUrl: 'https://wallet.example/failed',
          clientType: 'web',
          userData: 'partner-user-8841',
        });
        const created = t.clock.now();
        const r = await p.client.call('buy/pre-order', o);
        assert.equal(r.json.code, '000000', r.text);
        const { link, linkExpireTime } = r.json.data;
        assert.deepEqual(Object.keys(r.json.data), ['link', 'linkExpireTime']);
        const token = new URL(link).searchParams.get('token')!;
        assert.match(token, /^[0-9a-f]{40}$/);
        assert.equal(link, `${t.baseUrl}/uni-qr/ccnt?token=${token}`);
        assert.equal(linkExpireTime, created + 1_800_000);
        assert.match(r.text, /"linkExpireTime":\d{13}\}/);

        const q = await p.client.call('order', { externalOrderId: o.externalOrderId });
        assert.equal(q.json.code, '000000', q.text);
        assert.deepEqual(q.json.data, {
          externalOrderId: o.externalOrderId,
          type: 1,
          businessType: 1,
          status: 0,
          payMethodCode: 'BUY_CARD',
          payMethodSubCode: 'card',
          fiatCurrency: 'USD',
          cryptoCurrency: 'USDT',
          openUserId: null,
          fiatAmount: '100',
          cryptoAmount: '0',
          feeAmount: '1.99',
          feeCurrency: 'USD',
          revenueAmount: '0',
          revenueCurrency: 'USD',
          networkFee: '0.29',
          withdrawWalletAddress: ETH_ADDR,
          withdrawNetwork: 'BSC',
          withdrawMemo: '',
          withdrawTxHash: null,
          orderDetailLink: `${t.baseUrl}/en/connect/order?token=${token}`,
          orderTime: created,
          completionTime: null,
          updateTime: created,
          userData: 'partner-user-8841',
        });
        // Amounts are JSON strings; times are integers.
        assert.match(q.text, /"fiatAmount":"100","cryptoAmount":"0","feeAmount":"1\.99"/);
        assert.match(q.text, /"orderTime":\d{13},"completionTime":null,"updateTime":\d{13}/);
        // Method not pre-selected: null while the user has not chosen; userData absent: null.
        const bare = preOrder();
        assert.equal(codeOf(await p.client.call('buy/pre-order', bare)), '000000');
        const d = (await p.client.call('order', { externalOrderId: bare.externalOrderId })).json.data;
        assert.deepEqual([d.payMethodCode, d.payMethodSubCode, d.userData], [null, null, null]);
        // The order of another partner is not found; a missing or malformed id is illegal.
        const other = await onboardGen2Partner(t, { name: 'Snooping Tesla' });
        assert.deepEqual(cm(await other.client.call('order', { externalOrderId: o.externalOrderId })), [
          '1130306',
          'Can not find the order',
        ]);
        assert.deepEqual(cm(await p.client.call('order', {})), illegal('externalOrderId'));
        assert.deepEqual(cm(await p.client.call('order', { externalOrderId: 'a-b' })), illegal('externalOrderId'));
      });

      test('amountType 2: the order pays the fiat the quote names; fiatAmount alone means requestedAmount in fiat', async () => {
        const o = preOrder({ amountType: 2, requestedAmount: '50' });
        assert.equal(codeOf(await p.client.call('buy/pre-order', o)), '000000');
        const d = (await p.client.call('order', { externalOrderId: o.externalOrderId })).json.data;
        assert.equal(d.fiatAmount, '52.05');
        const f = preOrder({ requestedAmount: undefined, amountType: 2, fiatAmount: 60 });
        assert.equal(codeOf(await p.client.call('buy/pre-order', f)), '000000');
        assert.equal((await p.client.call('order', { externalOrderId: f.externalOrderId })).json.data.fiatAmount, '60');
      });

      test('pre-order field rules, one row per rule, none writing a row', async () => {
        const q = await onboardGen2Partner(t, { name: 'Custom Tesla' });
        const patched = await t.admin('PATCH', `/admin/v1/partners/${q.merchantCode}`, {
          customizationFlags: ['SKIP_CASHIER', 'MERCHANT_DISPLAY_NAME', 'ON_CHAIN_PROXY_MODE', 'LOCK_ORDER_ATTRIBUTES'],
          deepLinkSchemes: ['mywallet'],
        });
        assert.equal(patched.status, 200, JSON.stringify(patched.json));
        const bad = await t.admin('PATCH', `/admin/v1/partners/${q.merchantCode}`, { customizationFlags: ['NOPE'] });
        assert.equal(bad.status, 400);
        const i = ETH_ADDR.search(/[A-F]/);
        const badCase = ETH_ADDR.slice(0, i) + ETH_ADDR.charAt(i).toLowerCase() + ETH_ADDR.slice(i + 1);
        const customIllegal = (flag: string) => ['1130326', `The value of customization ${flag} is illegal.`];
        const rows: [string, Record<string, unknown>, string[], { raw?: string }?][] = [
          ['externalOrderId with a hyphen', { externalOrderId: 'ord-1' }, illegal('externalOrderId')],
          ['externalOrderId of 65 characters', { externalOrderId: 'a'.repeat(65) }, illegal('externalOrderId')],
          ['externalOrderId missing', { externalOrderId: undefined }, illegal('externalOrderId')],
          ['amountType 3', { amountType: 3 }, illegal('amountType')],
          ['amountType missing', { amountType: undefined }, illegal('amountType')],
          ['requestedAmount with 9 decimals', { requestedAmount: '100.000000001' }, illegal('requestedAmount')],
          [
            'requestedAmount a JSON number with 9 decimals',
            {},
            illegal('requestedAmount'),
            { raw: '"requestedAmount":100.000000001' },
          ],
          ['requestedAmount zero', { requestedAmount: '0' }, illegal('requestedAmount')],
          ['requestedAmount below the limits', { requestedAmount: '14.99' }, illegal('requestedAmount')],
          ['fiat not listed', { fiatCurrency: 'JPY' }, illegal('fiatCurrency')],
          ['crypto not listed', { cryptoCurrency: 'DOGE' }, illegal('cryptoCurrency')],
          ['network not listed for the crypto', { network: 'SOL' }, illegal('network')],
          ['network missing', { network: undefined }, illegal('network')],
          ['payMethodCode not offered', { payMethodCode: 'BUY_P2P' }, illegal('payMethodCode')],
          ['address of another chain', { address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }, illegal('address')],
          ['address with a broken EIP-55 checksum', { address: badCase }, illegal('address')],
          ['address missing', { address: undefined }, illegal('address')],
          [
            'redirectUrl on an unregistered domain',
            { redirectUrl: 'https://evil.example/done' },
            illegal('redirectUrl'),
          ],
          ['failRedirectUrl not a URL', { failRedirectUrl: 'javascript:alert(1)' }, illegal('failRedirectUrl')],
          [
            'redirectDeepLink of an unregistered scheme',
            { redirectDeepLink: 'otherapp://done' },
            illegal('redirectDeepLink'),
          ],
          ['clientIp in a restricted region', { clientIp: '203.0.113.9' }, illegal('clientIp')],
          ['clientIp not an IP', { clientIp: '1.2.3' }, illegal('clientIp')],
          ['clientType other', { clientType: 'tv' }, illegal('clientType')],
          ['customization not an object', { customization: 'x' }, illegal('customization')],
          ['enabled flag, illegal value', { customization: { SKIP_CASHIER: 'yes' } }, customIllegal('SKIP_CASHIER')],
          [
            'MERCHANT_DISPLAY_NAME null',
            { customization: { MERCHANT_DISPLAY_NAME: null } },
            customIllegal('MERCHANT_DISPLAY_NAME'),
          ],
          [
            'LOCK_ORDER_ATTRIBUTES out of range',
            { customization: { LOCK_ORDER_ATTRIBUTES: [1, 9] } },
            customIllegal('LOCK_ORDER_ATTRIBUTES'),
          ],
          [
            'ON_CHAIN_PROXY_MODE',
            { customization: { ON_CHAIN_PROXY_MODE: true } },
            ['1130307', 'Unsupported order type'],
          ],
          [
            'contractAddress not listed',
            { contractAddress: '0x000000000000000000000000000000000000dEaD' },
            ['1130327', 'Swap token not found.'],
          ],
          ['userData over 1024 characters', { userData: 'u'.repeat(1025) }, illegal('userData')],
        ];
        for (const [name, o, want, opts] of rows) {
          const snap = await snapshot(t.db);
          const body = preOrder(o);
          const r = opts?.raw
            ? await q.client.call('buy/pre-order', undefined, {
                rawBody: JSON.stringify(body).replace('"requestedAmount":"100"', opts.raw),
              })
            : await q.client.call('buy/pre-order', body);
          assert.deepEqual(r.json, { success: false, code: want[0], message: want[1], data: null }, name);
          assert.deepEqual(await snapshot(t.db), snap, `${name} wrote a row`);
        }

        // And what passes: a registered deep link, http in the sandbox, a flag not enabled for the partner (ignored
        // whatever its value), enabled flags with legal values, a listed token's contract, a number amount.
        const passes: [string, Record<string, unknown>][] = [
          ['registered deep links', { redirectDeepLink: 'mywallet://done', failRedirectDeepLink: 'MyWallet://failed' }],
          ['http redirect in the sandbox', { redirectUrl: 'http://wallet.example/done' }],
          ['a flag not enabled is ignored', { customization: { AUTO_REDIRECTION: 'not a boolean' } }],
          [
            'enabled flags, legal values',
            {
              customization: {
                SKIP_CASHIER: true,
                MERCHANT_DISPLAY_NAME: 'Tesla Wallet',
                ON_CHAIN_PROXY_MODE: false,
                LOCK_ORDER_ATTRIBUTES: [1, 3],
              },
            },
          ],
          ['contractAddress of a listed token', { cryptoCurrency: undefined, contractAddress: USDT_BSC }],
          ['clientIp outside restricted regions', { clientIp: '198.51.100.9' }],
          ['a number amount and a string amountType', { requestedAmount: 100, amountType: '1' }],
          ['fiat omitted: USD', { fiatCurrency: undefined }],
        ];
        for (const [name, o] of passes)
          assert.equal(codeOf(await q.client.call('buy/pre-order', preOrder(o))), '000000', name);
        // Without the flags enabled (the first partner), the same illegal values are ignored.
        assert.equal(
          codeOf(
            await p.client.call(
              'buy/pre-order',
              preOrder({ customization: { SKIP_CASHIER: 'yes', ON_CHAIN_PROXY_MODE: true } }),
            ),
          ),
          '000000',
        );
        // A registered deep-link scheme belongs to its partner only.
        assert.deepEqual(
          cm(await p.client.call('buy/pre-order', preOrder({ redirectDeepLink: 'mywallet://done' }))),
          illegal('redirectDeepLink'),
        );
      });

      test('externalOrderId is unique per partner across both generations (1130312); each order is seen by its own generation only', async () => {
        const gen1 = connectClient(t.baseUrl, p.merchantCode, p.keys.privateKey);
        const shared = `shared${Date.now()}`;
        // A gen-1 order first, then the same id through gen-2.
        const g1 = await gen1.call('buy-withdraw-crypto', {
          merchantOrderId: shared,
          businessType: 'BUY',
          baseCurrency: 'USD',
          fiatCurrency: 'USD',
          cryptoCurrency: 'USDT',
          orderAmount: 50,
          merchantUserId: 'u-1',
          withdrawCryptoInfo: { cryptoAddress: ETH_ADDR, cryptoAddressMemo: '', cryptoNetwork: 'ETH' },
          channelInfo: { paymentMethod: 'CARD' },
        });
        assert.equal(g1.json.code, '000000', JSON.stringify(g1.json));
        const snap = await snapshot(t.db);
        assert.deepEqual(cm(await p.client.call('buy/pre-order', preOrder({ externalOrderId: shared }))), [
          '1130312',
          'Duplicate externalOrderId',
        ]);
        assert.deepEqual(await snapshot(t.db), snap);
        // The gen-1 order is not visible through gen-2.
        assert.deepEqual(cm(await p.client.call('order', { externalOrderId: shared })), [
          '1130306',
          'Can not find the order',
        ]);

        // A gen-2 order: an identical retry is a duplicate too; gen-1 neither sees it nor reuses its id.
        const o = preOrder();
        assert.equal(codeOf(await p.client.call('buy/pre-order', o)), '000000');
        assert.deepEqual(cm(await p.client.call('buy/pre-order', o)), ['1130312', 'Duplicate externalOrderId']);
        assert.deepEqual(cm(await p.client.call('gray/buy/pre-order', o)), ['1130312', 'Duplicate externalOrderId']);
        assert.equal(
          codeOf(await gen1.call('query-order-list', { merchantOrderId: o.externalOrderId })),
          'OPE100000040',
        );
        // Another partner may use the same id.
        const other = await onboardGen2Partner(t, { name: 'Other Tesla' });
        assert.equal(codeOf(await other.client.call('buy/pre-order', o)), '000000');
        // Concurrent identical pre-orders: exactly one succeeds.
        const race = preOrder();
        const codes = (await Promise.all(Array.from({ length: 5 }, () => p.client.call('buy/pre-order', race)))).map(
          codeOf,
        );
        assert.deepEqual(codes.sort(), ['000000', '1130312', '1130312', '1130312', '1130312']);
      });

      test('gray/buy/pre-order is an alias in the sandbox', async () => {
        const o = preOrder();
        const r = await p.client.call('gray/buy/pre-order', o);
        assert.equal(r.json.code, '000000');
        assert.equal((await p.client.call('order', { externalOrderId: o.externalOrderId })).json.data.status, 0);
      });
    });

    describe('sibling families and the sandbox ops', () => {
      test('sell and deposit answer 1130307 once authenticated; the sandbox ops are served here', async () => {
        for (const [op, prefix] of [
          ['sell/trading-pairs', GEN2_V1],
          ['sell/payment-method-list', GEN2_V1],
          ['sell/estimated-quote', GEN2_V1],
          ['sell/pre-order', GEN2_V1],
          ['deposit/initiate', GEN2_V1],
          ['deposit/authorization', GEN2_V1],
          ['deposit/report', GEN2_V1],
          ['sell/payment-method-list', GEN2_V2],
        ] as const) {
          const r = await p.client.call(op, { externalOrderId: 'x' }, { prefix });
          assert.deepEqual(
            r.json,
            { success: false, code: '1130307', message: 'Unsupported order type', data: null },
            op,
          );
          assert.equal(codeOf(await p.client.call(op, undefined, { prefix, rawBody: '' })), '1130307', op);
          // Still behind the pipeline.
          assert.equal(codeOf(await p.client.call(op, {}, { prefix, token: 'bad' })), '1130303', op);
        }
        for (const op of ['sandbox/place-order', 'sandbox/order-status-transition']) {
          const r = await p.client.call(op, {});
          assert.equal(r.status, 200, op);
          assert.notEqual(r.json.code, '1130101', `${op}: ${r.text}`);
        }
      });
    });
  });

  describe(`Connect gen-2 in production (${kind}): the sandbox-only paths are unknown`, () => {
    let t: TestApp;
    const logs = capturingLogger();
    before(async () => {
      t = await startTestApp({
        kind,
        env: await productionEnv({ PUBLIC_URL: 'https://rampart.example', LOG_LEVEL: 'info' }),
        logger: logs.logger,
      });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    test('sandbox/place-order, sandbox/order-status-transition and gray/buy/pre-order answer 404; pre-order is https only', async () => {
      const p = await onboardGen2Partner(t, { name: 'Prod Tesla' });
      const c = gen2Client(t.baseUrl, p.clientId, p.signAccessToken, p.keys.privateKey);
      for (const op of ['sandbox/place-order', 'sandbox/order-status-transition', 'gray/buy/pre-order']) {
        const r = await c.call(op, preOrder());
        assert.equal(r.status, 404, op);
        assert.equal(r.json.code, '1130101');
      }
      assert.deepEqual(
        cm(await c.call('buy/pre-order', preOrder({ redirectUrl: 'http://wallet.example/done' }))),
        illegal('redirectUrl'),
      );
      assert.equal(codeOf(await c.call('buy/trading-pairs')), '000000');
    });

    test('x-trace-id is logged with the code of the answer it was echoed on', async () => {
      const p = await onboardGen2Partner(t, { name: 'Traced Tesla' });
      const trace = `trace-${randomBytes(6).toString('hex')}`;
      const r = await p.client.call('order', { externalOrderId: 'nosuchorder' }, { headers: { 'x-trace-id': trace } });
      assert.equal(r.headers.get('x-trace-id'), trace);
      const ok = await p.client.call('crypto-network', undefined, { headers: { 'x-trace-id': `${trace}b` } });
      assert.equal(ok.headers.get('x-trace-id'), `${trace}b`);
      const line = (id: string) => logs.lines.find((l) => l.traceId === id);
      assert.deepEqual([line(trace)?.code, line(trace)?.url], ['1130306', `${GEN2_V1}/order`]);
      assert.equal(line(`${trace}b`)?.code, '000000');
      // A value that cannot be a header is neither echoed nor logged.
      const bad = await p.client.call('crypto-network', undefined, { headers: { 'x-trace-id': 'a b' } });
      assert.equal(bad.headers.get('x-trace-id'), null);
      assert.equal(line('a b'), undefined);
    });
  });
}
