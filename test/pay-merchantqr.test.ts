import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMerchantQrService, SCAN_TTL_MS, type MerchantQrService } from '../src/pay/merchantqr/service.ts';
import { payerTradeNo } from '../src/pay/merchantqr/payer-order.ts';
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
import { formBrowser, type FormBrowser } from './support/form-browser.ts';
import { productionEnv } from './support/production-env.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Static merchant QR codes (binance-pay-extended.md §17.3): the flag, the scan and its MERCHANT_QR_CODE webhook (data
 * an object, RSA-verified), every refusal of qrCodeReferId on create order, the race of two orders for one scan, and
 * payment by the scanning user only.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;

/** A payer's browser logged in on `/qr/{code}`, opened on the scan it made: its referId and waiting page. */
async function scanInBrowser(t: TestApp, code: string, email: string, password: string) {
  const b = formBrowser(t.baseUrl);
  const login = await b.submit(`/qr/${code}`, `/qr/${code}/login`, { email, password });
  assert.equal(login.status, 303, login.body);
  const opened = await b.get(`/qr/${code}`);
  assert.equal(opened.status, 303, opened.body);
  const referId = /\/scans\/(\d+)$/.exec(opened.location ?? '')![1]!;
  const page = await b.get(opened.location!);
  assert.equal(page.status, 200);
  return { b, referId, waiting: opened.location!, page };
}
const orderPost = (b: FormBrowser, waiting: string, page: string, form: Record<string, string>) =>
  b.post(`${waiting}/order`, { csrf: b.csrfIn(page), ...form });
const ordersOfScan = async (t: TestApp, referId: string) =>
  (
    await t.db.query(`SELECT prepay_id::text AS id FROM pay_orders WHERE merchant_trade_no = $1`, [
      payerTradeNo(referId),
    ])
  ).rows.map((r) => r.id as string);

