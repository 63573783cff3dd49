import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDirectDebitService } from '../src/pay/directdebit/service.ts';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, dashboardOwnerPage, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * The payer's direct-debit pages (binance-pay-extended.md §14.3) in Chromium at a phone's width: the signing page
 * (log in, the merchant, the limit and the cycle, Agree), the expired request, and the payer's agreements with Cancel
 * (termination way 0); the merchant dashboard's contracts page with Terminate (way 3). Screenshots under
 * test-results/screenshots/directdebit-*.png.
 */
describe('direct debit pages in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;

  before(async () => {
    [t, browser] = await Promise.all([startTestApp(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  async function fits(page: Awaited<ReturnType<Browser['newPage']>>, name: string) {
    assert.deepEqual(await phoneFit(page), [], name);
    await browser.screenshot(page, `directdebit-${name}`);
  }

  test('sign on the page, see it in the account, cancel it; an expired request says so', async () => {
    const m = await createMerchant(t, { name: 'Northwind Fitness & Wellness Clubs International' });
    const payer = await createPayer(t, 'a.long.address.for.a.narrow.phone.screen@subdomain.example.com', {
      USDT: '10',
    });
    const first = new Date(t.clock.now());
    const firstDeductTime = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 1, 10);
    const code = `B${Date.now()}`;
    const r = await m.client.post('/direct-debit/contract', {
      merchantContractCode: code,
      serviceName: 'Premium Gym Membership',
      scenarioCode: 'Membership',
      singleUpperLimit: '30',
      currency: 'USDT',
      periodic: true,
      cycleDebitFixed: true,
      cycleType: 'MONTH',
      cycleValue: 1,
      firstDeductTime,
      merchantAccountNo: 'member-000123456789@northwind-fitness.example.com',
    });
    assert.equal(r.json.status, 'SUCCESS', r.text);
    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(r.json.data.deeplink);
    assert.equal(await page.textContent('#merchant'), 'Northwind Fitness & Wellness Clubs International');
    assert.equal(await page.textContent('#limit'), '30.00 USDT');
    assert.equal(await page.textContent('#cycle'), 'every 1 month');
    assert.equal(await page.textContent('#fixed'), 'Fixed');
    await fits(page, 'sign-login');
    await page.fill('#email', payer.email);
    await page.fill('#password', payer.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#agree');
    await fits(page, 'sign-agree');
    await page.click('#agree');
    await page.waitForSelector('#state');
    assert.equal(await page.textContent('#state'), 'Active');
    await fits(page, 'signed');
    const q = await m.client.post('/direct-debit/contract/query', { merchantContractCode: code });
    assert.equal(q.json.data.bizStatus, 'CONTRACT_SIGNED');

    // The payer's agreements: this one, with Cancel.
    await page.goto(`${t.baseUrl}/wallet/contracts`);
    assert.equal(await page.locator('.contract').count(), 1);
    await fits(page, 'account-list');
    await page.click('.contract button[type=submit]');
    await page.waitForSelector('.flash');
    assert.match((await page.textContent('#none'))!, /no active\s+agreements/);
    assert.equal(await page.textContent('.flash'), 'The agreement was cancelled.');
    await fits(page, 'account-cancelled');
    const after = await m.client.post('/direct-debit/contract/query', { merchantContractCode: code });
    assert.equal(after.json.data.bizStatus, 'CONTRACT_TERMINATED');
    assert.equal(after.json.data.contractTerminationWay, 0);

    // A request past requestExpireTime.
    const late = await m.client.post('/direct-debit/contract', {
      merchantContractCode: `L${Date.now()}`,
      serviceName: 'Parking',
      scenarioCode: 'Car_Parking',
      singleUpperLimit: '5',
      currency: 'USDT',
      periodic: false,
    });
    await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 2 * 3_600_000 });
    await page.goto(late.json.data.deeplink);
    assert.equal(await page.textContent('#state'), 'This request has expired');
    assert.equal(await page.locator('#agree').count(), 0);
    await fits(page, 'expired');
  });

  test('the wallet links to the agreements', async () => {
    const payer = await createPayer(t, 'dd-wallet-link@example.com', { USDT: '1' });
    await browser.context.clearCookies(); // the earlier test's payer is still logged in
    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(`${t.baseUrl}/login?next=${encodeURIComponent('/wallet')}`);
    await page.fill('#email', payer.email);
    await page.fill('#password', payer.password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/wallet$/);
    await fits(page, 'wallet-link');
    await page.click('#contracts');
    await page.waitForURL(/\/wallet\/contracts$/);
    assert.equal(await page.textContent('h1'), 'Direct debit agreements');
  });

  test('sign while paying (§14.9): the terms under the amount at 390 px; paying signs it, CONTRACT_SIGNED after PAY_SUCCESS', async () => {
    const receiver = await startReceiver();
    try {
      const m = await createMerchant(t, { name: 'Streamly', webhookUrl: receiver.url('/m') });
      const verifier = createPayWebhookVerifier(m.client);
      const payer = await createPayer(t, 'dd-checkout-payer@example.com', { USDT: '20' });
      await browser.context.clearCookies();
      const now = new Date(t.clock.now());
      const firstDeductTime = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 5, 9);
      const contractEndTime = Date.UTC(now.getUTCFullYear() + 1, now.getUTCMonth(), 5, 9);
      const code = `CHK${Date.now()}`;
      const o = await m.client.post(
        '/v3/order',
        v3Order({
          orderAmount: '9.99',
          currency: 'USDT',
          description: 'Streamly Premium, first month',
          directDebitContract: {
            merchantContractCode: code,
            serviceName: 'Streamly Premium',
            scenarioCode: 'Digital_Media',
            singleUpperLimit: 9.99,
            periodic: true,
            cycleDebitFixed: true,
            cycleType: 'MONTH',
            cycleValue: 1,
            firstDeductTime,
            contractEndTime,
          },
        }),
      );
      assert.equal(o.json.status, 'SUCCESS', o.text);
      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      await page.goto(o.json.data.checkoutUrl);
      // Under the amount: the service, the limit per debit, the periodic terms, the end date, and that paying signs.
      const amountBox = (await page.locator('#amount').boundingBox())!;
      const termsBox = (await page.locator('#contract').boundingBox())!;
      assert.ok(termsBox.y > amountBox.y + amountBox.height, 'the terms are below the amount');
      assert.ok(await page.locator('#contract').isVisible());
      assert.equal(await page.textContent('#service'), 'Streamly Premium');
      assert.equal(await page.textContent('#limit'), '9.99 USDT');
      assert.equal(await page.textContent('#fixed'), 'Fixed');
      assert.equal(await page.textContent('#cycle'), 'every 1 month');
      assert.equal(await page.textContent('#first'), new Date(firstDeductTime).toISOString().slice(0, 10));
      assert.equal(await page.textContent('#end'), new Date(contractEndTime).toISOString().slice(0, 10));
      assert.match((await page.textContent('#contract-consent'))!, /Paying this order also signs this agreement\./);
      await fits(page, 'checkout-terms');
      await page.fill('#email', payer.email);
      await page.fill('#password', payer.password);
      await page.click('button[type=submit]');
      await page.waitForSelector('#pay');
      assert.equal(
        await page.textContent('#pay-signs'),
        'Paying also signs the direct debit agreement shown above.',
        'said again beside the Pay button',
      );
      await fits(page, 'checkout-pay');
      await page.click('#pay');
      await page.waitForSelector('#contract-status');
      assert.equal(await page.textContent('#contract-status'), 'Agreement signed');
      assert.equal(await page.locator('#contract-consent').count(), 0);
      await fits(page, 'checkout-signed');

      const q = (await m.client.post('/direct-debit/contract/query', { merchantContractCode: code })).json.data;
      assert.equal(q.bizStatus, 'CONTRACT_SIGNED');
      // Both webhooks, verified; the contract's enqueued after the payment's, in the payment's transaction.
      const queued = (
        await t.db.query(
          `SELECT payload->>'bizStatus' AS s FROM outbox WHERE payload->>'bizId' IN ($1, $2) ORDER BY id`,
          [o.json.data.prepayId, String(q.contractId)],
        )
      ).rows.map((r) => r.s);
      assert.deepEqual(queued, ['PAY_SUCCESS', 'CONTRACT_SIGNED']);
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
      for (const [bizId, bizStatus] of [
        [o.json.data.prepayId, 'PAY_SUCCESS'],
        [String(q.contractId), 'CONTRACT_SIGNED'],
      ]) {
        const got = await waitFor(`${bizStatus}`, () =>
          receiver.received.find(
            (x) =>
              x.body.toString('utf8').includes(`"bizStatus":"${bizStatus}"`) &&
              x.body.toString('utf8').includes(`"bizIdStr":"${bizId}"`),
          ),
        );
        const v = await verifier.verify(got.headers as any, got.body);
        assert.equal(v.bizStatus, bizStatus);
      }
    } finally {
      await receiver.close();
    }
  });

  test('dashboard: the contracts with status, limit, terms and debits; Terminate a signed one', async () => {
    const email = 'dd-owner@example.com';
    const m = await createMerchant(t, { name: 'Contract Corner', email });
    const payer = await createPayer(t, 'dd-dashboard-payer@example.com', { USDT: '50' });
    const create = async (code: string, over: Record<string, unknown> = {}) => {
      const r = await m.client.post('/direct-debit/contract', {
        merchantContractCode: code,
        serviceName: 'Car wash subscription',
        scenarioCode: 'Car_Parking',
        singleUpperLimit: '25',
        currency: 'USDT',
        periodic: false,
        ...over,
      });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      return r.json.data.preContractId as string;
    };
    const signedPre = await create('DASHSIGNED1');
    await create('DASHWAITING1', { serviceName: 'Streaming' });
    const d = await t.admin('POST', `/sandbox/v1/contracts/${signedPre}/decision`, {
      payerEmail: payer.email,
      decision: 'AGREE',
    });
    assert.equal(d.status, 200);
    const contractId = String(d.json.contractId);
    const apply = await m.client.post('/pay/apply', {
      merchantRequestId: `DASH${Date.now()}`,
      tradeMode: 'DIRECT_DEBIT',
      bizId: contractId,
      amount: '12.5',
      currency: 'USDT',
      productName: 'Wash',
    });
    assert.equal(apply.json.status, 'SUCCESS', apply.text);
    // The debit worker, over the test's database (the app's workers are off).
    const s = t.app.services;
    const worker = createDirectDebitService({
      ...s,
      subMerchants: { isActive: async () => false, face: async () => null },
      openIdSalt: 'test',
      publicUrl: t.baseUrl,
      mode: 'sandbox',
      maxOrderExpireMs: t.config.pay.maxExpireMs,
      limitUsd: '10000',
    });
    while ((await worker.runOnce()) > 0);

    const page = await dashboardOwnerPage(browser, t, email, 'dd-owner-password-1');
    await page.goto(`${t.baseUrl}/en/dashboard/contracts`);
    const row = page.locator('tr[data-code="DASHSIGNED1"]');
    assert.match(await row.innerText(), /SIGNED[\s\S]*25\.00 USDT[\s\S]*On demand[\s\S]*1 · 12\.50 USDT/);
    assert.match(await page.locator('tr[data-code="DASHWAITING1"]').innerText(), /INITIAL/);
    assert.equal(await page.locator('tr[data-code="DASHWAITING1"] button').count(), 0);
    await fits(page, 'dashboard');
    await row.locator('button[type=submit]').click();
    await page.waitForURL(/terminated=1/);
    assert.match(await page.innerText('tr[data-code="DASHSIGNED1"]'), /TERMINATED/);
    await fits(page, 'dashboard-terminated');
    const q = await m.client.post('/direct-debit/contract/query', { contractId });
    assert.equal(q.json.data.contractTerminationWay, 3);
  });
});
