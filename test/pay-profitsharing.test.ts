import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { createOutboxWorker } from '../src/platform/outbox/service.ts';
import { REFUND_TOPIC } from '../src/pay/refunds/service.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/** Profit sharing (binance-pay-extended.md §16): receivers, splits, returns, against a paid order's proceeds. */
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
type Payer = Awaited<ReturnType<typeof createPayer>>;
let seq = 0;
const key = (p = 'S') => `${p}${Date.now()}x${++seq}`;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);
const TAGGED = { orderTags: { ifProfitSharing: true } };

for (const kind of DB_KINDS) {
  describe(`Binance Pay profit sharing (${kind})`, () => {
    let t: TestApp;
    let tsp: Tsp;
    let buyer: Payer;

    before(async () => {
      t = await startTestApp({ kind });
      tsp = await createTsp(t);
      buyer = await createPayer(t, `ps-buyer-${kind}@example.com`, { USDT: '100000' });
    });
    afterEach(async () => {
      await assertAuditOk(t);
    });
    after(async () => {
      await tsp?.receiver.close();
      await t.close();
    });

    const newPayer = (name: string) => createPayer(t, `${name}-${kind}-${++seq}@example.com`, { USDT: '0' });
    const balance = async (ownerType: 'merchant' | 'payer', ownerId: string, asset = 'USDT') =>
      (await t.app.services.ledger.balance(t.db, { ownerType, ownerId, asset })).available;

    async function createOrder(m: Merchant, amount: string, extra: Record<string, unknown> = TAGGED) {
      const c = await m.client.post('/v3/order', v3Order({ orderAmount: amount, ...extra }));
      assert.equal(c.json.status, 'SUCCESS', c.text);
      return c.json.data.prepayId as string;
    }
    async function paidOrder(m: Merchant, amount: string, extra: Record<string, unknown> = TAGGED) {
      const prepayId = await createOrder(m, amount, extra);
      const p = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: buyer.email });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      return prepayId;
    }
    /** A merchant with `n` registered receivers. */
    async function shop(name: string, n = 1) {
      const m = await createMerchant(t, { name });
      const receivers: Payer[] = [];
      for (let i = 0; i < n; i++) {
        const p = await newPayer(name.replace(/\W/g, '').toLowerCase());
        const r = await m.client.post('/profitsharing/v1/add-receiver', { account: p.payerId });
        assert.deepEqual(r.json.data, { account: String(p.payerId) }, r.text);
        receivers.push(p);
      }
      return { m, receivers };
    }
    const split = (m: Merchant, prepayOrderId: string, list: { account: string; amount: string }[], id = key()) =>
      m.client.post('/profitsharing/v1/submit-split', {
        merchantRequestId: id,
        prepayOrderId,
        receiverList: list.map((r) => ({ description: 'Share of sale', ...r })),
      });

    test('receivers: add (idempotent), query in registration order with pages, delete; the refusals', async () => {
      const m = await createMerchant(t, { name: 'Receiver Shop' });
      const payers = [await newPayer('r1'), await newPayer('r2'), await newPayer('r3')];
      for (const p of payers) {
        const r = await m.client.post('/profitsharing/v1/add-receiver', { account: String(p.payerId) });
        assert.deepEqual(r.json, {
          status: 'SUCCESS',
          code: '000000',
          data: { account: String(p.payerId) },
          errorMessage: null,
        });
      }
      // Again (a number this time): the same success, still three.
      const again = await m.client.post('/profitsharing/v1/add-receiver', `{"account":${payers[0]!.payerId}}`);
      assert.deepEqual(again.json.data, { account: String(payers[0]!.payerId) });
      const page1 = await m.client.post('/profitsharing/v1/query-receiver', { pageNum: 1, pageSize: 2 });
      assert.deepEqual(page1.json.data, {
        accountList: [String(payers[0]!.payerId), String(payers[1]!.payerId)],
        totalPageNum: 2,
        totalRecordNum: 3,
        currentPageNum: 1,
        currentPageSize: 2,
      });
      const page2 = await m.client.post('/profitsharing/v1/query-receiver', { pageNum: 2, pageSize: 2 });
      assert.deepEqual(page2.json.data.accountList, [String(payers[2]!.payerId)]);
      const del = await m.client.post('/profitsharing/v1/del-receiver', { account: String(payers[1]!.payerId) });
      assert.deepEqual(del.json.data, { account: String(payers[1]!.payerId) });
      const after = await m.client.post('/profitsharing/v1/query-receiver', { pageNum: 1, pageSize: 20 });
      assert.deepEqual(after.json.data.accountList, [String(payers[0]!.payerId), String(payers[2]!.payerId)]);
      // Another merchant's list is its own.
      const other = await createMerchant(t, { name: 'Other Receiver Shop' });
      const o = await other.client.post('/profitsharing/v1/query-receiver', { pageNum: 1, pageSize: 20 });
      assert.deepEqual(o.json.data, {
        accountList: [],
        totalPageNum: 0,
        totalRecordNum: 0,
        currentPageNum: 1,
        currentPageSize: 20,
      });

      const cases: [string, unknown, string, RegExp][] = [
        ['/profitsharing/v1/add-receiver', { account: '9999999999999' }, '400601', /^account not found$/],
        ['/profitsharing/v1/add-receiver', { account: m.merchantId }, '400102', /own receiver/],
        ['/profitsharing/v1/add-receiver', {}, '400100', /^account: is required$/],
        ['/profitsharing/v1/add-receiver', { account: '' }, '400100', /^account: must not be empty$/],
        ['/profitsharing/v1/add-receiver', { account: 'abc' }, '400101', /^account: must be a Binance ID/],
        [
          '/profitsharing/v1/del-receiver',
          { account: String(payers[1]!.payerId) },
          '400102',
          /is not a registered receiver/,
        ],
        ['/profitsharing/v1/del-receiver', {}, '400100', /^account: is required$/],
        ['/profitsharing/v1/query-receiver', { pageSize: 10 }, '400100', /^pageNum: is required$/],
        ['/profitsharing/v1/query-receiver', { pageNum: 1 }, '400100', /^pageSize: is required$/],
        ['/profitsharing/v1/query-receiver', { pageNum: 0, pageSize: 10 }, '400102', /^pageNum: must be between/],
        ['/profitsharing/v1/query-receiver', { pageNum: 1, pageSize: 101 }, '400102', /^pageSize: must be between 1/],
        ['/profitsharing/v1/query-receiver', { pageNum: 1.5, pageSize: 10 }, '400101', /^pageNum: must be an integer/],
      ];
      const snap = await snap0(t);
      for (const [path, body, code, message] of cases) {
        const r = await m.client.post(path, body);
        assert.equal(r.json.code, code, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.match(r.json.errorMessage, message, `${path} ${JSON.stringify(body)}`);
      }
      assert.deepEqual(await snap0(t), snap);
    });

    test('split: moves each amount from the merchant to the receiver synchronously; the result exactly as published', async () => {
      const { m, receivers } = await shop('Split Shop', 2);
      const [a, b] = receivers.map((p) => String(p.payerId)) as [string, string];
      const prepayId = await paidOrder(m, '100');
      assert.equal(await balance('merchant', m.merchantId), '99', 'the order paid 100 less 1% commission');
      const now = t.clock.now();
      const merchantRequestId = key();
      const r = await m.client.post(
        '/profitsharing/v1/submit-split',
        `{"merchantRequestId":"${merchantRequestId}","prepayOrderId":${prepayId},"receiverList":[` +
          `{"account":"${a}","amount":9.99,"description":"A description."},` +
          `{"account":${b},"amount":"20","description":"Platform fee, 20/100","webhookUrl":"https://example.com/h"}]}`,
      );
      assert.equal(r.json.status, 'SUCCESS', r.text);
      const d = r.json.data;
      assert.match(d.splitOrderNo, /^\d{18}$/);
      assert.deepEqual(d, {
        splitOrderNo: d.splitOrderNo,
        merchantRequestId,
        prepayOrderId: prepayId,
        status: 2,
        receiverOrderDetails: [
          {
            account: a,
            amount: 9.99,
            failReason: '',
            detailId: d.receiverOrderDetails[0].detailId,
            status: 2,
            finishTime: Math.floor(now / 1000),
          },
          {
            account: b,
            amount: 20,
            failReason: '',
            detailId: d.receiverOrderDetails[1].detailId,
            status: 2,
            finishTime: Math.floor(now / 1000),
          },
        ],
      });
      for (const x of d.receiverOrderDetails) assert.match(x.detailId, /^\d{18}$/);
      assert.equal(await balance('merchant', m.merchantId), '69.01');
      assert.equal(await balance('payer', a), '9.99');
      assert.equal(await balance('payer', b), '20');

      // Query answers the same; a replay too (1 key order, amounts as other text); other parameters → 400102.
      const q = await m.client.post('/profitsharing/v1/query-split', { merchantRequestId, prepayOrderId: prepayId });
      assert.deepEqual(q.json, r.json);
      const replay = await m.client.post('/profitsharing/v1/submit-split', {
        receiverList: [
          { account: a, amount: '9.990', description: 'A description.' },
          { account: b, amount: 20, description: 'Platform fee, 20/100', webhookUrl: 'https://example.com/h' },
        ],
        prepayOrderId: prepayId,
        merchantRequestId,
      });
      assert.deepEqual(replay.json, r.json);
      const snap = await snap0(t);
      const reused = await split(m, prepayId, [{ account: a, amount: '9.98' }], merchantRequestId);
      assert.deepEqual(reused.json, {
        status: 'FAIL',
        code: '400102',
        errorMessage: `merchantRequestId ${merchantRequestId} was already used with different parameters.`,
      });
      assert.deepEqual(await snap0(t), snap);
      // Query refusals: unknown key, or the key with another order.
      const other = await paidOrder(m, '1');
      for (const body of [
        { merchantRequestId: 'nosuch', prepayOrderId: prepayId },
        { merchantRequestId, prepayOrderId: other },
      ]) {
        const x = await m.client.post('/profitsharing/v1/query-split', body);
        assert.deepEqual(x.json, { status: 'FAIL', code: '400202', errorMessage: 'Split order not found.' });
      }
    });

    test('Σ splits never exceed the order’s proceeds less refunds; a FAIL detail (merchant short) does not count', async () => {
      const { m, receivers } = await shop('Cap Shop', 1);
      const a = String(receivers[0]!.payerId);
      const prepayId = await paidOrder(m, '50');
      // Proceeds 49.5: 40 then 9.5 fit, one more cent does not.
      assert.equal((await split(m, prepayId, [{ account: a, amount: '40' }])).json.data.status, 2);
      const snap = await snap0(t);
      const over = await split(m, prepayId, [{ account: a, amount: '9.50000001' }]);
      assert.deepEqual(over.json, {
        status: 'FAIL',
        code: '400102',
        errorMessage: 'Split amount exceeds the splittable amount.',
      });
      assert.deepEqual(await snap0(t), snap);
      // A refund in flight or done lowers what can be split.
      const refund = await m.client.post('/order/refund', {
        refundRequestId: key('R'),
        prepayId,
        refundAmount: '5',
      });
      assert.equal(refund.json.status, 'SUCCESS', refund.text);
      assert.equal((await split(m, prepayId, [{ account: a, amount: '4.5' }])).json.data.status, 2);
      assert.equal((await split(m, prepayId, [{ account: a, amount: '0.00000001' }])).json.code, '400102');
      const worker = createOutboxWorker({
        db: t.db,
        clock: t.clock,
        handlers: { [REFUND_TOPIC]: t.app.services.refunds.handler },
      });
      while ((await worker.runOnce()) > 0);
      assert.equal((await split(m, prepayId, [{ account: a, amount: '0.00000001' }])).json.code, '400102');

      // Merchant short (its money moved away): the detail FAILs, nothing moves, and it leaves the cap untouched.
      const second = await paidOrder(m, '10'); // proceeds 9.9
      const merchantHas = await balance('merchant', m.merchantId);
      const tr = await m.client.post('/wallet/transfer', {
        requestId: key('W'),
        currency: 'USDT',
        amount: merchantHas,
        transferType: 'TO_MAIN',
      });
      assert.equal(tr.json.data.status, 'SUCCESS', tr.text);
      const failed = await split(m, second, [{ account: a, amount: '9.9' }]);
      assert.equal(failed.json.data.status, 2);
      assert.deepEqual(
        failed.json.data.receiverOrderDetails.map((d: any) => [d.status, d.failReason]),
        [[3, 'Insufficient balance']],
      );
      assert.equal(await balance('payer', a), '44.5');
      await m.client.post('/wallet/transfer', {
        requestId: key('W'),
        currency: 'USDT',
        amount: merchantHas,
        transferType: 'TO_PAY',
      });
      const ok = await split(m, second, [{ account: a, amount: '9.9' }]);
      assert.deepEqual(
        ok.json.data.receiverOrderDetails.map((d: any) => d.status),
        [2],
        ok.text,
      );
      assert.equal(await balance('payer', a), '54.4');
    });

    test('split refusals: order unknown, foreign, untagged, not paid (each status), unregistered receiver; nothing changes', async () => {
      const { m, receivers } = await shop('Refusal Shop', 1);
      const a = String(receivers[0]!.payerId);
      const { m: other } = await shop('Foreign Shop', 0);
      const foreign = await paidOrder(other, '10');
      const untagged = await paidOrder(m, '10', {});
      const tagFalse = await paidOrder(m, '10', { orderTags: { ifProfitSharing: false } });
      const initial = await createOrder(m, '10');
      const canceled = await createOrder(m, '10');
      assert.equal((await m.client.post('/order/close', { prepayId: canceled })).json.status, 'SUCCESS');
      const expired = await createOrder(m, '10');
      t.clock.advance!(2 * 3_600_000);
      await t.app.services.orders.expireDue();
      const full = await paidOrder(m, '10');
      const refund = await m.client.post('/order/refund', {
        refundRequestId: key('R'),
        prepayId: full,
        refundAmount: '10',
      });
      assert.equal(refund.json.status, 'SUCCESS', refund.text);
      const worker = createOutboxWorker({
        db: t.db,
        clock: t.clock,
        handlers: { [REFUND_TOPIC]: t.app.services.refunds.handler },
      });
      while ((await worker.runOnce()) > 0);
      const good = await paidOrder(m, '10');
      const cases: [string, { account: string; amount: string }[], string, RegExp][] = [
        ['999999999999999999', [{ account: a, amount: '1' }], '400202', /^Order not found\.$/],
        [foreign, [{ account: a, amount: '1' }], '400202', /^Order not found\.$/],
        [untagged, [{ account: a, amount: '1' }], '400102', /^Order is not tagged for profit sharing\.$/],
        [tagFalse, [{ account: a, amount: '1' }], '400102', /^Order is not tagged for profit sharing\.$/],
        [initial, [{ account: a, amount: '1' }], '400204', /^Order status is not valid for this operation\.$/],
        [canceled, [{ account: a, amount: '1' }], '400204', /status/],
        [expired, [{ account: a, amount: '1' }], '400204', /status/],
        [full, [{ account: a, amount: '1' }], '400204', /status/],
        [
          good,
          [{ account: '1234567890123', amount: '1' }],
          '400102',
          /receiverList\[0\]\.account 1234567890123 is not a registered/,
        ],
        [
          good,
          [
            { account: a, amount: '1' },
            { account: '42', amount: '1' },
          ],
          '400102',
          /receiverList\[1\]/,
        ],
      ];
      const snap = await snap0(t);
      for (const [prepayId, list, code, message] of cases) {
        const r = await split(m, prepayId, list);
        assert.equal(r.json.code, code, `${prepayId}: ${r.text}`);
        assert.match(r.json.errorMessage, message);
      }
      assert.deepEqual(await snap0(t), snap);
    });

    test('every field rule of submit-split, query-split and return answers its code and changes nothing', async () => {
      const { m, receivers } = await shop('Field Split Shop', 1);
      const a = String(receivers[0]!.payerId);
      const prepayOrderId = await paidOrder(m, '10');
      const good = {
        merchantRequestId: key(),
        prepayOrderId,
        receiverList: [{ account: a, amount: '1', description: 'ok' }],
      };
      const item = (change: Record<string, unknown>) => ({ receiverList: [{ ...good.receiverList[0], ...change }] });
      const splitCases: [Record<string, unknown>, string, RegExp][] = [
        [{ merchantRequestId: undefined }, '400100', /^merchantRequestId: is required$/],
        [{ merchantRequestId: '' }, '400100', /^merchantRequestId: must not be empty$/],
        [{ merchantRequestId: 'x'.repeat(33) }, '400101', /^merchantRequestId: must be at most 32/],
        [{ prepayOrderId: undefined }, '400100', /^prepayOrderId: is required$/],
        [{ prepayOrderId: 'abc' }, '400101', /^prepayOrderId: must be an integer$/],
        [{ receiverList: undefined }, '400100', /^receiverList: is required$/],
        [{ receiverList: [] }, '400100', /^receiverList: must not be empty$/],
        [{ receiverList: Array.from({ length: 101 }, () => good.receiverList[0]) }, '400101', /at most 100 receivers/],
        [item({ account: undefined }), '400100', /^receiverList\[0\]\.account: is required$/],
        [item({ amount: undefined }), '400100', /^receiverList\[0\]\.amount: is required$/],
        [item({ amount: '0' }), '400102', /^receiverList\[0\]\.amount: must be at least/],
        [item({ amount: '1.123456789' }), '400101', /at most 8 decimal places/],
        [item({ amount: 'x' }), '400101', /must be a decimal number/],
        [item({ description: undefined }), '400100', /^receiverList\[0\]\.description: is required$/],
        [item({ description: '' }), '400100', /description: must not be empty/],
        [item({ description: 'x'.repeat(129) }), '400101', /description: must be at most 128/],
        [item({ description: 'no! way' }), '400103', /description: may only contain/],
        [item({ description: 'a-b' }), '400103', /description: may only contain/],
        [item({ webhookUrl: 'ftp://x' }), '400101', /webhookUrl: must be an http\(s\) URL/],
        [item({ webhookUrl: `https://e.com/${'x'.repeat(250)}` }), '400101', /webhookUrl: must be at most 256/],
      ];
      const returnGood = {
        prepayOrderId,
        splitOrderNo: '123456789012345678',
        merchantReturnNo: key('N'),
        transferOutAccount: a,
        returnAmount: '1',
      };
      const returnCases: [Record<string, unknown>, string, RegExp][] = [
        [{ prepayOrderId: undefined }, '400100', /^prepayOrderId: is required$/],
        [{ splitOrderNo: undefined }, '400100', /^splitOrderNo: splitOrderNo or originMerchantRequestId is required$/],
        [{ merchantReturnNo: undefined }, '400100', /^merchantReturnNo: is required$/],
        [{ merchantReturnNo: 'x'.repeat(33) }, '400101', /^merchantReturnNo: /],
        [{ transferOutAccount: undefined }, '400100', /^transferOutAccount: is required$/],
        [{ returnAmount: undefined }, '400100', /^returnAmount: is required$/],
        [{ returnAmount: '0' }, '400102', /^returnAmount: must be at least/],
        [{ description: 'x'.repeat(129) }, '400101', /^description: must be at most 128/],
        [{ webhookUrl: 'nope' }, '400101', /^webhookUrl: /],
        [{}, '400202', /^Split order not found\.$/],
        [{ splitOrderNo: undefined, originMerchantRequestId: 'nosuch' }, '400202', /^Split order not found\.$/],
      ];
      const snap = await snap0(t);
      for (const [change, code, message] of splitCases) {
        const r = await m.client.post('/profitsharing/v1/submit-split', { ...good, ...change });
        assert.equal(r.json.code, code, `${JSON.stringify(change).slice(0, 200)}: ${r.text}`);
        assert.match(r.json.errorMessage, message, JSON.stringify(change).slice(0, 200));
      }
      for (const [body, code] of [
        [{ prepayOrderId }, '400100'],
        [{ merchantRequestId: 'x' }, '400100'],
        [{ merchantRequestId: 'x'.repeat(33), prepayOrderId }, '400101'],
      ] as const) {
        assert.equal((await m.client.post('/profitsharing/v1/query-split', body)).json.code, code);
      }
      for (const [change, code, message] of returnCases) {
        const r = await m.client.post('/profitsharing/v1/return', { ...returnGood, ...change });
        assert.equal(r.json.code, code, `${JSON.stringify(change)}: ${r.text}`);
        assert.match(r.json.errorMessage, message, JSON.stringify(change));
      }
      assert.deepEqual(await snap0(t), snap);
    });

    test('return: pulls split money back, never more than was split to that account; receiver short → status 3', async () => {
      const { m, receivers } = await shop('Return Shop', 2);
      const [a, b] = receivers.map((p) => String(p.payerId)) as [string, string];
      const prepayOrderId = await paidOrder(m, '100');
      const merchantRequestId = key();
      const s = await split(
        m,
        prepayOrderId,
        [
          { account: a, amount: '10' },
          { account: b, amount: '5' },
        ],
        merchantRequestId,
      );
      const splitOrderNo = s.json.data.splitOrderNo;
      const now = t.clock.now();
      const merchantReturnNo = key('N');
      const r = await m.client.post('/profitsharing/v1/return', {
        prepayOrderId,
        splitOrderNo,
        merchantReturnNo,
        transferOutAccount: a,
        returnAmount: '4',
        description: 'Customer returned goods',
      });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.match(r.json.data.returnOrderNo, /^\d{18}$/);
      assert.deepEqual(r.json.data, {
        prepayOrderId,
        splitOrderNo,
        originMerchantRequestId: merchantRequestId,
        merchantReturnNo,
        transferOutAccount: a,
        returnAmount: 4,
        returnOrderNo: r.json.data.returnOrderNo,
        status: 2,
        finishTime: Math.floor(now / 1000),
      });
      assert.equal(await balance('payer', a), '6');
      assert.equal(await balance('merchant', m.merchantId), '88');
      // Same key same params → same answer; other params → 400102.
      const same = await m.client.post('/profitsharing/v1/return', {
        prepayOrderId,
        splitOrderNo,
        merchantReturnNo,
        transferOutAccount: a,
        returnAmount: 4.0,
        description: 'Customer returned goods',
      });
      assert.deepEqual(same.json, r.json);
      const reused = await m.client.post('/profitsharing/v1/return', {
        prepayOrderId,
        splitOrderNo,
        merchantReturnNo,
        transferOutAccount: a,
        returnAmount: '3',
      });
      assert.equal(reused.json.code, '400102');
      assert.match(reused.json.errorMessage, /^merchantReturnNo .* was already used with different parameters\.$/);
      // By originMerchantRequestId: 6 left to a; 6.00000001 is too much, 6 is fine.
      const by = (amount: string, account = a) =>
        m.client.post('/profitsharing/v1/return', {
          prepayOrderId,
          originMerchantRequestId: merchantRequestId,
          merchantReturnNo: key('N'),
          transferOutAccount: account,
          returnAmount: amount,
        });
      const snap = await snap0(t);
      const over = await by('6.00000001');
      assert.equal(over.json.code, '400102', over.text);
      assert.match(over.json.errorMessage, /returnAmount exceeds/);
      assert.deepEqual(await snap0(t), snap);
      assert.equal((await by('6')).json.data.status, 2);
      assert.equal((await by('0.00000001')).json.code, '400102');
      // Receiver b spent its 5 elsewhere: its return FAILs, nothing moves, and the 5 stay returnable.
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-spend:${b}`,
          debit: { ownerType: 'payer', ownerId: b, asset: 'USDT' },
          credit: { ownerType: 'payer', ownerId: String(buyer.payerId), asset: 'USDT' },
          amount: '5',
          kind: 'test.spend',
        }),
      );
      const short = await by('5', b);
      assert.equal(short.json.data.status, 3, short.text);
      assert.equal(short.json.data.failReason, 'Insufficient balance');
      assert.equal(await balance('merchant', m.merchantId), '94');
      // A receiver that got nothing from this split has nothing to return.
      const c = (await newPayer('c')).payerId;
      await m.client.post('/profitsharing/v1/add-receiver', { account: c });
      assert.equal((await by('1', String(c))).json.code, '400102');
      // Both identifiers must name the same split.
      const mismatch = await m.client.post('/profitsharing/v1/return', {
        prepayOrderId,
        splitOrderNo,
        originMerchantRequestId: 'other',
        merchantReturnNo: key('N'),
        transferOutAccount: b,
        returnAmount: '1',
      });
      assert.equal(mismatch.json.code, '400202');
    });

    test('race: 12 concurrent splits of 10 from proceeds of 99 → 9 succeed; 8 concurrent returns of 3 from 10 → 3', async () => {
      const { m, receivers } = await shop('Race Split Shop', 1);
      const a = String(receivers[0]!.payerId);
      const prepayId = await paidOrder(m, '100');
      const results = await Promise.all(
        Array.from({ length: 12 }, () => split(m, prepayId, [{ account: a, amount: '10' }])),
      );
      const codes = results.map((r) => r.json.code);
      assert.equal(codes.filter((c) => c === '000000').length, 9, JSON.stringify(codes));
      assert.equal(codes.filter((c) => c === '400102').length, 3);
      assert.equal(await balance('payer', a), '90');
      assert.equal(await balance('merchant', m.merchantId), '9');

      const first = results.find((r) => r.json.code === '000000')!.json.data;
      const returns = await Promise.all(
        Array.from({ length: 8 }, () =>
          m.client.post('/profitsharing/v1/return', {
            prepayOrderId: prepayId,
            splitOrderNo: first.splitOrderNo,
            merchantReturnNo: key('N'),
            transferOutAccount: a,
            returnAmount: '3',
          }),
        ),
      );
      const ok = returns.filter((r) => r.json.data?.status === 2).length;
      assert.equal(ok, 3, JSON.stringify(returns.map((r) => r.json.code)));
      assert.equal(await balance('payer', a), '81');

      // One key sent 8 times at once: one split, every answer the same.
      const id = key();
      const order2 = await paidOrder(m, '10');
      const twins = await Promise.all(
        Array.from({ length: 8 }, () => split(m, order2, [{ account: a, amount: '1' }], id)),
      );
      for (const r of twins) assert.deepEqual(r.json, twins[0]!.json);
      assert.equal(await balance('payer', a), '82');
    });

    test('feature profitSharing off → 400203 on every endpoint; TSP: CHECKOUT acts for the merchant, else 400004', async () => {
      const { m, receivers } = await shop('Gated Split Shop', 1);
      const a = String(receivers[0]!.payerId);
      const prepayOrderId = await paidOrder(m, '10');
      const bodies: [string, Record<string, unknown>][] = [
        ['/profitsharing/v1/add-receiver', { account: a }],
        ['/profitsharing/v1/query-receiver', { pageNum: 1, pageSize: 10 }],
        ['/profitsharing/v1/del-receiver', { account: a }],
        [
          '/profitsharing/v1/submit-split',
          { merchantRequestId: key(), prepayOrderId, receiverList: [{ account: a, amount: '1', description: 'x' }] },
        ],
        ['/profitsharing/v1/query-split', { merchantRequestId: 'x', prepayOrderId }],
        [
          '/profitsharing/v1/return',
          { prepayOrderId, splitOrderNo: '1', merchantReturnNo: 'x', transferOutAccount: a, returnAmount: '1' },
        ],
      ];
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { profitSharing: false } });
      const snap = await snap0(t);
      for (const [path, body] of bodies) {
        assert.deepEqual(
          (await m.client.post(path, body)).json,
          {
            status: 'FAIL',
            code: '400203',
            errorMessage: 'Not support for this account, please check account status.',
          },
          path,
        );
      }
      // Tagging an order needs the feature too (§9.1); an untagged or false-tagged order does not.
      const tagged = await m.client.post('/v3/order', v3Order(TAGGED));
      assert.deepEqual(tagged.json, {
        status: 'FAIL',
        code: '400203',
        errorMessage: 'orderTags.ifProfitSharing: profit sharing is not enabled for this account.',
      });
      assert.deepEqual(await snap0(t), snap);
      for (const extra of [{}, { orderTags: { ifProfitSharing: false } }, { orderTags: {} }]) {
        const r = await m.client.post('/v3/order', v3Order(extra));
        assert.equal(r.json.status, 'SUCCESS', r.text);
      }
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { profitSharing: true } });
      for (const [orderTags, message] of [
        ['yes', /^orderTags: must be an object$/],
        [[true], /^orderTags: must be an object$/],
        [{ ifProfitSharing: 'true' }, /^orderTags.ifProfitSharing: must be a boolean$/],
        [{ ifProfitSharing: 1 }, /^orderTags.ifProfitSharing: must be a boolean$/],
      ] as const) {
        const s1 = await snap0(t);
        const r = await m.client.post('/v3/order', v3Order({ orderTags }));
        assert.equal(r.json.code, '400101', r.text);
        assert.match(r.json.errorMessage, message);
        assert.deepEqual(await snap0(t), s1);
      }

      const token = (await authorize(t, tsp, m.merchantId, ['CHECKOUT'])).authorizationToken;
      const viaTsp = await tsp.client.post('/profitsharing/v1/submit-split', {
        [FIELD]: token,
        merchantRequestId: key(),
        prepayOrderId,
        receiverList: [{ account: a, amount: '2', description: 'via TSP' }],
      });
      assert.equal(viaTsp.json.data?.status, 2, viaTsp.text);
      assert.equal(await balance('payer', a), '2');
      const list = await tsp.client.post('/profitsharing/v1/query-receiver', {
        [FIELD]: token,
        pageNum: 1,
        pageSize: 10,
      });
      assert.deepEqual(list.json.data.accountList, [a]);
      for (const [scopes, ips, message] of [
        [['CONVERT', 'BALANCE'], [], /^Scope CHECKOUT is not authorized\.$/],
        [['CHECKOUT'], ['10.1.2.3'], /^IP is not in the authorization whitelist\.$/],
      ] as const) {
        const tk = (await authorize(t, tsp, m.merchantId, [...scopes], [...ips])).authorizationToken;
        const s = await snap0(t);
        for (const [path, body] of bodies) {
          const r = await tsp.client.post(path, { [FIELD]: tk, ...body });
          assert.equal(r.json.code, '400004', `${path}: ${r.text}`);
          assert.match(r.json.errorMessage, message);
        }
        assert.deepEqual(await snap0(t), s);
      }
    });
  });
}
