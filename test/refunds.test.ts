import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { REFUND_TOPIC } from '../src/pay/refunds/service.ts';
import { Decimal } from '../src/platform/money.ts';
import { createOutboxWorker } from '../src/platform/outbox/service.ts';
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

type Merchant = Awaited<ReturnType<typeof createMerchant>>;
let seq = 0;
const rid = () => `R-${Date.now()}_${++seq}`;

for (const kind of DB_KINDS) {
  describe(`Binance Pay refunds (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let payer: { payerId: string; email: string };

    before(async () => {
      t = await startTestApp({ kind });
      m = await createMerchant(t, { name: 'Refund Shop' });
      payer = await createPayer(t, `refund-payer-${kind}@example.com`, { USDT: '100000', BNB: '1000' });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    /** Only the refund topic, so these tests never depend on webhook delivery. */
    async function settle() {
      const worker = createOutboxWorker({
        db: t.db,
        clock: t.clock,
        handlers: { [REFUND_TOPIC]: t.app.services.refunds.handler },
      });
      let total = 0;
      for (let n = await worker.runOnce(); n > 0; n = await worker.runOnce()) total += n;
      return total;
    }

    async function paidOrder(
      merchant: Merchant,
      amount: string,
      extra: Record<string, unknown> = {},
      payCurrency?: string,
    ) {
      const c = await merchant.client.post('/v3/order', v3Order({ orderAmount: amount, ...extra }));
      assert.equal(c.json.status, 'SUCCESS', c.text);
      const p = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, {
        payerEmail: payer.email,
        currency: payCurrency,
      });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      return c.json.data.prepayId as string;
    }

    const merchantBalance = (merchant: Merchant, asset = 'USDT') =>
      t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: merchant.merchantId, asset });
    const payerBalance = (asset = 'USDT') =>
      t.app.services.ledger.balance(t.db, { ownerType: 'payer', ownerId: payer.payerId, asset });
    const orderStatus = async (merchant: Merchant, prepayId: string) =>
      (await merchant.client.post('/v2/order/query', { prepayId })).json.data.status;
    const refundEvents = async (prepayId: string) =>
      (
        await t.db.query(
          `SELECT payload FROM outbox WHERE topic = 'webhook' AND payload->>'bizType' = 'PAY_REFUND'
            AND payload->>'bizId' = $1 ORDER BY id`,
          [prepayId],
        )
      ).rows.map((r) => r.payload);

    /** A merchant with `extra` USDT of spare balance beyond what its orders bring (so full refunds are affordable). */
    async function fundedMerchant(name: string, extra = '1000') {
      const merchant = await createMerchant(t, { name });
      await paidOrder(merchant, extra);
      return merchant;
    }

    describe('creating a refund', () => {
      test(
        'partial refund: exact RefundResult, hold on the merchant, REFUND_PENDING → REFUND_SUCCESS, amounts ' +
          'lossless',
        async () => {
          const prepayId = await paidOrder(m, '100');
          const order = (await m.client.post('/v2/order/query', { prepayId })).json.data;
          const merchantBefore = await merchantBalance(m);
          const payerBefore = await payerBalance();
          const refundRequestId = rid();
          // Sent as a JSON number literal: parsed from the raw text, never through a double.
          const r = await m.client.post(
            '/order/refund',
            `{"refundRequestId":"${refundRequestId}","prepayId":"${prepayId}","refundAmount":10.12345678}`,
          );
          assert.equal(r.json.status, 'SUCCESS', r.text);
          const d = r.json.data;
          assert.equal(typeof d.refundId, 'number');
          assert.ok(d.refundId > 2 ** 52 && d.refundId < 2 ** 53);
          assert.match(r.text, /"refundId":\d{16},/);
          assert.deepEqual(
            { ...d, refundId: 0 },
            {
              refundId: 0,
              refundRequestId,
              prepayId,
              orderAmount: '100.00000000',
              refundedAmount: '10.12345678',
              refundAmount: '10.12345678',
              remainingAttempts: 9,
              payerOpenId: order.openUserId,
              duplicateRequest: 'N',
            },
          );
          assert.equal(r.json.errorMessage, null);
          assert.equal(await orderStatus(m, prepayId), 'REFUNDING');
          // Reserved, not yet moved: balance v2 shows it as freeze.
          const held = await merchantBalance(m);
          assert.equal(held.held, '10.12345678');
          assert.equal(held.posted, merchantBefore.posted);
          const bal = await m.client.post('/v2/balance', { wallet: 'FUNDING_WALLET', currency: 'USDT' });
          assert.match(bal.text, /"freeze":10\.12345678/);
          const pending = await m.client.post('/order/refund/query', { refundRequestId });
          assert.equal(pending.json.status, 'SUCCESS', pending.text);
          assert.equal(pending.json.data.refundStatus, 'REFUND_PENDING');
          assert.equal(pending.json.data.duplicateRequest, undefined);
          assert.equal(pending.json.data.refundId, d.refundId);

          // Through the app's own outbox worker: shows the handler is registered in buildApp.
          await t.app.outboxWorker.runOnce();
          const done = await m.client.post('/order/refund/query', { refundRequestId });
          assert.equal(done.json.data.refundStatus, 'REFUND_SUCCESS');
          assert.equal(await orderStatus(m, prepayId), 'REFUNDED');
          const after = await merchantBalance(m);
          assert.equal(after.held, '0');
          assert.equal(new Decimal(merchantBefore.posted).minus(after.posted).toFixed(), '10.12345678');
          assert.equal(new Decimal((await payerBalance()).posted).minus(payerBefore.posted).toFixed(), '10.12345678');
          await assertAuditOk(t);
        },
      );

      test(
        'repeated partial refunds up to the order amount: PAID, REFUNDING and REFUNDED accept; FULL_REFUNDED and ' +
          'unpaid are 400204',
        async () => {
          const merchant = await fundedMerchant('Repeat Shop');
          const prepayId = await paidOrder(merchant, '30');
          const a = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId,
            refundAmount: '10',
          }); // PAID
          assert.equal(a.json.data.remainingAttempts, 9);
          // REFUNDING
          const b = await merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: 5 });
          assert.equal(b.json.status, 'SUCCESS', b.text);
          assert.equal(b.json.data.refundedAmount, '15.00000000');
          assert.equal(b.json.data.remainingAttempts, 8);
          await settle();
          assert.equal(await orderStatus(merchant, prepayId), 'REFUNDED');
          const c = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId,
            refundAmount: '15',
          }); // REFUNDED
          assert.equal(c.json.data.refundedAmount, '30.00000000');
          await settle();
          assert.equal(await orderStatus(merchant, prepayId), 'FULL_REFUNDED');
          const v1 = await merchant.client.post('/order/query', { merchantId: merchant.merchantId, prepayId });
          assert.equal(v1.json.data.status, 'REFUNDED');

          const before = await snapshot(t.db);
          const full = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId,
            refundAmount: '1',
          });
          assert.equal(full.json.code, '400204');
          const unpaid = await merchant.client.post('/v3/order', v3Order({ orderAmount: '5' }));
          const before2 = await snapshot(t.db);
          const initial = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId: unpaid.json.data.prepayId,
            refundAmount: '1',
          });
          assert.deepEqual(initial.json, {
            status: 'FAIL',
            code: '400204',
            errorMessage: 'Order status is not valid for this operation.',
          });
          assert.deepEqual(await snapshot(t.db), before2);
          assert.notDeepEqual(before, before2); // the unpaid order itself was created in between
        },
      );

      test(
        'refundRequestId idempotency: replay gives the stored result with duplicateRequest Y; different ' +
          'parameters 400102; no attempt used',
        async () => {
          const prepayId = await paidOrder(m, '50');
          const other = await paidOrder(m, '50');
          const refundRequestId = rid();
          const first = await m.client.post('/order/refund', {
            refundRequestId,
            prepayId,
            refundAmount: '5',
            refundReason: 'damaged',
          });
          assert.equal(first.json.data.duplicateRequest, 'N');
          const snap = await snapshot(t.db);
          const held = await merchantBalance(m);
          // Same request again (the amount written differently but equal): stored result, nothing executes.
          const again = await m.client.post('/order/refund', { refundRequestId, prepayId, refundAmount: 5.0 });
          assert.equal(again.json.status, 'SUCCESS', again.text);
          assert.deepEqual(again.json.data, { ...first.json.data, duplicateRequest: 'Y' });
          assert.deepEqual(await snapshot(t.db), snap);
          assert.deepEqual(await merchantBalance(m), held);
          for (const body of [
            { refundRequestId, prepayId, refundAmount: '6' },
            { refundRequestId, prepayId: other, refundAmount: '5' },
          ]) {
            const diff = await m.client.post('/order/refund', body);
            assert.deepEqual(diff.json, {
              status: 'FAIL',
              code: '400102',
              errorMessage: 'refundRequestId was already used with different parameters.',
            });
            assert.deepEqual(await snapshot(t.db), snap);
          }
          // The replay was not an attempt: the next refund is the second one.
          const next = await m.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '1' });
          assert.equal(next.json.data.remainingAttempts, 8);
          await settle();
          // After completion the replay still answers the result stored at acceptance.
          const late = await m.client.post('/order/refund', { refundRequestId, prepayId, refundAmount: '5' });
          assert.deepEqual(late.json.data, { ...first.json.data, duplicateRequest: 'Y' });
          // Another merchant may use the same refundRequestId for its own order.
          const m2 = await fundedMerchant('Same Key Shop');
          const own = await paidOrder(m2, '10');
          const theirs = await m2.client.post('/order/refund', { refundRequestId, prepayId: own, refundAmount: '1' });
          assert.equal(theirs.json.data.duplicateRequest, 'N');
          await settle();
        },
      );
    });
    describe('refusals and their codes', () => {
      test("400301: unknown, malformed and other merchants' prepayId; the database is unchanged", async () => {
        const m2 = await createMerchant(t, { name: 'Other Shop' });
        const foreign = await paidOrder(m2, '10');
        const snap = await snapshot(t.db);
        for (const prepayId of ['123456789012345678', foreign, 'abc', '9999999999999999999']) {
          const r = await m.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '1' });
          assert.deepEqual(r.json, { status: 'FAIL', code: '400301', errorMessage: 'Invalid prepayId.' }, prepayId);
        }
        assert.deepEqual(await snapshot(t.db), snap);
        const ownerOk = await m2.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId: foreign,
          refundAmount: '1',
        });
        assert.equal(ownerOk.json.status, 'SUCCESS', ownerOk.text);
        await settle();
      });

      test('field validation codes', async () => {
        const prepayId = await paidOrder(m, '10');
        const snap = await snapshot(t.db);
        const cases: [Record<string, unknown>, string][] = [
          [{ prepayId, refundAmount: '1' }, '400100'],
          [{ refundRequestId: 'a b', prepayId, refundAmount: '1' }, '400101'],
          [{ refundRequestId: 'x'.repeat(65), prepayId, refundAmount: '1' }, '400101'],
          [{ refundRequestId: rid(), refundAmount: '1' }, '400100'],
          [{ refundRequestId: rid(), prepayId: '12345678901234567890', refundAmount: '1' }, '400101'],
          [{ refundRequestId: rid(), prepayId }, '400100'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '0' }, '400102'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '1.123456789' }, '400101'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '-1' }, '400101'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '1', refundReason: 'bad "quote"' }, '400103'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '1', refundReason: 'x'.repeat(257) }, '400101'],
          [{ refundRequestId: rid(), prepayId, refundAmount: '1', webhookUrl: 'ftp://x.example/hook' }, '400101'],
        ];
        for (const [body, code] of cases) {
          const r = await m.client.post('/order/refund', body);
          assert.equal(r.json.code, code, `${JSON.stringify(body)} → ${r.text}`);
        }
        assert.equal((await m.client.post('/order/refund/query', {})).json.code, '400100');
        assert.equal(
          (await m.client.post('/order/refund/query', { refundRequestId: 'no spaces allowed' })).json.code,
          '400101',
        );
        assert.deepEqual(await snapshot(t.db), snap);
        const ok = await m.client.post('/order/refund', {
          refundRequestId: 'Ab_9-' + seq++,
          prepayId,
          refundAmount: '1',
          refundReason: 'size',
          webhookUrl: 'https://shop.example/refunds',
        });
        assert.equal(ok.json.status, 'SUCCESS', ok.text);
        await settle();
      });

      test("query refund: unknown or another merchant's refundRequestId is 400202 Refund not found.", async () => {
        const prepayId = await paidOrder(m, '10');
        const refundRequestId = rid();
        await m.client.post('/order/refund', { refundRequestId, prepayId, refundAmount: '2' });
        const m2 = await createMerchant(t, { name: 'Nosy Shop' });
        for (const [client, id] of [
          [m.client, rid()],
          [m2.client, refundRequestId],
        ] as const) {
          const r = await client.post('/order/refund/query', { refundRequestId: id });
          assert.deepEqual(r.json, { status: 'FAIL', code: '400202', errorMessage: 'Refund not found.' });
        }
        const own = await m.client.post('/order/refund/query', { refundRequestId });
        assert.equal(own.json.data.refundAmount, '2.00000000');
        await settle();
      });

      test('400303: amount above orderAmount − succeeded − pending; exactly the remainder is accepted', async () => {
        const merchant = await fundedMerchant('Amount Shop');
        const prepayId = await paidOrder(merchant, '100');
        const over = await merchant.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId,
          refundAmount: '100.00000001',
        });
        assert.deepEqual(over.json, {
          status: 'FAIL',
          code: '400303',
          errorMessage: 'Refund amount greater than remaining amount.',
        });
        await merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '60' });
        const snap = await snapshot(t.db);
        const pendingCounted = await merchant.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId,
          refundAmount: '40.00000001',
        });
        assert.equal(pendingCounted.json.code, '400303');
        assert.deepEqual(await snapshot(t.db), snap);
        await settle();
        const succeededCounted = await merchant.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId,
          refundAmount: '40.00000001',
        });
        assert.equal(succeededCounted.json.code, '400303');
        const exact = await merchant.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId,
          refundAmount: '40',
        });
        assert.equal(exact.json.data.refundedAmount, '100.00000000');
        await settle();
        assert.equal(await orderStatus(merchant, prepayId), 'FULL_REFUNDED');
      });

      test('400304: a merchant without enough balance is refused and nothing moves', async () => {
        const poor = await createMerchant(t, { name: 'Poor Shop' });
        const prepayId = await paidOrder(poor, '10'); // credited 9.90 net of the 1 % commission
        const balBefore = await merchantBalance(poor);
        assert.equal(balBefore.available, '9.9');
        const snap = await snapshot(t.db);
        const r = await poor.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '10' });
        assert.deepEqual(r.json, {
          status: 'FAIL',
          code: '400304',
          errorMessage: 'Merchant balance not enough to refund.',
        });
        assert.deepEqual(await snapshot(t.db), snap);
        assert.deepEqual(await merchantBalance(poor), balBefore);
        assert.equal(await orderStatus(poor, prepayId), 'PAID');
        // Not an attempt either.
        const ok = await poor.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '9.9' });
        assert.equal(ok.json.data.remainingAttempts, 9);
        await settle();
        assert.equal((await merchantBalance(poor)).posted, '0');
      });

      test(
        '10 attempts: remainingAttempts counts down, the 10th refunds everything remaining, the 11th is 400302 ' +
          '(rejected attempts count)',
        async () => {
          const merchant = await fundedMerchant('Attempts Shop');
          const prepayId = await paidOrder(merchant, '100');
          for (let i = 1; i <= 9; i++) {
            const r = await merchant.client.post('/order/refund', {
              refundRequestId: rid(),
              prepayId,
              refundAmount: '1',
            });
            assert.equal(r.json.data.remainingAttempts, 10 - i);
            assert.equal(r.json.data.refundAmount, '1.00000000');
          }
          const lastId = rid();
          const last = await merchant.client.post('/order/refund', {
            refundRequestId: lastId,
            prepayId,
            refundAmount: '1',
            refundReason: 'SANDBOX_REJECT',
          });
          assert.equal(last.json.status, 'SUCCESS', last.text);
          assert.equal(last.json.data.remainingAttempts, 0);
          assert.equal(last.json.data.refundAmount, '91.00000000');
          assert.equal(last.json.data.refundedAmount, '100.00000000');
          assert.equal((await merchantBalance(merchant)).held, '100');
          // Its replay is still answered (idempotency comes before the attempt limit).
          const replay = await merchant.client.post('/order/refund', {
            refundRequestId: lastId,
            prepayId,
            refundAmount: '1',
          });
          assert.equal(replay.json.data.duplicateRequest, 'Y');
          await settle();
          // The 10th was rejected: 91 is refundable again, but the attempts are used up.
          assert.equal(await orderStatus(merchant, prepayId), 'REFUNDED');
          assert.equal(
            (await merchant.client.post('/order/refund/query', { refundRequestId: lastId })).json.data.refundStatus,
            'REFUND_FAIL',
          );
          const snap = await snapshot(t.db);
          const eleventh = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId,
            refundAmount: '1',
          });
          assert.deepEqual(eleventh.json, {
            status: 'FAIL',
            code: '400302',
            errorMessage: 'Refund attempts more than 10 times.',
          });
          assert.deepEqual(await snapshot(t.db), snap);
        },
      );
    });
    describe('completion, rejection and the webhook', () => {
      test('rejection (sandbox trigger): hold voided, order back to PAID or REFUNDED, REFUND_REJECTED queued', async () => {
        const merchant = await createMerchant(t, { name: 'Reject Shop', webhookUrl: 'https://reject.example/hook' });
        const prepayId = await paidOrder(merchant, '20');
        const before = await merchantBalance(merchant);
        const payerBefore = await payerBalance();
        const id1 = rid();
        await merchant.client.post('/order/refund', {
          refundRequestId: id1,
          prepayId,
          refundAmount: '3',
          refundReason: 'SANDBOX_REJECT',
        });
        assert.equal((await merchantBalance(merchant)).held, '3');
        await settle();
        assert.equal(await orderStatus(merchant, prepayId), 'PAID');
        assert.deepEqual(await merchantBalance(merchant), before);
        assert.deepEqual(await payerBalance(), payerBefore);
        assert.equal(
          (await merchant.client.post('/order/refund/query', { refundRequestId: id1 })).json.data.refundStatus,
          'REFUND_FAIL',
        );
        await merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '2' });
        await settle();
        await merchant.client.post('/order/refund', {
          refundRequestId: rid(),
          prepayId,
          refundAmount: '4',
          refundReason: 'SANDBOX_REJECT',
        });
        await settle();
        assert.equal(await orderStatus(merchant, prepayId), 'REFUNDED');
        const statuses = (await refundEvents(prepayId)).map((p) => p.bizStatus);
        assert.deepEqual(statuses, ['REFUND_REJECTED', 'REFUND_SUCCESS', 'REFUND_REJECTED']);
      });

      test(
        'PAY_REFUND event: queued only on completion, in the completing transaction, with §6.5 data; target ' +
          'refund > order > merchant URL',
        async () => {
          const merchant = await fundedMerchant('Hook Shop');
          await t.admin('PATCH', `/admin/v1/merchants/${merchant.merchantId}`, {
            webhookUrl: 'https://merchant.example/hook',
          });
          const prepayId = await paidOrder(merchant, '80', {
            webhookUrl: 'https://order.example/hook',
            passThroughInfo: 'pt',
          });
          const order = (await merchant.client.post('/v2/order/query', { prepayId })).json.data;
          const id1 = rid();
          const r1 = await merchant.client.post('/order/refund', {
            refundRequestId: id1,
            prepayId,
            refundAmount: '8.5',
            webhookUrl: 'https://refund.example/hook',
          });
          assert.deepEqual(await refundEvents(prepayId), []);
          await settle();
          const [e1] = await refundEvents(prepayId);
          assert.equal(e1.url, 'https://refund.example/hook');
          assert.equal(e1.family, 'pay');
          assert.equal(e1.ownerId, merchant.merchantId);
          assert.equal(e1.bizStatus, 'REFUND_SUCCESS');
          assert.ok(
            e1.body.startsWith(
              `{"bizType":"PAY_REFUND","bizId":${prepayId},"bizIdStr":"${prepayId}","bizStatus":"REFUND_SUCCESS",` +
                `"data":"`,
            ),
          );
          const data = JSON.parse(JSON.parse(e1.body).data);
          assert.deepEqual(data, {
            merchantTradeNo: order.merchantTradeNo,
            productType: 'D000',
            productName: 'Ice Cream',
            tradeType: 'WEB',
            totalFee: 80,
            currency: 'USDT',
            transactTime: order.transactTime,
            commission: 0.8,
            openUserId: order.openUserId,
            refundInfo: {
              refundRequestId: id1,
              prepayId,
              orderAmount: '80.00000000',
              refundedAmount: '8.50000000',
              refundAmount: '8.50000000',
              remainingAttempts: 9,
              payerOpenId: order.openUserId,
              duplicateRequest: 'N',
            },
          });
          assert.equal(r1.json.data.refundedAmount, data.refundInfo.refundedAmount);
          assert.match(JSON.parse(e1.body).data, /"totalFee":80\.00000000,/);
          assert.match(JSON.parse(e1.body).data, /"commission":0\.80000000,/);
          // Without a refund URL the order's; without either, the merchant's configured one.
          await merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '1' });
          await settle();
          const plain = await paidOrder(merchant, '5');
          await merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId: plain, refundAmount: '1' });
          await settle();
          assert.equal((await refundEvents(prepayId))[1].url, 'https://order.example/hook');
          assert.equal((await refundEvents(plain))[0].url, 'https://merchant.example/hook');
          // No URL anywhere: nothing queued, the refund still completes.
          const quiet = await createMerchant(t, { name: 'Quiet Shop' });
          await paidOrder(quiet, '50');
          const q1 = await paidOrder(quiet, '5');
          await quiet.client.post('/order/refund', { refundRequestId: rid(), prepayId: q1, refundAmount: '1' });
          await settle();
          assert.deepEqual(await refundEvents(q1), []);
          assert.equal(await orderStatus(quiet, q1), 'REFUNDED');
        },
      );

      test(
        "order paid in another asset is refunded in the order currency to the payer's account of that " + 'currency',
        async () => {
          const merchant = await fundedMerchant('Convert Shop');
          const prepayId = await paidOrder(merchant, '30', { supportPayCurrency: 'BNB,USDT' }, 'BNB');
          const bnbBefore = await payerBalance('BNB');
          const usdtBefore = await payerBalance('USDT');
          const r = await merchant.client.post('/order/refund', {
            refundRequestId: rid(),
            prepayId,
            refundAmount: '30',
          });
          assert.equal(r.json.status, 'SUCCESS', r.text);
          await settle();
          assert.equal(await orderStatus(merchant, prepayId), 'FULL_REFUNDED');
          assert.deepEqual(await payerBalance('BNB'), bnbBefore);
          assert.equal(new Decimal((await payerBalance('USDT')).posted).minus(usdtBefore.posted).toFixed(), '30');
        },
      );
    });
    describe('races', () => {
      test(
        'race: 20 parallel refunds of 10 % on one order → exactly 10 accepted, never more than the order; ' +
          'audit passes',
        async () => {
          const merchant = await fundedMerchant(`Race Shop ${kind}`);
          const prepayId = await paidOrder(merchant, '100');
          const results = await Promise.all(
            Array.from({ length: 20 }, () =>
              merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '10' }),
            ),
          );
          const accepted = results.filter((r) => r.json.status === 'SUCCESS');
          assert.equal(accepted.length, 10);
          // After ten accepted attempts the rest are over the attempt limit.
          assert.deepEqual(
            [...new Set(results.filter((r) => r.json.status !== 'SUCCESS').map((r) => r.json.code))],
            ['400302'],
          );
          assert.deepEqual(
            accepted.map((r) => r.json.data.remainingAttempts).sort((a: number, b: number) => a - b),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
          );
          assert.equal((await merchantBalance(merchant)).held, '100');
          await settle();
          assert.equal(await orderStatus(merchant, prepayId), 'FULL_REFUNDED');
          const refunded = (
            await t.db.query(
              `SELECT sum(refund_amount) AS s FROM pay_refunds WHERE prepay_id = $1 AND status = 'SUCCESS'`,
              [prepayId],
            )
          ).rows[0].s;
          assert.equal(Number(refunded), 100);
          await assertAuditOk(t);
        },
      );

      test('race: 8 parallel refunds of 30 % → exactly 3 accepted, the rest 400303', async () => {
        const merchant = await fundedMerchant(`Race2 Shop ${kind}`);
        const prepayId = await paidOrder(merchant, '100');
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            merchant.client.post('/order/refund', { refundRequestId: rid(), prepayId, refundAmount: '30' }),
          ),
        );
        assert.equal(results.filter((r) => r.json.status === 'SUCCESS').length, 3);
        assert.deepEqual(
          [...new Set(results.filter((r) => r.json.status !== 'SUCCESS').map((r) => r.json.code))],
          ['400303'],
        );
        assert.equal((await merchantBalance(merchant)).held, '90');
        await settle();
        assert.equal(await orderStatus(merchant, prepayId), 'REFUNDED');
        await assertAuditOk(t);
      });

      test('the same new refundRequestId sent 5 times at once is accepted once; the rest replay it', async () => {
        const merchant = await fundedMerchant(`Dup Shop ${kind}`);
        const prepayId = await paidOrder(merchant, '10');
        const refundRequestId = rid();
        const results = await Promise.all(
          Array.from({ length: 5 }, () =>
            merchant.client.post('/order/refund', { refundRequestId, prepayId, refundAmount: '4' }),
          ),
        );
        assert.ok(
          results.every((r) => r.json.status === 'SUCCESS'),
          results.map((r) => r.text).join('\n'),
        );
        assert.deepEqual(results.map((r) => r.json.data.duplicateRequest).sort(), ['N', 'Y', 'Y', 'Y', 'Y']);
        assert.equal(new Set(results.map((r) => r.json.data.refundId)).size, 1);
        assert.equal((await merchantBalance(merchant)).held, '4');
        await settle();
      });
    });
  });
}
