import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { enqueuePayWebhook } from '../src/pay/events.ts';
import { createPayWebhookFamily, PAY_WEBHOOK_RETRY_DELAYS_MS } from '../src/pay/notify.ts';
import { isForbiddenAddress } from '../src/platform/outbox/delivery.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { productionEnv } from './support/production-env.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { ACK, startReceiver, waitFor, type Answer, type ReceivedRequest } from './support/webhook-receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bizIdOf = (r: ReceivedRequest) => /"bizIdStr":"(\d+)"/.exec(r.body.toString('utf8'))?.[1];

for (const kind of DB_KINDS) {
  describe(`Binance Pay webhooks (${kind})`, () => {
    let t: TestApp;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    let verifier: ReturnType<typeof createPayWebhookVerifier>;
    let payerEmail: string;
    const answers = new Map<string, (r: ReceivedRequest, n: number) => Answer>();
    const forOrder = (bizId: string) => rx.received.filter((r) => bizIdOf(r) === bizId);
    const advance = async (ms: number) => {
      // Let an attempt the receiver has seen be recorded first: its retry time is computed from the clock.
      await waitFor(
        'attempts settled',
        async () =>
          Number(
            (await t.db.query(`SELECT count(*) AS n FROM outbox WHERE status = 'PENDING' AND leased_until > 0`)).rows[0]
              .n,
          ) === 0,
      );
      const r = await t.admin('POST', '/sandbox/v1/clock/advance', { ms });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    };
    const deliveriesOf = async (bizId: string, status?: string) => {
      const r = await t.admin('GET', `/admin/v1/webhooks/deliveries${status ? `?status=${status}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return (r.json.deliveries as any[]).filter((d) => d.bizId === bizId);
    };
    const newOrder = async (extra: Record<string, unknown> = {}) => {
      const c = await m.client.post('/v3/order', v3Order(extra));
      assert.equal(c.json.status, 'SUCCESS', c.text);
      return c.json.data.prepayId as string;
    };
    const pay = async (prepayId: string, email = payerEmail) =>
      t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: email });

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      rx = await startReceiver((r, n) => (answers.get(r.path) ?? (() => ACK))(r, n));
      m = await createMerchant(t, { name: 'Webhook Shop', webhookUrl: rx.url('/merchant') });
      verifier = createPayWebhookVerifier(m.client);
      payerEmail = (await createPayer(t, `wh-${kind}@example.com`, { USDT: '10000' })).email;
    });
    after(async () => {
      // Every request any test received is an authentic webhook.
      for (const r of rx.received) await verifier.verify(r.headers, r.body);
      await assertAuditOk(t);
      await t.close();
      await rx.close();
    });

    test('PAY_SUCCESS arrives at the merchant URL, verifies, and carries every §6.5 field with the wire types', async () => {
      const prepayId = await newOrder({ passThroughInfo: 'pt-42' });
      const paid = await pay(prepayId);
      assert.equal(paid.status, 200, JSON.stringify(paid.json));
      const [r] = await waitFor('PAY_SUCCESS', () => forOrder(prepayId).length === 1 && forOrder(prepayId));
      assert.ok(r);
      assert.equal(r.path, '/merchant');
      const v = await verifier.verify(r.headers, r.body);
      assert.equal(v.bizType, 'PAY');
      assert.equal(v.bizStatus, 'PAY_SUCCESS');
      assert.equal(v.bizIdRaw, prepayId);
      const q = await m.client.post('/v2/order/query', { prepayId });
      const o = q.json.data;
      assert.equal(o.status, 'PAID');
      const payerId = (await t.db.query(`SELECT payer_id FROM pay_orders WHERE prepay_id = $1`, [prepayId])).rows[0]
        .payer_id;
      const expected =
        `{"merchantTradeNo":"${o.merchantTradeNo}","productType":${JSON.stringify(v.data.productType)},` +
        `"productName":"Ice Cream",` +
        `"transactTime":${/"transactTime":(\d+)/.exec(q.text)![1]},"tradeType":"WEB","totalFee":25.17000000,` +
        `"currency":"USDT",` +
        `"transactionId":"M_P_${prepayId}","openUserId":"${o.openUserId}","passThroughInfo":"pt-42",` +
        `"commission":0.25170000,` +
        `"paymentInfo":{"payerId":${payerId},"payMethod":"FUNDING","paymentInstructions":[{"currency":"USDT",` +
        `"amount":25.17000000,"price":1}]}}`;
      assert.equal(v.dataText, expected);
      assert.match(o.openUserId, /^[0-9a-f]{32}$/);
      assert.ok(
        typeof v.data.productType === 'string' && v.data.productType.length > 0 && v.data.productType.length <= 16,
      );

      // The engine records an attempt after the receiver has answered (in a batch), so the log may trail the receipt.
      const [d] = await waitFor('PAY_SUCCESS recorded as delivered', async () => {
        const ds = await deliveriesOf(prepayId, 'DELIVERED');
        return ds.length === 1 && ds;
      });
      assert.equal(d.status, 'DELIVERED');
      assert.equal(d.attempts.length, 1);
      assert.equal(d.attempts[0].httpStatus, 200);
      assert.equal(d.attempts[0].response, (ACK as any).body);
      assert.equal(d.attempts[0].acked, true);
      assert.equal(typeof d.attempts[0].latencyMs, 'number');
      assert.equal(d.body, r.body.toString('utf8'));
    });

    test('headers are sent in the spec casing', async () => {
      const prepayId = await newOrder();
      await pay(prepayId);
      const [r] = await waitFor('webhook', () => forOrder(prepayId).length === 1 && forOrder(prepayId));
      assert.ok(r);
      const names = r.rawHeaderNames;
      for (const h of [
        'Content-Type',
        'BinancePay-Timestamp',
        'BinancePay-Nonce',
        'BinancePay-Certificate-SN',
        'BinancePay-Signature',
      ])
        assert.ok(names.includes(h), `${h} in ${names}`);
    });

    test(
      'PAY_CLOSED on close goes to the order webhookUrl over the merchant URL, with close time and zero ' +
        'commission',
      async () => {
        const prepayId = await newOrder({ webhookUrl: rx.url('/order') });
        const closed = await m.client.post('/order/close', { prepayId });
        assert.equal(closed.json.status, 'SUCCESS', closed.text);
        const [r] = await waitFor('PAY_CLOSED', () => forOrder(prepayId).length === 1 && forOrder(prepayId));
        assert.ok(r);
        assert.equal(r.path, '/order');
        const v = await verifier.verify(r.headers, r.body);
        assert.equal(v.bizStatus, 'PAY_CLOSED');
        const row = (
          await t.db.query(`SELECT closed_time, merchant_trade_no, product_type FROM pay_orders WHERE prepay_id = $1`, [
            prepayId,
          ])
        ).rows[0];
        assert.equal(
          v.dataText,
          `{"merchantTradeNo":"${row.merchant_trade_no}","productType":${JSON.stringify(row.product_type)},` +
            `"productName":"Ice Cream",` +
            `"transactTime":${row.closed_time},"tradeType":"WEB","totalFee":25.17000000,"currency":"USDT",` +
            `"commission":0.00000000}`,
        );

        // The merchant's configured URL changes: orders without their own URL follow it, orders with one do not.
        const patched = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, {
          webhookUrl: rx.url('/patched'),
        });
        assert.equal(patched.status, 200);
        const a = await newOrder();
        const b = await newOrder({ webhookUrl: rx.url('/order') });
        for (const id of [a, b])
          assert.equal((await m.client.post('/order/close', { prepayId: id })).json.status, 'SUCCESS');
        const [ra] = await waitFor('patched', () => forOrder(a).length === 1 && forOrder(a));
        assert.ok(ra);
        const [rb] = await waitFor('order', () => forOrder(b).length === 1 && forOrder(b));
        assert.ok(rb);
        assert.equal(ra.path, '/patched');
        assert.equal(rb.path, '/order');
        await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { webhookUrl: rx.url('/merchant') });
      },
    );

    test('PAY_CLOSED on expiry, driven by the sandbox clock', async () => {
      const prepayId = await newOrder();
      await sleep(200);
      assert.equal(forOrder(prepayId).length, 0);
      await advance(3_600_000 + 1_000);
      const [r] = await waitFor('expiry PAY_CLOSED', () => forOrder(prepayId).length === 1 && forOrder(prepayId));
      assert.ok(r);
      const v = await verifier.verify(r.headers, r.body);
      assert.equal(v.bizStatus, 'PAY_CLOSED');
      const row = (await t.db.query(`SELECT status, closed_time FROM pay_orders WHERE prepay_id = $1`, [prepayId]))
        .rows[0];
      assert.equal(row.status, 'EXPIRED');
      assert.equal(String(v.data.transactTime), String(row.closed_time));
      assert.equal(v.data.commission, 0);
    });

    test('a 19-digit bizId above 2^53 survives byte for byte', async () => {
      const bizId = '9223372036854775807';
      assert.notEqual(String(JSON.parse(`{"x":${bizId}}`).x), bizId); // what a Number-parsing receiver would get
      await t.db.tx((q) =>
        enqueuePayWebhook(t.app.services.outbox, q, {
          url: rx.url('/merchant'),
          ownerId: m.merchantId,
          bizType: 'PAY_REFUND',
          bizId,
          bizStatus: 'REFUND_SUCCESS',
          data: { note: 'precision' },
        }),
      );
      const [r] = await waitFor('big id', () => forOrder(bizId).length === 1 && forOrder(bizId));
      assert.ok(r);
      const v = await verifier.verify(r.headers, r.body);
      assert.equal(v.bizIdRaw, bizId);
      assert.equal(v.bizIdStr, bizId);
      assert.ok(r.body.toString('utf8').includes(`"bizId":${bizId},`));
    });

    test(
      'a receiver answering 500 gets the 6 retries on the schedule as the clock advances, then FAILED; redeliver ' +
        'sends the same body again',
      async () => {
        answers.set('/fail', () => ({ status: 500, body: '{"error":"boom"}' }));
        const prepayId = await newOrder({ webhookUrl: rx.url('/fail') });
        await pay(prepayId);
        await waitFor('attempt 1', () => forOrder(prepayId).length === 1);
        // Not one millisecond early: 14.999 s after the failure nothing is sent.
        await advance(PAY_WEBHOOK_RETRY_DELAYS_MS[0]! - 1_000);
        await sleep(300);
        assert.equal(forOrder(prepayId).length, 1);
        await advance(1_000);
        await waitFor('attempt 2', () => forOrder(prepayId).length === 2);
        for (let i = 1; i < PAY_WEBHOOK_RETRY_DELAYS_MS.length; i++) {
          await advance(PAY_WEBHOOK_RETRY_DELAYS_MS[i]!);
          await waitFor(`attempt ${i + 2}`, () => forOrder(prepayId).length === i + 2);
        }
        const [failed] = await waitFor(
          'FAILED',
          async () => (await deliveriesOf(prepayId, 'FAILED')).length === 1 && deliveriesOf(prepayId, 'FAILED'),
        );
        assert.equal(failed.attempts.length, 7);
        for (const a of failed.attempts) {
          assert.equal(a.httpStatus, 500);
          assert.equal(a.response, '{"error":"boom"}');
          assert.equal(a.acked, false);
        }
        for (let i = 1; i < 7; i++)
          assert.ok(
            failed.attempts[i]!.attemptedAt - failed.attempts[i - 1]!.attemptedAt >=
              PAY_WEBHOOK_RETRY_DELAYS_MS[i - 1]!,
          );
        assert.equal((await deliveriesOf(prepayId, 'PENDING')).length, 0);
        // Nothing more, however far the clock moves.
        await advance(48 * 3_600_000);
        await sleep(300);
        assert.equal(forOrder(prepayId).length, 7);

        answers.set('/fail', () => ACK);
        const red = await t.admin('POST', `/admin/v1/webhooks/deliveries/${failed.id}/redeliver`);
        assert.equal(red.status, 202, JSON.stringify(red.json));
        await waitFor('redelivery', () => forOrder(prepayId).length === 8);
        const [done] = await waitFor(
          'DELIVERED',
          async () => (await deliveriesOf(prepayId, 'DELIVERED')).length === 1 && deliveriesOf(prepayId, 'DELIVERED'),
        );
        assert.equal(done.attempts.length, 8);
        assert.deepEqual(done.attempts.at(-1), {
          ...done.attempts.at(-1),
          round: 1,
          attemptNo: 1,
          httpStatus: 200,
          acked: true,
        });
        // A delivered one can be sent again too.
        assert.equal((await t.admin('POST', `/admin/v1/webhooks/deliveries/${done.id}/redeliver`)).status, 202);
        await waitFor('second redelivery', () => forOrder(prepayId).length === 9);
        const all = forOrder(prepayId);
        assert.equal(new Set(all.map((r) => r.body.toString('hex'))).size, 1, 'same body bytes on every attempt');
        assert.equal(new Set(all.map((r) => r.headers['binancepay-nonce'])).size, 9, 'fresh nonce on every attempt');
        for (const r of all) await verifier.verify(r.headers, r.body);

        assert.equal((await t.admin('POST', `/admin/v1/webhooks/deliveries/123/redeliver`)).status, 404);
        const anon = await fetch(`${t.baseUrl}/admin/v1/webhooks/deliveries`);
        assert.equal(anon.status, 401);
      },
    );

    test('only 2xx with returnCode exactly "SUCCESS" is an ack', async () => {
      const seq: Answer[] = [
        { status: 200, body: '{"returnCode":"FAIL","returnMessage":"no"}' },
        { status: 200, body: 'OK' },
        { status: 302, body: '{"returnCode":"SUCCESS"}' },
        { status: 200, body: '{"returnCode":"success"}' },
        { status: 201, body: '{"returnCode":"SUCCESS"}' },
      ];
      let i = 0;
      answers.set('/picky', () => seq[Math.min(i++, seq.length - 1)]!);
      const prepayId = await newOrder({ webhookUrl: rx.url('/picky') });
      await pay(prepayId);
      for (let n = 1; n <= 5; n++) {
        await waitFor(`attempt ${n}`, () => forOrder(prepayId).length === n);
        if (n < 5) await advance(PAY_WEBHOOK_RETRY_DELAYS_MS[n - 1]!);
      }
      const [d] = await waitFor(
        'DELIVERED',
        async () => (await deliveriesOf(prepayId, 'DELIVERED')).length === 1 && deliveriesOf(prepayId, 'DELIVERED'),
      );
      assert.deepEqual(
        d.attempts.map((a: any) => [a.httpStatus, a.acked]),
        [
          [200, false],
          [200, false],
          [302, false],
          [200, false],
          [201, true],
        ],
      );
    });

    test(
      'the default per-attempt timeout is 5 s: a hanging receiver is abandoned and retried',
      { timeout: 30_000 },
      async () => {
        let n = 0;
        answers.set('/slow', () => (++n === 1 ? { hangMs: 6_000 } : ACK));
        const prepayId = await newOrder({ webhookUrl: rx.url('/slow') });
        await pay(prepayId);
        const [d] = await waitFor(
          'timeout recorded',
          async () => {
            const list = await deliveriesOf(prepayId);
            return list.length === 1 && list[0].attempts.length === 1 && list;
          },
          10_000,
          100,
        );
        assert.equal(d.status, 'PENDING');
        assert.match(d.attempts[0].error, /timeout after 5000 ms/);
        assert.equal(d.attempts[0].httpStatus, null);
        assert.ok(d.attempts[0].latencyMs >= 4_900 && d.attempts[0].latencyMs < 5_900, String(d.attempts[0].latencyMs));
        await advance(PAY_WEBHOOK_RETRY_DELAYS_MS[0]!);
        await waitFor('delivered after timeout', async () => (await deliveriesOf(prepayId, 'DELIVERED')).length === 1);
      },
    );

    test('a change that rolls back sends nothing: a refused payment emits no webhook', async () => {
      const poor = await createPayer(t, `poor-${kind}@example.com`, { USDT: '1' });
      const prepayId = await newOrder();
      const r = await pay(prepayId, poor.email);
      assert.equal(r.status, 409);
      assert.equal(r.json.error.code, 'INSUFFICIENT_FUNDS');
      const queued = await t.db.query(`SELECT count(*) AS n FROM outbox WHERE payload->>'bizId' = $1`, [prepayId]);
      assert.equal(Number(queued.rows[0].n), 0);
      await sleep(300);
      assert.equal(forOrder(prepayId).length, 0);
      assert.equal((await deliveriesOf(prepayId)).length, 0);
      // The order is untouched and can still be paid, which sends exactly one PAY_SUCCESS.
      assert.equal((await pay(prepayId)).status, 200);
      await waitFor('PAY_SUCCESS', () => forOrder(prepayId).length === 1);
      await sleep(200);
      assert.equal(forOrder(prepayId).length, 1);
    });

    test('the admin routes are in the OpenAPI document', async () => {
      const doc = await (await fetch(`${t.baseUrl}/openapi.json`)).json();
      assert.ok(doc.paths['/admin/v1/webhooks/deliveries']?.get?.parameters?.some((p: any) => p.name === 'status'));
      assert.ok(doc.paths['/admin/v1/webhooks/deliveries/{id}/redeliver']?.post);
      const bad = await t.admin('GET', '/admin/v1/webhooks/deliveries?status=LOST');
      assert.equal(bad.status, 400);
    });
  });
}

