import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { signingString } from '../src/connect/auth.ts';
import { DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';
import { CONNECT_PATH, onboardPartner, partnerSign, rsaPair } from './support/connect-client.ts';

/** The signed Connect partner API: authentication pipeline, every operation and every error code, over HTTP. */
const run = promisify(execFile);
const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';
const XRP_ADDR = 'rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh';
let seq = 0;
const moid = () => `m${Date.now()}_${++seq}`;
const order = (o: Record<string, unknown> = {}) => ({
  merchantOrderId: moid(),
  businessType: 'BUY',
  baseCurrency: 'USD',
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  orderAmount: 50,
  merchantUserId: 'u-8841',
  merchantRedirectUrl: 'https://wallet.example/done',
  withdrawCryptoInfo: { cryptoAddress: ETH_ADDR, cryptoAddressMemo: '', cryptoNetwork: 'ETH' },
  channelInfo: { paymentMethod: 'CARD' },
  ...o,
});
const codeOf = (r: { json: any }) => r.json.code;

for (const kind of DB_KINDS) {
  describe(`Connect partner API (${kind})`, () => {
    let t: TestApp;
    let p: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      // The 20 req/s limit has its own test below; these tests call faster than that on purpose.
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      p = await onboardPartner(t);
    });
    after(async () => t.close());

    describe('signing and authentication', () => {
      test('signing string: body form and empty-body form, exactly as the spec example', () => {
        assert.equal(
          signingString('{"merchantOrderId":"1684600000000"}', 'acme', '1684600000123').toString(),
          '{"merchantOrderId":"1684600000000"}&merchantCode=acme&timestamp=1684600000123',
        );
        assert.equal(
          signingString('', 'acme', '1684600000123').toString(),
          'merchantCode=acme&timestamp=1684600000123',
        );
      });

      test(
        "a key made with the onboarding guide's openssl commands signs requests the platform verifies (openssl " +
          'dgst -sign)',
        async () => {
          const dir = mkdtempSync(join(tmpdir(), 'connect-openssl-'));
          try {
            await run('openssl', ['genrsa', '-out', join(dir, 'rsa_pkcs1.pri'), '1024']);
            await run('openssl', [
              'rsa',
              '-in',
              join(dir, 'rsa_pkcs1.pri'),
              '-pubout',
              '-out',
              join(dir, 'rsa_pkcs8.pub'),
            ]);
            await run('openssl', [
              'pkcs8',
              '-topk8',
              '-inform',
              'PEM',
              '-in',
              join(dir, 'rsa_pkcs1.pri'),
              '-outform',
              'pem',
              '-nocrypt',
              '-out',
              join(dir, 'rsa_pkcs8.pri'),
            ]);
            const r = await t.admin('POST', '/admin/v1/partners', {
              name: 'Openssl Wallet',
              email: 'openssl@wallet.example',
              publicKey: readFileSync(join(dir, 'rsa_pkcs8.pub'), 'utf8'),
              ipWhitelist: ['127.0.0.1'],
            });
            assert.equal(r.status, 201, JSON.stringify(r.json));
            assert.equal(r.json.merchantCode, 'openssl_wallet_test');
            assert.equal(r.json.partnerKey.bits, 1024);
            // Sign with openssl itself, as the spec's reproduction recipe does; a pretty-printed body is verified as
            // sent.
            const body = '{\n  "merchantOrderId": "nope"\n}';
            const ts = String(Date.now());
            const { writeFileSync } = await import('node:fs');
            writeFileSync(join(dir, 'msg'), `${body}&merchantCode=${r.json.merchantCode}&timestamp=${ts}`);
            const sig = (
              await run('sh', [
                '-c',
                `openssl dgst -sha256 -sign ${join(dir, 'rsa_pkcs8.pri')} ${join(dir, 'msg')} | base64 -w0`,
              ])
            ).stdout.trim();
            const res = await fetch(`${t.baseUrl}${CONNECT_PATH}/query-order-list`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                merchantCode: r.json.merchantCode,
                timestamp: ts,
                'x-api-signature': sig,
              },
              body,
            });
            const json = await res.json();
            assert.equal(json.code, 'OPE100000040'); // authenticated: the order simply does not exist
            // The same signature over a re-serialized body (spaces removed) is refused.
            const res2 = await fetch(`${t.baseUrl}${CONNECT_PATH}/query-order-list`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                merchantCode: r.json.merchantCode,
                timestamp: ts,
                'x-api-signature': sig,
              },
              body: JSON.stringify(JSON.parse(body)),
            });
            assert.equal((await res2.json()).code, 'OPE100000002');
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      );

      test('authentication failures, in pipeline order, each with its code, HTTP 200 and the envelope', async () => {
        const c = p.client;
        for (const h of ['merchantCode', 'timestamp', 'x-api-signature']) {
          const r = await c.call('get-crypto-network-list', undefined, { omit: [h] });
          assert.equal(r.status, 200);
          assert.deepEqual(r.json, {
            success: false,
            code: 'OPE100000007',
            message: 'Missing merchantCode, timestamp or x-api-signature header.',
            messageDetail: null,
            data: null,
          });
        }
        assert.equal(
          codeOf(await c.call('get-crypto-network-list', undefined, { merchantCode: 'nobody_test' })),
          'OPE100000004',
        );
        // The production code of the same partner is unknown in this (test) environment.
        assert.equal(
          codeOf(
            await c.call('get-crypto-network-list', undefined, { merchantCode: p.merchantCode.replace(/_test$/, '') }),
          ),
          'OPE100000004',
        );
        const old = String(Date.now() - 301_000);
        const r3 = await c.call('get-crypto-network-list', undefined, { timestamp: old });
        assert.equal(r3.json.code, 'OPE100000003');
        assert.equal(r3.json.message, 'Request timestamp is outside the allowed window.');
        assert.equal(
          codeOf(await c.call('get-crypto-network-list', undefined, { timestamp: String(Date.now() + 301_000) })),
          'OPE100000003',
        );
        assert.equal(
          codeOf(await c.call('get-crypto-network-list', undefined, { timestamp: String(Date.now() - 290_000) })),
          '000000',
        );
        assert.equal(
          codeOf(await c.call('get-crypto-network-list', undefined, { privateKey: rsaPair().privateKey })),
          'OPE100000002',
        );
        assert.equal(
          codeOf(await c.call('get-crypto-network-list', undefined, { headers: { 'x-api-signature': 'not base64!' } })),
          'OPE100000002',
        );
        // Signature over one body, another body sent.
        const ts = String(Date.now());
        const sigA = partnerSign(
          p.keys.privateKey,
          `{"merchantOrderId":"a"}&merchantCode=${p.merchantCode}&timestamp=${ts}`,
        );
        const sent = (body: string) =>
          fetch(`${t.baseUrl}${CONNECT_PATH}/query-order-list`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              merchantCode: p.merchantCode,
              timestamp: ts,
              'x-api-signature': sigA,
            },
            body,
          }).then((r) => r.json());
        assert.equal((await sent('{"merchantOrderId":"a"}')).code, 'OPE100000040');
        assert.equal((await sent('{"merchantOrderId":"b"}')).code, 'OPE100000002');
        const tampered = await fetch(`${t.baseUrl}${CONNECT_PATH}/query-order-list`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            merchantCode: p.merchantCode,
            timestamp: '1',
            'x-api-signature': 'AAAA',
          },
          body: '{}',
        });
        assert.equal((await tampered.json()).code, 'OPE100000003'); // timestamp is checked before the signature
        // Body must be a JSON object (checked after the signature).
        assert.equal(codeOf(await c.call('query-order-list', undefined, { rawBody: '[1,2]' })), 'OPE100000010');
        const notJson = await c.call('query-order-list', undefined, { rawBody: '{"merchantOrderId":' });
        assert.equal(notJson.json.code, 'OPE100000010');
        assert.equal(notJson.json.message, 'The parameter body is illegal.');

        // IP whitelist (before the timestamp), and a disabled partner (before the IP).
        const elsewhere = await onboardPartner(t, { name: 'Far Away', ipWhitelist: ['10.9.8.7'] });
        const ipFail = await elsewhere.client.call('get-crypto-network-list', undefined, { timestamp: old });
        assert.equal(ipFail.json.code, 'OPE100000005');
        assert.equal(
          (await t.admin('PATCH', `/admin/v1/partners/${elsewhere.merchantCode}`, { status: 'DISABLED' })).status,
          200,
        );
        assert.equal(codeOf(await elsewhere.client.call('get-crypto-network-list')), 'OPE100000006');
        assert.equal(
          (
            await t.admin('PATCH', `/admin/v1/partners/${elsewhere.merchantCode}`, {
              status: 'ACTIVE',
              ipWhitelist: ['127.0.0.0/8'],
            })
          ).status,
          200,
        );
        assert.equal(codeOf(await elsewhere.client.call('get-crypto-network-list')), '000000');
      });

      test('unknown path: HTTP 404 with OPE100000001; the /bapi/fiat alias behaves identically', async () => {
        const r = await p.client.call('get-everything', {});
        assert.equal(r.status, 404);
        assert.equal(r.json.code, 'OPE100000001');
        assert.equal(r.json.success, false);
        const alias = await p.client.call('get-trade-pair-list', undefined, {
          prefix: '/bapi/fiat/v1/public/open-api/connect',
        });
        assert.equal(alias.json.code, '000000');
      });
    });
    describe('discovery: networks, pairs, quotes', () => {
      test(
        'get-crypto-network-list: registry items with limits, memo rules and an indicative USD price; POST {} ' +
          'accepted',
        async () => {
          const r = await p.client.call('get-crypto-network-list');
          assert.equal(r.json.success, true);
          assert.equal(r.json.message, null);
          const usdtEth = r.json.data.find((i: any) => i.cryptoCurrency === 'USDT' && i.network === 'ETH');
          assert.deepEqual(usdtEth, {
            cryptoCurrency: 'USDT',
            network: 'ETH',
            memoRequired: false,
            addressRegex: '^(0x)[0-9A-Fa-f]{40}$',
            memoRegex: '',
            withdrawFee: 1,
            withdrawMin: 10,
            withdrawMax: 10000000000,
            withdrawIntegerMultiple: 0.000001,
            contractAddress: '0xdAC17F958D2ee523a2206206994597C13D831ec7',
            price: 1,
          });
          // Exact decimals on the wire, never through a float.
          assert.match(r.text, /"withdrawIntegerMultiple":0\.000001,/);
          const xrp = r.json.data.find((i: any) => i.network === 'XRP');
          assert.equal(xrp.memoRequired, true);
          assert.equal(xrp.memoRegex, '^[0-9]{1,10}$');
          assert.ok(r.json.data.find((i: any) => i.cryptoCurrency === 'BTC').price > 1000);
          const post = await p.client.call('get-crypto-network-list', {}, { method: 'POST' });
          assert.deepEqual(post.json.data.length, r.json.data.length);
        },
      );

      test('get-trade-pair-list: fiat × crypto × card with size and limits converted per fiat', async () => {
        const r = await p.client.call('get-trade-pair-list');
        const usd = r.json.data.find((i: any) => i.fiatCurrency === 'USD' && i.cryptoCurrency === 'USDT');
        assert.deepEqual(usd, {
          fiatCurrency: 'USD',
          cryptoCurrency: 'USDT',
          paymentMethod: 'card',
          size: 2,
          quotation: 1.0012,
          minLimit: 15,
          maxLimit: 20000,
        });
        const eur = r.json.data.find((i: any) => i.fiatCurrency === 'EUR' && i.cryptoCurrency === 'USDT');
        assert.deepEqual([eur.minLimit, eur.maxLimit], [14, 18518]); // 15/1.08 up, 20000/1.08 down
        for (const f of ['USD', 'EUR', 'GBP', 'AUD', 'BRL', 'TRY'])
          assert.ok(
            r.json.data.some((i: any) => i.fiatCurrency === f),
            f,
          );
      });

      test('get-quote: the spec example exactly (spread 0.0012, fee 1.99), and every error code', async () => {
        const q = (o: Record<string, unknown> = {}) =>
          p.client.call('get-quote', {
            fiatCurrency: 'USD',
            cryptoCurrency: 'USDT',
            cryptoNetwork: 'ETH',
            paymentMethod: 'CARD',
            fiatAmount: 100,
            countryCode: 'FR',
            ...o,
          });
        const r = await q();
        assert.equal(
          r.text,
          '{"success":true,"code":"000000","message":null,"messageDetail":null,"data":{"quotePrice":1.0012,' +
            '"userFee":1.99,"networkFee":1,"cryptoAmount":96.892528}}',
        );
        // pct fee above the minimum: 2000 × 0.0199 = 39.8
        assert.equal((await q({ fiatAmount: 2000 })).json.data.userFee, 39.8);
        assert.equal(codeOf(await q({ fiatCurrency: 'JPY' })), 'OPE100000020');
        assert.equal(codeOf(await q({ cryptoNetwork: 'TRX', cryptoCurrency: 'BUSD' })), 'OPE100000021');
        assert.equal(codeOf(await q({ paymentMethod: 'P2P' })), 'OPE100000024');
        assert.equal(codeOf(await q({ paymentMethod: 'card' })), '000000');
        assert.equal(codeOf(await q({ fiatAmount: 14.99 })), 'OPE100000031');
        assert.equal(codeOf(await q({ fiatAmount: 20000.01 })), 'OPE100000031');
        assert.equal(codeOf(await q({ cryptoCurrency: 'BTC', cryptoNetwork: 'BTC', fiatAmount: 15 })), 'OPE100000032');
        assert.equal(codeOf(await q({ countryCode: 'RU' })), 'OPE100000025');
        assert.equal(codeOf(await q({ countryCode: 'US' })), 'OPE100000025'); // absent from the cards table
        const missing = await q({ fiatAmount: undefined });
        assert.deepEqual(
          [missing.json.code, missing.json.message],
          ['OPE100000011', 'The parameter fiatAmount is required.'],
        );
        const bad = await q({ fiatAmount: 'ten' });
        assert.deepEqual([bad.json.code, bad.json.message], ['OPE100000010', 'The parameter fiatAmount is illegal.']);
      });
    });
    describe('creating an order', () => {
      test('buy-withdraw-crypto: creates an INIT order with the buy-flow link; trade is an alias', async () => {
        const before = Date.now();
        const r = await p.client.call('buy-withdraw-crypto', order());
        assert.equal(r.json.code, '000000', r.text);
        const d = r.json.data;
        assert.match(d.token, /^[0-9a-f]{40}$/);
        assert.equal(d.eternalRedirectUrl, `${t.baseUrl}/en/connect/buyflow?token=${d.token}`);
        assert.match(d.orderId, /^CNT[0-9a-f]{29}$/);
        assert.equal(d.bindingStatus, false);
        assert.ok(
          d.expiredTime >= t.clock.now() + 1_800_000 - 5 && d.expiredTime <= t.clock.now() + 1_800_000,
          String(d.expiredTime - before),
        );
        const alias = await p.client.call('trade', order());
        assert.equal(alias.json.code, '000000');
        assert.notEqual(alias.json.data.orderId, d.orderId);
      });

      test('duplicate merchantOrderId → OPE100000041, even for an identical retry; another partner may reuse it', async () => {
        const o = order();
        assert.equal(codeOf(await p.client.call('buy-withdraw-crypto', o)), '000000');
        const snap = await snapshot(t.db);
        assert.equal(codeOf(await p.client.call('buy-withdraw-crypto', o)), 'OPE100000041');
        assert.equal(codeOf(await p.client.call('trade', { ...o, orderAmount: 60 })), 'OPE100000041');
        assert.deepEqual(await snapshot(t.db), snap);
        const other = await onboardPartner(t, { name: 'Other Wallet' });
        assert.equal(codeOf(await other.client.call('buy-withdraw-crypto', o)), '000000');
      });

      test('amounts at, below and above the pair limits, and decimal places beyond size', async () => {
        const at = async (amount: number, fiat = 'USD') =>
          codeOf(
            await p.client.call(
              'buy-withdraw-crypto',
              order({ orderAmount: amount, fiatCurrency: fiat, baseCurrency: fiat }),
            ),
          );
        assert.equal(await at(15), '000000');
        assert.equal(await at(14.99), 'OPE100000031');
        assert.equal(await at(20000), '000000');
        assert.equal(await at(20000.01), 'OPE100000031');
        assert.equal(await at(14, 'EUR'), '000000');
        assert.equal(await at(13.99, 'EUR'), 'OPE100000031');
        const detail = await p.client.call('buy-withdraw-crypto', order({ orderAmount: 5 }));
        assert.deepEqual(
          [detail.json.message, detail.json.messageDetail],
          ['Order amount is out of the limits.', 'amount must be between 15 and 20000'],
        );
        assert.equal(await at(15.001), 'OPE100000010');
        // An exact decimal beyond double precision is neither rounded nor accepted.
        assert.equal(
          codeOf(
            await p.client.call('buy-withdraw-crypto', undefined, {
              rawBody: JSON.stringify(order()).replace('"orderAmount":50', '"orderAmount":15.000000000000000001'),
            }),
          ),
          'OPE100000010',
        );
        // The crypto amount after fees must reach the network's withdrawal minimum.
        assert.equal(
          codeOf(
            await p.client.call(
              'buy-withdraw-crypto',
              order({
                cryptoCurrency: 'BTC',
                withdrawCryptoInfo: {
                  cryptoNetwork: 'BTC',
                  cryptoAddress: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
                },
              }),
            ),
          ),
          'OPE100000032',
        );
      });

      test('address and memo validation through the chain validators', async () => {
        const w = (info: Record<string, unknown>, o: Record<string, unknown> = {}) =>
          p.client.call('buy-withdraw-crypto', order({ withdrawCryptoInfo: info, ...o }));
        const lower = ETH_ADDR.toLowerCase();
        assert.equal(codeOf(await w({ cryptoNetwork: 'ETH', cryptoAddress: lower })), '000000');
        // One letter's case flipped breaks EIP-55.
        const i = ETH_ADDR.search(/[A-F]/);
        const badCase = ETH_ADDR.slice(0, i) + ETH_ADDR.charAt(i).toLowerCase() + ETH_ADDR.slice(i + 1);
        assert.notEqual(badCase, ETH_ADDR);
        const r = await w({ cryptoNetwork: 'ETH', cryptoAddress: badCase });
        assert.equal(r.json.code, 'OPE100000022');
        assert.match(r.json.messageDetail, /EIP-55/);
        const btcOnEth = await w({ cryptoNetwork: 'ETH', cryptoAddress: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' });
        assert.equal(btcOnEth.json.code, 'OPE100000022');
        assert.match(btcOnEth.json.messageDetail, /Bitcoin/);
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'TRX', cryptoAddress: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u' })),
          'OPE100000022',
        );
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'TRX', cryptoAddress: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' })),
          '000000',
        );
        // Memos: required on XRP, forbidden on ETH.
        const xrp = { cryptoCurrency: 'XRP', orderAmount: 100 };
        assert.equal(codeOf(await w({ cryptoNetwork: 'XRP', cryptoAddress: XRP_ADDR }, xrp)), 'OPE100000023');
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'XRP', cryptoAddress: XRP_ADDR, cryptoAddressMemo: 'abc' }, xrp)),
          'OPE100000023',
        );
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'XRP', cryptoAddress: XRP_ADDR, cryptoAddressMemo: '4294967296' }, xrp)),
          'OPE100000023',
        );
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'XRP', cryptoAddress: XRP_ADDR, cryptoAddressMemo: '123456' }, xrp)),
          '000000',
        );
        assert.equal(
          codeOf(await w({ cryptoNetwork: 'ETH', cryptoAddress: ETH_ADDR, cryptoAddressMemo: '123' })),
          'OPE100000023',
        );
        assert.equal(codeOf(await w({ cryptoNetwork: 'XRP', cryptoAddress: ETH_ADDR })), 'OPE100000021');
      });

      test('buy-withdraw-crypto parameter rules: 011, 010, 020, 021, 024, 025 and redirect domains', async () => {
        const c = (o: Record<string, unknown>) => p.client.call('buy-withdraw-crypto', order(o));
        const miss = await c({ withdrawCryptoInfo: undefined });
        assert.deepEqual(
          [miss.json.code, miss.json.message],
          ['OPE100000011', 'The parameter withdrawCryptoInfo is required.'],
        );
        assert.equal(
          (await c({ withdrawCryptoInfo: { cryptoNetwork: 'ETH' } })).json.message,
          'The parameter withdrawCryptoInfo.cryptoAddress is required.',
        );
        assert.equal(codeOf(await c({ merchantOrderId: '' })), 'OPE100000011');
        assert.equal(codeOf(await c({ merchantOrderId: 'has space' })), 'OPE100000010');
        assert.equal(codeOf(await c({ merchantOrderId: 'x'.repeat(65) })), 'OPE100000010');
        assert.equal(codeOf(await c({ businessType: 'BUY_NFT' })), 'OPE100000010');
        assert.equal(codeOf(await c({ baseCurrency: 'EUR' })), 'OPE100000010');
        assert.equal(codeOf(await c({ merchantUserId: 'u'.repeat(65) })), 'OPE100000010');
        assert.equal(codeOf(await c({ fiatCurrency: 'JPY', baseCurrency: 'JPY' })), 'OPE100000020');
        assert.equal(codeOf(await c({ cryptoCurrency: 'DOGE' })), 'OPE100000020');
        assert.equal(
          codeOf(await c({ withdrawCryptoInfo: { cryptoNetwork: 'SOL', cryptoAddress: ETH_ADDR } })),
          'OPE100000021',
        );
        assert.equal(codeOf(await c({ channelInfo: { paymentMethod: 'P2P' } })), 'OPE100000024');
        assert.equal(codeOf(await c({ clientUserIp: '203.0.113.9' })), 'OPE100000025');
        assert.equal(codeOf(await c({ clientUserIp: '198.51.100.9' })), '000000');
        assert.equal(codeOf(await c({ clientUserIp: '1.2.3' })), 'OPE100000010');
        assert.equal(codeOf(await c({ merchantRedirectUrl: 'https://evil.example/done' })), 'OPE100000010');
        assert.equal(codeOf(await c({ merchantRedirectUrl: 'javascript:alert(1)' })), 'OPE100000010');
        // http allowed in sandbox
        assert.equal(codeOf(await c({ merchantRedirectUrl: 'http://wallet.example/done' })), '000000');
      });
    });
    describe('queries, IP checks, success code, rate limit', () => {
      test(
        "query-order-list: the §4.5 item by merchantOrderId or orderId; unknown or another partner's → " +
          'OPE100000040',
        async () => {
          const o = order({ orderAmount: 100, merchantNote: 'note' });
          const created = (await p.client.call('buy-withdraw-crypto', o)).json.data;
          const r = await p.client.call('query-order-list', { merchantOrderId: o.merchantOrderId });
          assert.equal(r.json.code, '000000');
          const item = r.json.data[0];
          assert.deepEqual(
            { ...item, createTime: undefined, updateTime: undefined },
            {
              connectOrderId: created.orderId,
              merchantCode: p.merchantCode,
              merchantOrderId: o.merchantOrderId,
              merchantUserId: 'u-8841',
              businessType: 'BUY',
              baseCurrency: 'USD',
              fiatCurrency: 'USD',
              cryptoCurrency: 'USDT',
              cryptoNetwork: 'ETH',
              cryptoAddress: ETH_ADDR,
              cryptoAddressMemo: '',
              orderAmount: 100,
              executePrice: 0,
              userFee: 1.99,
              chainSettlementFee: 1,
              obtainAmount: 0,
              orderMainStatus: 'INIT',
              orderSubStatus: 'CREATED',
              errorCode: null,
              errorReason: null,
              withdrawTxHash: null,
              createTime: undefined,
              updateTime: undefined,
            },
          );
          assert.match(item.createTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          const byId = await p.client.call('query-order-list', { orderId: created.orderId });
          assert.equal(byId.json.data[0].merchantOrderId, o.merchantOrderId);
          const none = await p.client.call('query-order-list', { merchantOrderId: 'nope' });
          assert.deepEqual(none.json, {
            success: false,
            code: 'OPE100000040',
            message: 'Order not found.',
            messageDetail: null,
            data: null,
          });
          const other = await onboardPartner(t, { name: 'Snooper' });
          assert.equal(
            codeOf(await other.client.call('query-order-list', { merchantOrderId: o.merchantOrderId })),
            'OPE100000040',
          );
          assert.equal(codeOf(await p.client.call('query-order-list', {})), 'OPE100000011');
        },
      );

      test('check-ip-address: pass, reject for a restricted country, unknown passes, invalid → 010, userIp alias', async () => {
        assert.deepEqual((await p.client.call('check-ip-address', { clientUserIp: '198.51.100.7' })).json.data, {
          status: 'pass',
          countryCode: 'FR',
        });
        assert.deepEqual((await p.client.call('check-ip-address', { clientUserIp: '203.0.113.7' })).json.data, {
          status: 'reject',
          countryCode: 'KP',
        });
        assert.deepEqual((await p.client.call('check-ip-address', { userIp: '8.8.8.8' })).json.data, {
          status: 'pass',
          countryCode: null,
        });
        assert.equal(codeOf(await p.client.call('check-ip-address', { clientUserIp: '300.1.1.1' })), 'OPE100000010');
        assert.equal(codeOf(await p.client.call('check-ip-address', {})), 'OPE100000011');
      });

      test('a partner configured for the nine-zero success code gets it; success stays true', async () => {
        const nine = await onboardPartner(t, { name: 'Nine Zero', successCode: '000000000' });
        const r = await nine.client.call('check-ip-address', { clientUserIp: '8.8.8.8' });
        assert.deepEqual([r.json.success, r.json.code], [true, '000000000']);
      });

      test('more than 20 requests per second from one partner → OPE100000050', async () => {
        const t2 = await startTestApp({ kind });
        after(() => t2.close());
        const busy = await onboardPartner(t2, { name: 'Busy Wallet' });
        const results = await Promise.all(
          Array.from({ length: 60 }, () => busy.client.call('check-ip-address', { clientUserIp: '8.8.8.8' })),
        );
        const codes = results.map(codeOf);
        assert.ok(codes.includes('OPE100000050'), codes.join(','));
        assert.ok(codes.every((c) => c === '000000' || c === 'OPE100000050'));
        assert.ok(codes.filter((c) => c === '000000').length <= 40);
      });
    });
  });
}