for (const kind of DB_KINDS) {
  describe(`Merchant QR codes (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let other: Merchant;
    let qr: MerchantQrService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let alice: Awaited<ReturnType<typeof createPayer>>;
    let bob: Awaited<ReturnType<typeof createPayer>>;

    before(async () => {
      t = await startTestApp({ kind });
      receiver = await startReceiver();
      m = await createMerchant(t, { name: 'QR Cafe', webhookUrl: receiver.url('/qr') });
      other = await createMerchant(t, { name: 'Other Cafe', webhookUrl: receiver.url('/other') });
      for (const x of [m, other])
        assert.equal(
          (await t.admin('PATCH', `/admin/v1/merchants/${x.merchantId}`, { features: { merchantQrCode: true } }))
            .status,
          200,
        );
      alice = await createPayer(t, `qa-${kind}@example.com`, { USDT: '100' });
      bob = await createPayer(t, `qb-${kind}@example.com`, { USDT: '100' });
      const s = t.app.services;
      qr = createMerchantQrService({ ...s, publicUrl: t.baseUrl, mode: 'sandbox' });
    });
    after(async () => {
      await receiver?.close();
      await assertAuditOk(t);
      await t.close();
    });

    const scan = (code: string, email = alice.email) =>
      t.admin('POST', `/sandbox/v1/merchant-qr/${code}/scan`, { payerEmail: email });
    async function deliver() {
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
    }
    async function register(merchantId: string, fixed?: { amount: string; currency: string }) {
      const r = await qr.register(merchantId, {
        qrType: fixed ? 'FIXED_AMOUNT' : 'USER_INPUT_AMOUNT',
        label: 'Counter 1',
        ...fixed,
      });
      assert.ok(r.ok);
      return r.value;
    }

    test('flag off (the default): no code is registered or scanned', async () => {
      const mm = await createMerchant(t, { name: 'No QR' });
      const r = await qr.register(mm.merchantId, { qrType: 'USER_INPUT_AMOUNT', label: 'x' });
      assert.equal(!r.ok && r.code, 'FEATURE_DISABLED');
      const c = await register(m.merchantId);
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { merchantQrCode: false } });
      assert.equal((await scan(c.code)).status, 404);
      assert.equal((await fetch(`${t.baseUrl}/qr/${c.code}`)).status, 404);
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { merchantQrCode: true } });
      assert.equal((await scan(c.code)).status, 200);
    });

    test('scan: the MERCHANT_QR_CODE webhook, data an object, signed with the Pay RSA key', async () => {
      const c = await register(m.merchantId, { amount: '3.5', currency: 'USDT' });
      const s = await scan(c.code);
      assert.equal(s.status, 200, JSON.stringify(s.json));
      const referId = s.json.referId as string;
      assert.match(referId, /^\d{18,19}$/);
      assert.equal(s.json.qrContent, `${t.baseUrl}/qr/${c.code}`);
      await deliver();
      const got = await waitFor('MERCHANT_QR_CODE', () =>
        receiver.received.find((x) => x.body.toString('utf8').includes(`"bizIdStr":"${referId}"`)),
      );
      const text = got.body.toString('utf8');
      assert.equal(
        text,
        `{"bizType":"MERCHANT_QR_CODE","bizId":${referId},"bizIdStr":"${referId}","bizStatus":"MERCHANT_QR_CODE_SCANED",` +
          `"data":{"qrContent":"${t.baseUrl}/qr/${c.code}","referId":"${referId}","qrCodeType":"FIXED_AMOUNT"}}`,
      );
      const v = await createPayWebhookVerifier(m.client).verify(got.headers, got.body);
      assert.equal(v.bizType, 'MERCHANT_QR_CODE');
      assert.equal(v.bizIdRaw, referId);
      assert.equal(v.bizStatus, 'MERCHANT_QR_CODE_SCANED');
      assert.equal(v.dataKind, 'object');
      assert.deepEqual(v.data, { qrContent: `${t.baseUrl}/qr/${c.code}`, referId, qrCodeType: 'FIXED_AMOUNT' });
      // The verifier refuses a tampered body and an object `data` on an event that carries a string.
      await assert.rejects(
        createPayWebhookVerifier(m.client).verify(got.headers, Buffer.from(text.replace('FIXED', 'FIXEX'))),
        /signature/,
      );
    });

    test('a disabled code is no longer scanned; its earlier scan still makes an order', async () => {
      const c = await register(m.merchantId);
      const before = (await scan(c.code)).json.referId;
      assert.equal(await qr.disable(other.merchantId, c.code), false, "another merchant's code");
      assert.equal((await scan(c.code)).status, 200);
      assert.equal(await qr.disable(m.merchantId, c.code), true);
      assert.equal(await qr.disable(m.merchantId, c.code), true, 'again: no change');
      const disabledAt = (await qr.getCode(c.code))!.disabledAt;
      assert.ok(disabledAt);
      const scans = (await t.db.query(`SELECT count(*)::int AS n FROM pay_merchant_qr_scans WHERE code = $1`, [c.code]))
        .rows[0].n;
      assert.equal((await scan(c.code)).status, 404);
      assert.equal((await fetch(`${t.baseUrl}/qr/${c.code}`)).status, 404);
      const n = (await t.db.query(`SELECT count(*)::int AS n FROM pay_merchant_qr_scans WHERE code = $1`, [c.code]))
        .rows[0].n;
      assert.equal(n, scans, 'no scan stored');
      assert.equal((await qr.getCode(c.code))!.disabledAt, disabledAt);
      const r = await m.client.post('/v3/order', v3Order({ qrCodeReferId: before }));
      assert.equal(r.json.status, 'SUCCESS', r.text);
    });

    test('a QR order offers no payment from another wallet, and the on-chain choice refuses it', async () => {
      const c = await register(m.merchantId);
      const referId = (await scan(c.code, alice.email)).json.referId;
      const made = await m.client.post('/v3/order', v3Order({ qrCodeReferId: referId, orderAmount: '2' }));
      assert.equal(made.json.status, 'SUCCESS', made.text);
      const token = String(made.json.data.checkoutUrl).split('/').pop()!;
      const plain = await m.client.post('/v3/order', v3Order({ orderAmount: '2' }));
      const plainToken = String(plain.json.data.checkoutUrl).split('/').pop()!;
      const a = formBrowser(t.baseUrl);
      assert.match((await a.get(`/checkout/${plainToken}`)).body, /id="onchain"/, 'an ordinary order offers it');
      const page = await a.get(`/checkout/${token}`);
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.body, /id="onchain"|Pay from another wallet/);
      // The page has no chooser form; a hand-made post carries the checkout's CSRF cookie.
      await a.get(`/checkout/${token}/onchain`);
      const chosen = await a.post(`/checkout/${token}/onchain`, {
        csrf: a.jar.get('rampart_csrf')!,
        option: 'USDT@ETH',
      });
      assert.equal(chosen.status, 409, chosen.body);
      assert.match(chosen.body, /can only be paid from the Rampart account it is reserved for/);
      const intents = await t.db.query(`SELECT 1 FROM pay_onchain_intents WHERE prepay_id = $1`, [
        made.json.data.prepayId,
      ]);
      assert.equal(intents.rows.length, 0, 'no on-chain payment started');
    });

    test('create order with qrCodeReferId: every refusal is 400102 (format 400101) and stores nothing', async () => {
      const fixed = await register(m.merchantId, { amount: '3.5', currency: 'USDT' });
      const open = await register(m.merchantId);
      const fixedScan = (await scan(fixed.code)).json.referId;
      const otherCode = await register(other.merchantId);
      const otherScan = (await scan(otherCode.code)).json.referId;
      const expiredScan = (await scan(open.code)).json.referId;
      t.clock.advance!(SCAN_TTL_MS);
      const freshFixed = (await scan(fixed.code)).json.referId;
      const before = (await t.db.query(`SELECT count(*)::int AS n FROM pay_orders`)).rows[0].n;
      const cases: [string, Record<string, unknown>, string][] = [
        ['not digits', { qrCodeReferId: 'abc' }, '400101'],
        ['unknown', { qrCodeReferId: '123456789012345678' }, '400102'],
        ["another merchant's scan", { qrCodeReferId: otherScan }, '400102'],
        ['expired', { qrCodeReferId: expiredScan }, '400102'],
        ['expired (fixed)', { qrCodeReferId: fixedScan, orderAmount: '3.5' }, '400102'],
        ['FIXED_AMOUNT, another amount', { qrCodeReferId: freshFixed, orderAmount: '3.6' }, '400102'],
        [
          'FIXED_AMOUNT, another currency',
          { qrCodeReferId: freshFixed, orderAmount: '3.5', currency: 'USDC' },
          '400102',
        ],
      ];
      for (const [name, extra, code] of cases) {
        const r = await m.client.post('/v3/order', v3Order(extra));
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
      }
      assert.equal((await t.db.query(`SELECT count(*)::int AS n FROM pay_orders`)).rows[0].n, before);
      const okay = await m.client.post('/v3/order', v3Order({ qrCodeReferId: freshFixed, orderAmount: '3.50000000' }));
      assert.equal(okay.json.status, 'SUCCESS', okay.text);
      const used = await m.client.post('/v3/order', v3Order({ qrCodeReferId: freshFixed, orderAmount: '3.5' }));
      assert.equal(used.json.code, '400102', used.text);
      assert.match(used.json.errorMessage, /already used/);
    });

    test('race: orders racing for one scan, exactly one is created', async () => {
      const c = await register(m.merchantId);
      const referId = (await scan(c.code)).json.referId;
      const all = await Promise.all(
        [1, 2, 3, 4].map(() => m.client.post('/v3/order', v3Order({ qrCodeReferId: referId }))),
      );
      assert.equal(all.filter((r) => r.json.status === 'SUCCESS').length, 1, all.map((r) => r.text).join('\n'));
      assert.ok(all.filter((r) => r.json.status !== 'SUCCESS').every((r) => r.json.code === '400102'));
    });

    test('payable only by the scanning user; the waiting scan turns into the checkout', async () => {
      const c = await register(m.merchantId);
      const referId = (await scan(c.code, alice.email)).json.referId;
      assert.equal((await fetch(`${t.baseUrl}/qr/${c.code}/scans/${referId}/status`)).status, 404);
      const r = await m.client.post('/v3/order', v3Order({ qrCodeReferId: referId, orderAmount: '7' }));
      assert.equal(r.json.status, 'SUCCESS', r.text);
      const prepayId = r.json.data.prepayId;
      const byBob = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: bob.email });
      assert.equal(byBob.status, 409, JSON.stringify(byBob.json));
      const byAlice = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: alice.email });
      assert.equal(byAlice.json.status, 'PAID', JSON.stringify(byAlice.json));
      // An ordinary order is payable by anyone.
      const plain = await m.client.post('/v3/order', v3Order({ orderAmount: '1' }));
      const p = await t.admin('POST', `/sandbox/v1/orders/${plain.json.data.prepayId}/pay`, { payerEmail: bob.email });
      assert.equal(p.json.status, 'PAID');
      const scanRow = await qr.getScan(referId);
      assert.equal(scanRow?.prepayId, prepayId);
    });

    test('sandbox: the payer enters the amount; bad amounts refused changing nothing; concurrent submits make one order', async () => {
      const c = await register(m.merchantId);
      const { b, referId, waiting, page } = await scanInBrowser(t, c.code, alice.email, alice.password);
      assert.match(page.body, /id="waiting"/);
      assert.match(page.body, /id="payer-order"[^]*Enter the amount[^]*name="amount"[^]*name="currency"/);
      const before = await snapshot(t.db);
      const bad: [string, string, RegExp][] = [
        ['', 'USDT', /above zero/],
        ['0', 'USDT', /above zero/],
        ['0.000000001', 'USDT', /at most 8 decimals/],
        ['-1', 'USDT', /above zero/],
        ['1e3', 'USDT', /above zero/],
        ['abc', 'USDT', /above zero/],
        ['3.5', 'DOGE', /listed currencies/],
        ['3.5', '', /listed currencies/],
      ];
      for (const [amount, currency, why] of bad) {
        const r = await orderPost(b, waiting, page.body, { amount, currency });
        assert.equal(r.status, 400, `${amount} ${currency}: ${r.body}`);
        assert.match(r.body, why, `${amount} ${currency}`);
        assert.match(r.body, /id="error"[^]*id="amount"/, 'the form is shown again');
      }
      assert.deepEqual(await snapshot(t.db), before, 'nothing changed');
      assert.equal((await qr.getScan(referId))!.prepayId, null);
      // Without the form's token: refused, nothing made.
      assert.equal((await b.post(`${waiting}/order`, { amount: '3.5', currency: 'USDT' })).status, 403);
      // Another user cannot submit on alice's scan.
      const other = await scanInBrowser(t, c.code, bob.email, bob.password);
      const byBob = await orderPost(other.b, waiting, other.page.body, { amount: '3.5', currency: 'USDT' });
      assert.equal(byBob.status, 404);
      assert.deepEqual(await ordersOfScan(t, referId), []);

      const all = await Promise.all(
        [1, 2, 3, 4, 5].map(() => orderPost(b, waiting, page.body, { amount: '3.5', currency: 'USDT' })),
      );
      const made = await ordersOfScan(t, referId);
      assert.equal(made.length, 1, 'exactly one order');
      const order = (await t.app.services.orders.getByPrepayId(made[0]!))!;
      for (const r of all) {
        assert.equal(r.status, 303, r.body);
        assert.equal(r.location, `/checkout/${order.checkoutToken}`);
      }
      assert.equal(order.merchantId, m.merchantId);
      assert.equal(order.orderAmount, '3.50000000');
      assert.equal(order.currency, 'USDT');
      assert.equal(order.apiVersion, 'v3');
      assert.equal((await qr.getScan(referId))!.prepayId, order.prepayId, 'the scan is linked (used)');
      // The merchant sees it as its own order, and can no longer use the scan.
      const q = await m.client.post('/v2/order/query', { prepayId: order.prepayId });
      assert.equal(q.json.data.merchantTradeNo, payerTradeNo(referId), q.text);
      assert.equal(q.json.data.status, 'INITIAL');
      const merchantToo = await m.client.post('/v3/order', v3Order({ qrCodeReferId: referId, orderAmount: '3.5' }));
      assert.equal(merchantToo.json.code, '400102', merchantToo.text);
      // A reload opens the checkout; a second submit, even with another amount, makes no second order.
      assert.equal((await b.get(waiting)).location, `/checkout/${order.checkoutToken}`);
      const again = await orderPost(b, waiting, page.body, { amount: '9', currency: 'USDC' });
      assert.equal(again.location, `/checkout/${order.checkoutToken}`);
      assert.deepEqual(await ordersOfScan(t, referId), made);
      // Payable by the scanning user only.
      const byBobPay = await t.admin('POST', `/sandbox/v1/orders/${order.prepayId}/pay`, { payerEmail: bob.email });
      assert.equal(byBobPay.status, 409);
      const paid = await t.admin('POST', `/sandbox/v1/orders/${order.prepayId}/pay`, { payerEmail: alice.email });
      assert.equal(paid.json.status, 'PAID', JSON.stringify(paid.json));
    });

    test('sandbox: a FIXED_AMOUNT code offers Continue at the registered amount; an expired scan is refused', async () => {
      const c = await register(m.merchantId, { amount: '2.25', currency: 'USDC' });
      const { b, referId, waiting, page } = await scanInBrowser(t, c.code, alice.email, alice.password);
      assert.match(page.body, /id="continue"/);
      assert.doesNotMatch(page.body, /name="amount"/);
      const r = await orderPost(b, waiting, page.body, { amount: '100', currency: 'USDT' }); // ignored
      assert.equal(r.status, 303, r.body);
      const [id] = await ordersOfScan(t, referId);
      const order = (await t.app.services.orders.getByPrepayId(id!))!;
      assert.equal(r.location, `/checkout/${order.checkoutToken}`);
      assert.equal(`${order.orderAmount} ${order.currency}`, '2.25000000 USDC');

      const late = await scanInBrowser(t, c.code, alice.email, alice.password);
      t.clock.advance!(SCAN_TTL_MS);
      const before = await snapshot(t.db);
      const refused = await orderPost(late.b, late.waiting, late.page.body, {});
      assert.equal(refused.status, 409, refused.body);
      assert.match(refused.body, /id="expired"/);
      assert.deepEqual(await snapshot(t.db), before);
    });
  });
}

for (const kind of DB_KINDS) {
  describe(`Merchant QR codes in production (${kind}): the merchant sets the amount, the payer cannot`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind, env: await productionEnv({ PUBLIC_URL: 'https://rampart.example' }) });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    test('the waiting page has no amount form and the endpoint refuses, changing nothing', async () => {
      const m = await createMerchant(t, { name: 'Prod QR Cafe' });
      const on = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { merchantQrCode: true } });
      assert.equal(on.status, 200);
      const payer = await t.app.services.accounts.createPayer({
        email: `qp-${kind}@example.com`,
        password: 'pw-12345678',
      });
      assert.ok(payer.ok);
      const qr = createMerchantQrService({
        ...t.app.services,
        publicUrl: 'https://rampart.example',
        mode: 'production',
      });
      const r = await qr.register(m.merchantId, { qrType: 'USER_INPUT_AMOUNT', label: 'Till' });
      assert.ok(r.ok);
      const { b, referId, waiting, page } = await scanInBrowser(t, r.value.code, payer.value.email, 'pw-12345678');
      assert.match(page.body, /id="waiting"/);
      assert.doesNotMatch(page.body, /payer-order|name="amount"|Enter the amount/);
      const before = await snapshot(t.db);
      const post = await orderPost(b, waiting, page.body, { amount: '3.5', currency: 'USDT' });
      assert.equal(post.status, 403, post.body);
      assert.match(post.body, /id="sandbox-only"/);
      assert.deepEqual(await snapshot(t.db), before);
      assert.equal((await qr.getScan(referId))!.prepayId, null);
      // The merchant's own order with the referId still works (§17.3).
      const made = await m.client.post('/v3/order', v3Order({ qrCodeReferId: referId, orderAmount: '3.5' }));
      assert.equal(made.json.status, 'SUCCESS', made.text);
      const token = String(made.json.data.checkoutUrl).split('/').pop();
      assert.equal((await b.get(waiting)).location, `/checkout/${token}`, 'the page turns into its checkout');
    });
  });
}
