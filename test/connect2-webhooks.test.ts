import assert from 'node:assert/strict';
import { createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { wireOrder2 } from '../src/connect/v2/wire.ts';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { onboardPartner } from './support/connect-client.ts';
import { ACK, startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Generation 2's order statuses and its `connect_order_event` webhook (binance-connect-v2.md §5, §8, §9): the
 * published integers in order, one signed webhook per status passed, the body field by field against the spec's
 * sample, and the sandbox's status transitions (§9) as the state machine allows them.
 */
const SAMPLE_KEYS = [
  'webhookEventType',
  'externalOrderId',
  'type',
  'businessType',
  'status',
  'payMethodCode',
  'payMethodSubCode',
  'fiatCurrency',
  'cryptoCurrency',
  'openUserId',
  'fiatAmount',
  'cryptoAmount',
  'feeAmount',
  'feeCurrency',
  'revenueAmount',
  'revenueCurrency',
  'networkFee',
  'withdrawWalletAddress',
  'withdrawNetwork',
  'withdrawMemo',
  'withdrawTxHash',
  'orderDetailLink',
  'orderTime',
  'completionTime',
  'updateTime',
  'userData',
];
const ADDRESS = '0x52908400098527886E0F7030069857D2E4169EE7';
let seq = 0;
const preOrder = (o: Record<string, unknown> = {}) => ({
  externalOrderId: `ord${Date.now()}x${++seq}`,
  fiatCurrency: 'EUR',
  cryptoCurrency: 'USDT',
  amountType: 1,
  requestedAmount: '100',
  payMethodCode: 'BUY_CARD',
  payMethodSubCode: 'card',
  network: 'BSC',
  address: ADDRESS,
  redirectUrl: 'https://wallet.example/done',
  failRedirectUrl: 'https://wallet.example/failed',
  clientType: 'web',
  ...o,
});

/** The partner's check (§8): SHA256withRSA over rawBody + X-BN-Connect-Timestamp with its copy of the platform key. */
function partnerVerifies(
  platformPublicKeyPem: string | KeyObject,
  headers: Record<string, unknown>,
  rawBody: Buffer,
): boolean {
  const ts = String(headers['x-bn-connect-timestamp']);
  return createVerify('RSA-SHA256')
    .update(Buffer.concat([rawBody, Buffer.from(ts, 'utf8')]))
    .verify(platformPublicKeyPem, String(headers['x-bn-connect-signature']), 'base64');
}

for (const kind of DB_KINDS) {
  describe(`Connect gen-2 statuses and webhooks (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind, workers: true });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });
    const svc = () => t.app.services;
    const partnerOf = async (code: string) => (await svc().partners.get(code))!;

    test('sandbox 0 → 20: statuses 1, 2, 10, 11, 20 in order, each signed, the body as the spec sample', async () => {
      const rx = await startReceiver(() => ACK);
      try {
        const p = await onboardPartner(t, { name: 'Gen2 Hooks', webhookUrl: rx.url('/gen2') });
        const partner = await partnerOf(p.merchantCode);
        // §13: onboarding hands out the webhook key as PEM and as bare base64 SPKI DER, and the webhook partner code.
        const onboarded = p as unknown as Record<string, string>;
        assert.equal(onboarded.webhookPartnerCode, partner.clientId);
        assert.equal(onboarded.webhookPublicKeyPem, p.platformPublicKey);
        const derKey = createPublicKey({
          key: Buffer.from(onboarded.webhookPublicKeyDerBase64!, 'base64'),
          format: 'der',
          type: 'spki',
        });
        const body = preOrder({ userData: 'wallet-user-77' });
        const created = await svc().connectPreOrders.create(partner, body);
        assert.ok(created.ok, JSON.stringify(created));
        assert.match(created.value.link, /\/uni-qr\/ccnt\?token=[0-9a-f]{40}$/);
        // Creation is answered by pre-order itself: no webhook for status 0 (§5.3).
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(rx.received.length, 0);

        const moved = await svc().connectSandbox.transition(partner, {
          externalOrderId: body.externalOrderId,
          targetStatus: 20,
        });
        assert.ok(moved.ok, JSON.stringify(moved));
        await waitFor('five webhooks', () => rx.received.length >= 5);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(rx.received.length, 5, 'one webhook per status passed, no more');
        const bodies = rx.received.map((r) => JSON.parse(r.body.toString()));
        assert.deepEqual(
          bodies.map((b) => b.status),
          [1, 2, 10, 11, 20],
        );
        for (const r of rx.received) {
          assert.equal(r.path, '/gen2');
          assert.equal(r.headers['content-type'], 'application/json');
          assert.equal(r.headers['x-bn-connect-for'], partner.clientId);
          assert.match(String(r.headers['x-bn-connect-timestamp']), /^\d{13}$/);
          assert.ok(partnerVerifies(p.platformPublicKey, r.headers, r.body), 'verifies with the partner copy');
          assert.ok(partnerVerifies(derKey, r.headers, r.body), 'and with the base64 DER copy');
          const forged = Buffer.from(r.body.toString().replace('"status":', '"status": '));
          assert.ok(!partnerVerifies(p.platformPublicKey, r.headers, forged), 'a changed byte does not verify');
        }
        const last = bodies[4];
        assert.deepEqual(Object.keys(last), SAMPLE_KEYS, 'the sample field set, in its order');
        assert.equal(last.webhookEventType, 'connect_order_event');
        assert.equal(last.externalOrderId, body.externalOrderId);
        assert.deepEqual([last.type, last.businessType, last.status], [1, 1, 20]);
        assert.deepEqual([last.payMethodCode, last.payMethodSubCode], ['BUY_CARD', 'card']);
        assert.deepEqual([last.fiatCurrency, last.cryptoCurrency], ['EUR', 'USDT']);
        for (const f of ['fiatAmount', 'cryptoAmount', 'feeAmount', 'revenueAmount', 'networkFee'])
          assert.match(last[f], /^\d+(\.\d+)?$/, `${f} is a plain decimal string`);
        assert.equal(last.fiatAmount, '100');
        assert.equal(last.networkFee, '0.29');
        // 100 EUR less the fee at the quote price (about 1.08 USD/EUR), less the network fee.
        assert.ok(Number(last.cryptoAmount) > 100 && Number(last.cryptoAmount) < 110, last.cryptoAmount);
        assert.deepEqual([last.feeCurrency, last.revenueAmount, last.revenueCurrency], ['USD', '0', 'USD']);
        // EUR fee max(1.99 USD, 1.99 % of 100 EUR) = 1.99 EUR, in USD at the reference rate.
        assert.equal(last.feeAmount, '2.15');
        assert.deepEqual(
          [last.withdrawWalletAddress, last.withdrawNetwork, last.withdrawMemo, last.withdrawTxHash],
          [ADDRESS, 'BSC', '', null],
        );
        assert.match(last.orderDetailLink, /\/en\/connect\/order\?token=[0-9a-f]{40}$/);
        assert.equal(
          last.orderDetailLink.split('token=')[1],
          created.value.link.split('token=')[1],
          'the detail link opens the same order',
        );
        for (const f of ['orderTime', 'updateTime', 'completionTime']) assert.equal(typeof last[f], 'number', f);
        assert.equal(bodies[0].completionTime, null, 'no completion time before a final status');
        assert.equal(last.userData, 'wallet-user-77');
        assert.equal(last.openUserId, null, 'nobody opened the link: no platform user');
        // `order` (§4.8) is the same object without webhookEventType.
        const found = await svc().connectPreOrders.find(partner, body.externalOrderId);
        assert.ok(found.ok);
        const { webhookEventType: _e, ...rest } = last;
        assert.deepEqual(
          JSON.parse(
            JSON.stringify(
              wireOrder2(found.value, { orderDetailLink: svc().connectOrders.orderDetailLink(found.value) }),
            ),
          ),
          rest,
        );
      } finally {
        await rx.close();
      }
    });

    test('sandbox transition table: every target × every status, refused moves change nothing', async () => {
      const p = await onboardPartner(t, { name: 'Gen2 Table' });
      const partner = await partnerOf(p.merchantCode);
      const targets = [2, 11, 20, 96, 97, 98];
      // From each resting status, the targets §5.3 allows (failures where they happen or later).
      const allowed: Record<number, number[]> = {
        0: [2, 11, 20, 96, 97, 98],
        2: [11, 20, 96, 98],
        11: [20, 98],
        20: [],
        96: [],
        97: [],
        98: [],
      };
      for (const [from, ok] of Object.entries(allowed)) {
        for (const target of targets) {
          const b = preOrder();
          assert.ok((await svc().connectPreOrders.create(partner, b)).ok);
          if (Number(from) !== 0) {
            const r = await svc().connectSandbox.transition(partner, {
              externalOrderId: b.externalOrderId,
              targetStatus: Number(from),
            });
            assert.ok(r.ok, `reach ${from}: ${JSON.stringify(r)}`);
          }
          const before = (await svc().connectPreOrders.find(partner, b.externalOrderId)) as { value: any };
          const r = await svc().connectSandbox.transition(partner, {
            externalOrderId: b.externalOrderId,
            targetStatus: target,
          });
          const after = (await svc().connectPreOrders.find(partner, b.externalOrderId)) as { value: any };
          if (ok.includes(target)) {
            assert.ok(r.ok, `${from} → ${target}: ${JSON.stringify(r)}`);
            assert.equal(after.value.gen2Status, target);
          } else {
            assert.deepEqual(
              r.ok ? null : [r.code, r.field],
              ['ILLEGAL_PARAMETERS', 'targetStatus'],
              `${from} → ${target}`,
            );
            assert.deepEqual(after.value, before.value, `${from} → ${target} changed nothing`);
          }
        }
      }
      for (const bad of [0, 1, 10, 99, '2x', null]) {
        const b = preOrder();
        assert.ok((await svc().connectPreOrders.create(partner, b)).ok);
        const r = await svc().connectSandbox.transition(partner, {
          externalOrderId: b.externalOrderId,
          targetStatus: bad,
        });
        assert.deepEqual(r.ok ? null : [r.code, r.field], ['ILLEGAL_PARAMETERS', 'targetStatus'], String(bad));
      }
      const none = await svc().connectSandbox.transition(partner, { externalOrderId: 'nosuch1', targetStatus: 20 });
      assert.equal(none.ok ? null : none.code, 'ORDER_NOT_FOUND');
    });

    test('failures publish their own code: 97 on-ramp, 98 withdrawal, 96 kept, 99 expiry; no backwards move', async () => {
      const rx = await startReceiver(() => ACK);
      try {
        const p = await onboardPartner(t, { name: 'Gen2 Fail', webhookUrl: rx.url('/f') });
        const partner = await partnerOf(p.merchantCode);
        const statusesOf = (id: string) =>
          rx.received
            .map((r) => JSON.parse(r.body.toString()))
            .filter((b) => b.externalOrderId === id)
            .map((b) => b.status);
        const cases: [number, number[]][] = [
          [97, [97]],
          [98, [1, 2, 10, 11, 98]],
          [96, [1, 2, 96]],
        ];
        for (const [target, expected] of cases) {
          const b = preOrder();
          assert.ok((await svc().connectPreOrders.create(partner, b)).ok);
          assert.ok(
            (
              await svc().connectSandbox.transition(partner, {
                externalOrderId: b.externalOrderId,
                targetStatus: target,
              })
            ).ok,
          );
          await waitFor(`${target} webhooks`, () => statusesOf(b.externalOrderId).length >= expected.length);
          assert.deepEqual(statusesOf(b.externalOrderId), expected);
          const last = JSON.parse(rx.received.at(-1)!.body.toString());
          assert.equal(typeof last.completionTime, 'number', 'a final status has its completion time');
        }
        // An order left at 0 past linkExpireTime fails with 99 (the gen-1 expiry rule), one webhook.
        const b = preOrder();
        const c = await svc().connectPreOrders.create(partner, b);
        assert.ok(c.ok);
        t.clock.advance!(c.value.linkExpireTime - t.clock.now() + 1);
        await waitFor('expiry webhook', () => statusesOf(b.externalOrderId).length >= 1);
        assert.deepEqual(statusesOf(b.externalOrderId), [99]);
      } finally {
        await rx.close();
      }
    });
  });
}
