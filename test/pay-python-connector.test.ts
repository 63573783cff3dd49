import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  nextTradeNo,
  startTestApp,
  type TestApp,
} from './helpers.ts';
import { pyFloat, pyJsonDumps, pythonConnectorMerchant } from './support/pay-python-client.ts';

/**
 * Issue #15: every method of Binance's official Python connector (binance/pay/merchant.py, 11 methods) succeeds
 * against a running server, called with the connector's parameter names, its `json.dumps` bodies and its signing.
 */
test('pyJsonDumps writes what Python json.dumps writes', () => {
  assert.equal(
    pyJsonDumps({ a: pyFloat(200), b: pyFloat(0.02), c: 2, d: 'café ☕', e: [true, null], f: '😀' }),
    '{"a": 200.0, "b": 0.02, "c": 2, "d": "caf\\u00e9 \\u2615", "e": [true, null], "f": "\\ud83d\\ude00"}',
  );
});

for (const kind of DB_KINDS) {
  describe(`the official Python connector's eleven methods (${kind})`, () => {
    let t: TestApp;
    let client: ReturnType<typeof pythonConnectorMerchant>;
    let payer: Awaited<ReturnType<typeof createPayer>>;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      const m = await createMerchant(t, { name: 'Python Shop' });
      const patch = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, {
        features: { channelPartner: true },
      });
      assert.equal(patch.status, 200, JSON.stringify(patch.json));
      client = pythonConnectorMerchant(m.apiKey, m.apiSecret, t.baseUrl);
      payer = await createPayer(t, `python-payer-${kind}@example.com`, { USDT: '1000' });
    });
    after(() => t?.close());

    test('orders, refunds, balance, transfers, sub-merchants and payouts, method by method', async () => {
      // A channel partner tags its orders with a sub-merchant (binance-pay-extended.md §12.4): create it first.
      const sub = await client.new_sub_merchant('Python Coffee', 1, '1040', 'GO,NZ', {
        siteUrl: 'https://coffee.example/shop',
        certificateType: 1,
        certificateCountry: 'NZ',
        certificateNumber: 'P1234567',
        certificateValidDate: 1893456000000,
      });
      assert.equal(sub.status, 'SUCCESS', JSON.stringify(sub));
      const subMerchantId = String(sub.data.subMerchantId);

      const goods = {
        goodsType: '01',
        goodsCategory: 'D000',
        referenceGoodsId: '7876763A3B',
        goodsName: 'Ice Cream',
        goodsDetail: 'Greek yoghurt ice cream',
      };
      const order = await client.new_order({
        merchant: { subMerchantId },
        env: { terminalType: 'APP' },
        merchantTradeNo: nextTradeNo(),
        orderAmount: pyFloat(25.5),
        currency: 'USDT',
        goods,
      });
      assert.equal(order.status, 'SUCCESS', JSON.stringify(order));
      const prepayId = order.data.prepayId as string;
      const paid = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
      assert.equal(paid.status, 200, JSON.stringify(paid.json));

      const query = await client.get_order({ prepayId });
      assert.equal(query.status, 'SUCCESS', JSON.stringify(query));
      assert.equal(query.data.status, 'PAID');

      const refundRequestId = `py${Date.now()}`;
      const refund = await client.refund_order(refundRequestId, prepayId, pyFloat(5.5), { refundReason: 'melted' });
      assert.equal(refund.status, 'SUCCESS', JSON.stringify(refund));
      const refundQuery = await client.get_refund_order(refundRequestId);
      assert.equal(refundQuery.status, 'SUCCESS', JSON.stringify(refundQuery));
      assert.equal(refundQuery.data.refundRequestId, refundRequestId);

      const open = await client.new_order({
        merchant: { subMerchantId },
        env: { terminalType: 'WEB' },
        merchantTradeNo: nextTradeNo(),
        orderAmount: pyFloat(3),
        currency: 'USDT',
        goods,
      });
      assert.equal(open.status, 'SUCCESS', JSON.stringify(open));
      const closed = await client.cancel_order({ prepayId: open.data.prepayId });
      assert.equal(closed.status, 'SUCCESS', JSON.stringify(closed));

      const balance = await client.get_wallet_balance('FUNDING_WALLET', 'USDT');
      assert.equal(balance.status, 'SUCCESS', JSON.stringify(balance));
      assert.equal(balance.data.balance, 19.745, 'paid 25.5 less the 1 % commission, less the 5.5 refunded');

      const tranId = `tr${Date.now()}`;
      const transfer = await client.transfer_fund(tranId, 'USDT', '1.5', 'TO_MAIN');
      assert.equal(transfer.status, 'SUCCESS', JSON.stringify(transfer));
      assert.equal(transfer.data.status, 'SUCCESS');
      const transferResult = await client.get_transfer_result(tranId);
      assert.equal(transferResult.status, 'SUCCESS', JSON.stringify(transferResult));
      assert.equal(transferResult.data.status, 'SUCCESS');
      const spot = await client.get_wallet_balance('SPOT_WALLET', 'USDT');
      assert.equal(spot.data.balance, 1.5);

      const requestId = `po${Date.now()}`;
      const payout = await client.batch_payout(
        requestId,
        'python batch',
        'USDT',
        pyFloat(2),
        2,
        [
          {
            merchantSendId: '1',
            receiveType: 'BINANCE_ID',
            receiver: payer.payerId,
            transferAmount: pyFloat(1.25),
            transferMethod: 'FUNDING_WALLET',
            remark: 'test1',
          },
          {
            merchantSendId: '2',
            receiveType: 'PAY_ID',
            receiver: payer.payerId,
            transferAmount: pyFloat(0.75),
            transferMethod: 'SPOT_WALLET',
            remark: 'test2',
          },
        ],
        { bizScene: 'DIRECT_TRANSFER' },
      );
      assert.equal(payout.status, 'SUCCESS', JSON.stringify(payout));
      assert.deepEqual(payout.data, { requestId, status: 'ACCEPTED' });
      let result = await client.get_payout(requestId);
      for (let i = 0; i < 100 && result.data?.batchStatus !== 'SUCCESS'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        result = await client.get_payout(requestId);
      }
      assert.equal(result.status, 'SUCCESS', JSON.stringify(result));
      assert.equal(result.data.batchStatus, 'SUCCESS', JSON.stringify(result.data));
      assert.deepEqual(
        result.data.transferDetailList.map((d: { status: string }) => d.status),
        ['SUCCESS', 'SUCCESS'],
      );
      await assertAuditOk(t);
    });
  });
}
