import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDirectDebitService } from '../src/pay/directdebit/service.ts';
import { assertAuditOk, createMerchant, createPayer, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, dashboardFirstLogin, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

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
      subMerchants: { isActive: async () => false },
      openIdSalt: 'test',
      publicUrl: t.baseUrl,
      mode: 'sandbox',
      maxOrderExpireMs: t.config.pay.maxExpireMs,
      limitUsd: '10000',
    });
    while ((await worker.runOnce()) > 0);

    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    const mail = (await t.app.services.mailer.list(email)).find((x) => x.subject.startsWith('Set your'))!;
    await dashboardFirstLogin(page, mail.text, email, 'dd-owner-password-1');
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
