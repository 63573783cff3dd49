import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMerchantQrService, SCAN_TTL_MS, type MerchantQrService } from '../src/pay/merchantqr/service.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { formBrowser } from './support/form-browser.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Static merchant QR codes (binance-pay-extended.md §17.3): the flag, the scan and its MERCHANT_QR_CODE webhook (data
 * an object, RSA-verified), every refusal of qrCodeReferId on create order, the race of two orders for one scan, and
 * payment by the scanning user only.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;

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
  });
}