describe('SSRF guard in production mode', () => {
  let t: TestApp;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    t = await startTestApp({
      workers: true,
      env: await productionEnv({ ALLOW_INSECURE_HTTP: '1' }),
    });
    rx = await startReceiver();
  });
  after(async () => {
    await t.close();
    await rx.close();
  });

  test('loopback, private and link-local targets are refused after DNS resolution; nothing is sent', async () => {
    assert.equal(t.config.mode, 'production');
    const m = await createMerchant(t, { name: 'Prod Shop' });
    const targets = [
      rx.url('/direct'),
      `http://localhost:${rx.port}/by-name`,
      `http://[::1]:${rx.port}/v6`,
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://192.168.1.10/x',
    ];
    const ids: string[] = [];
    for (const url of targets) {
      const c = await m.client.post('/v3/order', v3Order({ webhookUrl: url }));
      assert.equal(c.json.status, 'SUCCESS', c.text);
      assert.equal((await m.client.post('/order/close', { prepayId: c.json.data.prepayId })).json.status, 'SUCCESS');
      ids.push(c.json.data.prepayId);
    }
    const failed = await waitFor(
      'all refused',
      async () => {
        const r = await t.admin('GET', '/admin/v1/webhooks/deliveries?status=FAILED');
        return r.json.deliveries.length === targets.length && r.json.deliveries;
      },
      10_000,
      50,
    );
    for (const d of failed) {
      assert.ok(ids.includes(d.bizId));
      assert.equal(d.attempts.length, 1);
      assert.match(d.attempts[0].error, /^refused: .* resolves to .*loopback, private or link-local/);
      assert.equal(d.attempts[0].httpStatus, null);
    }
    assert.match(
      failed.find((d: any) => d.url.includes('localhost')).attempts[0].error,
      /localhost resolves to (127\.0\.0\.1|::1)/,
    );
    assert.equal(rx.received.length, 0);
  });

  test('address classification', () => {
    for (const a of [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      'fc00::1',
      '::ffff:10.0.0.1',
      '::ffff:127.0.0.1',
      '64:ff9b::a00:1',
      '64:ff9b::127.0.0.1',
      '224.0.0.1',
      'not-an-ip',
    ]) {
      assert.equal(isForbiddenAddress(a), true, a);
    }
    for (const a of [
      '8.8.8.8',
      '1.1.1.1',
      '172.15.0.1',
      '172.32.0.1',
      '192.169.0.1',
      '2606:4700:4700::1111',
      '64:ff9b::808:808',
      '::ffff:8.8.8.8',
    ]) {
      assert.equal(isForbiddenAddress(a), false, a);
    }
  });
});

