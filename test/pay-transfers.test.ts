import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { assertAuditOk, createMerchant, DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/** Wallet transfer between a merchant's funding and spot wallets (binance-pay-extended.md §11). */
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
let seq = 0;
const rid = () => `T${Date.now()}x${++seq}`;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);

for (const kind of DB_KINDS) {
  describe(`Binance Pay wallet transfer (${kind})`, () => {
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

    /** A merchant whose funding wallet holds `amount` of `asset`, minted in the sandbox (a balanced ledger move). */
    async function funded(name: string, amount = '100', asset = 'USDT'): Promise<Merchant> {
      const m = await createMerchant(t, { name });
      await fund(m, amount, asset);
      return m;
    }
    async function fund(m: Merchant, amount: string, asset = 'USDT') {
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-fund:${m.merchantId}:${asset}:${++seq}`,
          debit: platformAccount('sandbox_mint', asset),
          credit: { ownerType: 'merchant', ownerId: m.merchantId, asset },
          amount,
          kind: 'sandbox.fund',
        }),
      );
    }

    /** Both wallets as /v2/balance shows them (available of `asset`, 0 when absent). */
    async function wallets(m: Pick<Merchant, 'client'>, asset = 'USDT', headers?: Record<string, string>) {
      const out: Record<string, number> = {};
      for (const wallet of ['FUNDING_WALLET', 'SPOT_WALLET']) {
        const r = await m.client.post('/v2/balance', { wallet }, { headers });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        assert.equal(r.json.data.wallet, wallet);
        out[wallet] = r.json.data.balance.find((b: any) => b.asset === asset)?.available ?? 0;
      }
      return out;
    }

    test('TO_MAIN moves funding → spot and TO_PAY back, synchronously; the result object exactly as published', async () => {
      const m = await funded('Transfer Shop', '100');
      const requestId = rid();
      const r = await m.client.post('/wallet/transfer', {
        requestId,
        currency: 'USDT',
        amount: '30.5',
        transferType: 'TO_MAIN',
      });
      assert.deepEqual(r.json, {
        status: 'SUCCESS',
        code: '000000',
        data: { tranId: requestId, status: 'SUCCESS', currency: 'USDT', amount: '30.5', transferType: 'TO_MAIN' },
        errorMessage: null,
      });
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 69.5, SPOT_WALLET: 30.5 });
      const v1 = await m.client.post('/balance', { wallet: 'SPOT_WALLET', currency: 'USDT' });
      assert.equal(v1.json.data.balance, 30.5, v1.text);
      const q = await m.client.post('/wallet/transfer/query', { tranId: requestId });
      assert.deepEqual(q.json.data, { tranId: requestId, status: 'SUCCESS' });

      // Back, the amount a JSON number: echoed as sent, as a string.
      const back = rid();
      const b = await m.client.post(
        '/wallet/transfer',
        `{"requestId":"${back}","currency":"USDT","amount":10.12345678,"transferType":"TO_PAY"}`,
      );
      assert.deepEqual(b.json.data, {
        tranId: back,
        status: 'SUCCESS',
        currency: 'USDT',
        amount: '10.12345678',
        transferType: 'TO_PAY',
      });
      assert.match(b.text, /"amount":"10.12345678"/);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 79.62345678, SPOT_WALLET: 20.37654322 });
      // The moves are ledger transactions of the merchant's two accounts.
      const spot = await t.app.services.ledger.balance(t.db, {
        ownerType: 'merchant_spot',
        ownerId: m.merchantId,
        asset: 'USDT',
      });
      assert.equal(spot.available, '20.37654322');
    });

    test('insufficient funds: stored as FAILURE with a SUCCESS envelope, nothing moves; a replay stays FAILURE', async () => {
      const m = await funded('Short Shop', '5');
      const requestId = rid();
      const body = { requestId, currency: 'USDT', amount: '5.00000001', transferType: 'TO_MAIN' };
      const r = await m.client.post('/wallet/transfer', body);
      assert.deepEqual(r.json, {
        status: 'SUCCESS',
        code: '000000',
        data: {
          tranId: requestId,
          status: 'FAILURE',
          currency: 'USDT',
          amount: '5.00000001',
          transferType: 'TO_MAIN',
        },
        errorMessage: null,
      });
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 5, SPOT_WALLET: 0 });
      assert.deepEqual((await m.client.post('/wallet/transfer/query', { tranId: requestId })).json.data, {
        tranId: requestId,
        status: 'FAILURE',
      });
      // The empty spot wallet cannot pay back either (an asset the merchant never held).
      const none = await m.client.post('/wallet/transfer', {
        requestId: rid(),
        currency: 'BNB',
        amount: '1',
        transferType: 'TO_PAY',
      });
      assert.equal(none.json.data.status, 'FAILURE', none.text);

      // Funded now, the same request is still the stored FAILURE: nothing executes twice.
      await fund(m, '10');
      const again = await m.client.post('/wallet/transfer', body);
      assert.deepEqual(again.json, r.json);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 15, SPOT_WALLET: 0 });
      // A new key for the same amount now succeeds.
      const fresh = await m.client.post('/wallet/transfer', { ...body, requestId: rid() });
      assert.equal(fresh.json.data.status, 'SUCCESS', fresh.text);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 9.99999999, SPOT_WALLET: 5.00000001 });
    });

    test('idempotency: same requestId and parameters → the stored answer, moved once; other parameters → 400102', async () => {
      const m = await funded('Replay Shop', '50');
      const requestId = rid();
      const first = await m.client.post('/wallet/transfer', {
        requestId,
        currency: 'USDT',
        amount: '7.5',
        transferType: 'TO_MAIN',
      });
      assert.equal(first.json.data.status, 'SUCCESS');
      // 7.50 is the same amount, in another key order: the stored answer (amount as first sent).
      const replay = await m.client.post(
        '/wallet/transfer',
        `{"transferType":"TO_MAIN","amount":7.50,"currency":"USDT","requestId":"${requestId}"}`,
      );
      assert.deepEqual(replay.json, first.json);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 42.5, SPOT_WALLET: 7.5 });
      const snap = await snap0(t);
      for (const change of [{ amount: '7.6' }, { currency: 'USDC' }, { transferType: 'TO_PAY' }]) {
        const r = await m.client.post('/wallet/transfer', {
          requestId,
          currency: 'USDT',
          amount: '7.5',
          transferType: 'TO_MAIN',
          ...change,
        });
        assert.deepEqual(r.json, {
          status: 'FAIL',
          code: '400102',
          errorMessage: `requestId ${requestId} was already used with different parameters.`,
        });
      }
      assert.deepEqual(await snap0(t), snap);
      // Keys are per merchant: another merchant may use the same requestId.
      const other = await funded('Other Replay Shop', '1');
      const o = await other.client.post('/wallet/transfer', {
        requestId,
        currency: 'USDT',
        amount: '1',
        transferType: 'TO_MAIN',
      });
      assert.equal(o.json.data.status, 'SUCCESS', o.text);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 42.5, SPOT_WALLET: 7.5 });
    });

    test('every field rule answers its code, before the feature gate, and changes nothing', async () => {
      const m = await funded('Field Shop', '10');
      const good = { requestId: rid(), currency: 'USDT', amount: '1', transferType: 'TO_MAIN' };
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ requestId: undefined }, '400100', /^requestId: is required$/],
        [{ requestId: '' }, '400100', /^requestId: must not be empty$/],
        [{ requestId: 'abc-def' }, '400101', /^requestId: must be 1-32 letters or digits$/],
        [{ requestId: 'a'.repeat(33) }, '400101', /^requestId: /],
        [{ requestId: null }, '400100', /^requestId: is required$/],
        [{ requestId: { a: 1 } }, '400100', /^requestId: /],
        [{ currency: undefined }, '400100', /^currency: is required$/],
        [{ currency: 'usdt' }, '400101', /^currency: must be upper-case letters and digits$/],
        [{ currency: 'XYZ' }, '400102', /^currency: is not a supported currency$/],
        [{ amount: undefined }, '400100', /^amount: is required$/],
        [{ amount: '' }, '400100', /^amount: /],
        [{ amount: 'ten' }, '400101', /^amount: must be a decimal number$/],
        [{ amount: '-1' }, '400101', /^amount: /],
        [{ amount: '0.000000001' }, '400101', /^amount: must have at most 8 decimal places$/],
        [{ amount: '0' }, '400102', /^amount: must be at least 0.00000001$/],
        [{ amount: '1000000000000000' }, '400102', /^amount: must be at most 999999999999999.99999999$/],
        [{ transferType: undefined }, '400100', /^transferType: is required$/],
        [{ transferType: 'TO_SPOT' }, '400102', /^transferType: must be one of TO_MAIN, TO_PAY$/],
        [{ transferType: 'to_main' }, '400102', /^transferType: /],
      ];
      const snap = await snap0(t);
      for (const [change, code, message] of cases) {
        const r = await m.client.post('/wallet/transfer', { ...good, ...change });
        assert.equal(r.json.code, code, `${JSON.stringify(change)}: ${r.text}`);
        assert.match(r.json.errorMessage, message, JSON.stringify(change));
      }
      for (const [body, code] of [
        [{}, '400100'],
        [{ tranId: '' }, '400100'],
        [{ tranId: 'x'.repeat(33) }, '400101'],
        [{ tranId: 12 }, '400202'], // a number arrives as its digits: a tranId that does not exist
      ] as const) {
        const r = await m.client.post('/wallet/transfer/query', body);
        assert.equal(r.json.code, code, r.text);
      }
      assert.deepEqual(await snap0(t), snap);
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 10, SPOT_WALLET: 0 });
    });

    test("query: unknown or another merchant's tranId → 400202 Transfer not found.", async () => {
      const m = await funded('Query Shop', '3');
      const other = await funded('Other Query Shop', '3');
      const requestId = rid();
      const r = await m.client.post('/wallet/transfer', {
        requestId,
        currency: 'USDT',
        amount: '1',
        transferType: 'TO_MAIN',
      });
      assert.equal(r.json.data.status, 'SUCCESS');
      const notFound = { status: 'FAIL', code: '400202', errorMessage: 'Transfer not found.' };
      assert.deepEqual((await m.client.post('/wallet/transfer/query', { tranId: 'nosuch1' })).json, notFound);
      assert.deepEqual((await other.client.post('/wallet/transfer/query', { tranId: requestId })).json, notFound);
      // tranId is the requestId exactly (case matters).
      assert.deepEqual(
        (await m.client.post('/wallet/transfer/query', { tranId: requestId.toLowerCase() })).json,
        notFound,
      );
    });

    test('feature walletTransfer off → 400203 on both endpoints, nothing moves; on again → works', async () => {
      const m = await funded('Gated Shop', '10');
      const off = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, {
        features: { walletTransfer: false },
      });
      assert.equal(off.status, 200, JSON.stringify(off.json));
      const snap = await snap0(t);
      const body = { requestId: rid(), currency: 'USDT', amount: '1', transferType: 'TO_MAIN' };
      const gated = {
        status: 'FAIL',
        code: '400203',
        errorMessage: 'Not support for this account, please check account status.',
      };
      assert.deepEqual((await m.client.post('/wallet/transfer', body)).json, gated);
      assert.deepEqual((await m.client.post('/wallet/transfer/query', { tranId: body.requestId })).json, gated);
      // Fields are checked first.
      assert.equal((await m.client.post('/wallet/transfer', { ...body, amount: 'x' })).json.code, '400101');
      assert.deepEqual(await snap0(t), snap);
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { walletTransfer: true } });
      assert.equal((await m.client.post('/wallet/transfer', body)).json.data.status, 'SUCCESS');
    });

    test(
      'TSP: INTERNAL_TRANSFER moves the merchant’s own funds; without the scope or from outside the IP list ' +
        '→ 400004',
      async () => {
        const m = await funded('TSP Transfer Shop', '20');
        const tspBefore = await wallets(tsp);
        const a = await authorize(t, tsp, m.merchantId, ['INTERNAL_TRANSFER', 'BALANCE']);
        const requestId = rid();
        const r = await tsp.client.post('/wallet/transfer', {
          [FIELD]: a.authorizationToken,
          requestId,
          currency: 'USDT',
          amount: '4',
          transferType: 'TO_MAIN',
        });
        assert.equal(r.json.data?.status, 'SUCCESS', r.text);
        assert.deepEqual(await wallets(m), { FUNDING_WALLET: 16, SPOT_WALLET: 4 });
        assert.deepEqual(await wallets(tsp), tspBefore, 'the TSP is never in the fund flow');
        const q = await tsp.client.post('/wallet/transfer/query', { [FIELD]: a.authorizationToken, tranId: requestId });
        assert.deepEqual(q.json.data, { tranId: requestId, status: 'SUCCESS' });
        // The transfer is the merchant's: the TSP's own account does not see it.
        assert.equal((await tsp.client.post('/wallet/transfer/query', { tranId: requestId })).json.code, '400202');
        const viaToken = await wallets(tsp, 'USDT', { [FIELD]: a.authorizationToken });
        assert.deepEqual(viaToken, { FUNDING_WALLET: 16, SPOT_WALLET: 4 });

        // One authorization per TSP and merchant at a time (a new one replaces the last): each refusal in turn.
        for (const [scopes, ips, message] of [
          [['CHECKOUT', 'BALANCE'], [], /^Scope INTERNAL_TRANSFER is not authorized\.$/],
          [['INTERNAL_TRANSFER'], ['10.1.2.3'], /^IP is not in the authorization whitelist\.$/],
        ] as const) {
          const token = (await authorize(t, tsp, m.merchantId, [...scopes], [...ips])).authorizationToken;
          const snap = await snap0(t);
          for (const [path, body] of [
            ['/wallet/transfer', { requestId: rid(), currency: 'USDT', amount: '1', transferType: 'TO_MAIN' }],
            ['/wallet/transfer/query', { tranId: requestId }],
          ] as const) {
            const x = await tsp.client.post(path, { [FIELD]: token, ...body });
            assert.equal(x.json.code, '400004', x.text);
            assert.match(x.json.errorMessage, message);
          }
          assert.deepEqual(await snap0(t), snap);
        }
        assert.deepEqual(await wallets(m), { FUNDING_WALLET: 16, SPOT_WALLET: 4 });
      },
    );

    test('race: 25 concurrent transfers of 1 from a balance of 10 → exactly 10 SUCCESS, never overdrawn', async () => {
      const m = await funded('Race Shop', '10');
      const results = await Promise.all(
        Array.from({ length: 25 }, () =>
          m.client.post('/wallet/transfer', {
            requestId: rid(),
            currency: 'USDT',
            amount: '1',
            transferType: 'TO_MAIN',
          }),
        ),
      );
      const statuses = results.map((r) => r.json.data?.status ?? r.text);
      assert.equal(statuses.filter((s) => s === 'SUCCESS').length, 10, JSON.stringify(statuses));
      assert.equal(statuses.filter((s) => s === 'FAILURE').length, 15, JSON.stringify(statuses));
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 0, SPOT_WALLET: 10 });
      // Both directions at once over the same funds: the sum stays 10 and no wallet goes below zero.
      const mixed = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          m.client.post('/wallet/transfer', {
            requestId: rid(),
            currency: 'USDT',
            amount: '2',
            transferType: i % 2 ? 'TO_MAIN' : 'TO_PAY',
          }),
        ),
      );
      assert.ok(mixed.every((r) => r.json.status === 'SUCCESS'));
      const w = await wallets(m);
      assert.equal(w.FUNDING_WALLET! + w.SPOT_WALLET!, 10);
      assert.ok(w.FUNDING_WALLET! >= 0 && w.SPOT_WALLET! >= 0);
    });

    test('race: 10 concurrent sends of one requestId → one move, every answer the same', async () => {
      const m = await funded('Twin Shop', '10');
      const body = { requestId: rid(), currency: 'USDT', amount: '3', transferType: 'TO_MAIN' };
      const results = await Promise.all(Array.from({ length: 10 }, () => m.client.post('/wallet/transfer', body)));
      for (const r of results) assert.deepEqual(r.json, results[0]!.json);
      assert.equal(results[0]!.json.data.status, 'SUCCESS');
      assert.deepEqual(await wallets(m), { FUNDING_WALLET: 7, SPOT_WALLET: 3 });
    });
  });
}