describe('Pay webhook family', () => {
  test('signs ts\\nnonce\\nbody\\n with the active key; fresh nonce per attempt; ack rule', async () => {
    const t = await startTestApp();
    try {
      const fam = createPayWebhookFamily({ signingKeys: t.app.services.signingKeys });
      const key = await t.app.services.signingKeys.current('pay-webhook');
      const body = '{"bizType":"PAY","bizId":1,"bizIdStr":"1","bizStatus":"PAY_SUCCESS","data":"{}"}';
      const a = await fam.sign(body);
      const b = await fam.sign(body);
      assert.deepEqual(Object.keys(a), [
        'Content-Type',
        'BinancePay-Timestamp',
        'BinancePay-Nonce',
        'BinancePay-Certificate-SN',
        'BinancePay-Signature',
      ]);
      assert.equal(a['BinancePay-Certificate-SN'], key.serial);
      assert.match(a['BinancePay-Nonce'] ?? '', /^[A-Za-z0-9]{32}$/);
      assert.notEqual(a['BinancePay-Nonce'], b['BinancePay-Nonce']);
      const { createVerify } = await import('node:crypto');
      assert.ok(
        createVerify('RSA-SHA256')
          .update(`${a['BinancePay-Timestamp']}\n${a['BinancePay-Nonce']}\n${body}\n`)
          .verify(key.publicKeyPem, a['BinancePay-Signature'] ?? '', 'base64'),
      );
      assert.equal(fam.isAck(200, '{"returnCode":"SUCCESS","returnMessage":null}'), true);
      assert.equal(fam.isAck(204, '{"returnCode":"SUCCESS"}'), true);
      // Binance's own sample receiver answers with `code`.
      assert.equal(fam.isAck(200, '{"code":"SUCCESS","message":"Done"}'), true);
      for (const [s, txt] of [
        [200, '{"returnCode":"FAIL"}'],
        [200, ''],
        [200, 'null'],
        [500, '{"returnCode":"SUCCESS"}'],
        [199, '{"returnCode":"SUCCESS"}'],
        [200, '{"returnCode":"SUCCESS "}'],
        [200, '{"code":"FAIL"}'],
        [200, '{"code":"SUCCESS "}'],
        [500, '{"code":"SUCCESS"}'],
        [200, '{"returnCode":"FAIL","code":"SUCCESS"}'],
        [200, '["SUCCESS"]'],
        [200, '{"message":"SUCCESS"}'],
      ] as const) {
        assert.equal(fam.isAck(s, txt), false, `${s} ${txt}`);
      }
      assert.deepEqual(fam.retryDelaysMs, [15_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000]);
    } finally {
      await t.close();
    }
  });
});
