import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser, dashboardOwnerPage } from './support/browser.ts';

/**
 * The dashboard's money pages of issue #15 in Chromium at 390 px: wallets and transfers, payouts, sub-merchants,
 * reports. Each page is checked for a phone (phoneFit) and saved as a screenshot in test-results/screenshots.
 */
const PASSWORD = 'correct horse battery';

describe('dashboard money pages in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let m: Awaited<ReturnType<typeof createMerchant>>;
  let payer: Awaited<ReturnType<typeof createPayer>>;
  const email = 'money-owner@shop.example';

  /** The page on a phone (checked, saved), then the same page at a desktop width (saved as `-desktop`). */
  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `dashboard-${name}`);
    await page.setViewportSize({ width: 1280, height: 900 });
    await browser.screenshot(page, `dashboard-${name}-desktop`);
    await page.setViewportSize(PHONE);
  }

  before(async () => {
    t = await startTestApp({ workers: true });
    m = await createMerchant(t, { name: 'Money Corner', email });
    payer = await createPayer(t, 'money-payer@example.com', { USDT: '500' });
    const order = await m.client.post('/v3/order', v3Order({ orderAmount: '120' }));
    await t.admin('POST', `/sandbox/v1/orders/${order.json.data.prepayId}/pay`, { payerEmail: payer.email });
    browser = await launchBrowser();
    page = await dashboardOwnerPage(browser, t, email, PASSWORD);
  });
  after(async () => {
    await browser?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  test('wallets: both balances, a transfer funding → spot and back, a shortfall refused with nothing moved', async () => {
    await page.goto(`${t.baseUrl}/en/dashboard/balances`);
    assert.match(await page.innerText('#balances'), /USDT\s+118\.80\b/);
    assert.match(await page.innerText('#no-transfers'), /No transfers yet/);
    await shot('wallets-empty');
    await page.selectOption('#direction', 'TO_MAIN');
    await page.fill('#amount', '20.5');
    await page.click('#transfer-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /Moved 20\.5 USDT to the spot wallet/);
    assert.match(await page.innerText('#balances'), /USDT\s+98\.30\b/);
    assert.match(await page.innerText('#spot-balances'), /USDT\s+20\.50\b/);
    assert.match(await page.innerText('#transfers'), /Funding → Spot\s+20\.50 USDT[\s\S]*SUCCESS/);
    await shot('wallets-transferred');
    await page.selectOption('#direction', 'TO_PAY');
    await page.fill('#amount', '30');
    await page.click('#transfer-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /Not enough USDT available in the source wallet: nothing was moved/);
    assert.match(await page.innerText('#spot-balances'), /USDT\s+20\.50\b/);
    await shot('wallets-shortfall');
    await page.fill('#amount', '1.123456789');
    await page.click('#transfer-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /at most 8 decimals/);
    // The same form sent twice (a double click, a resent POST) moves the money once: its key came with the page.
    await page.selectOption('#direction', 'TO_MAIN');
    await page.fill('#amount', '2');
    const statuses = await page.evaluate(async () => {
      const form = document.querySelector<HTMLFormElement>('#transfer-form')!;
      const body = new URLSearchParams(new FormData(form) as unknown as Record<string, string>);
      const first = await fetch(form.action, { method: 'POST', body });
      const second = await fetch(form.action, { method: 'POST', body });
      return [first.status, second.status];
    });
    assert.deepEqual(statuses, [200, 200]);
    const spot = await m.client.post('/v2/balance', { wallet: 'SPOT_WALLET' });
    assert.equal(spot.json.data.balance[0].available, 22.5);
  });

  test(
    "payouts: a batch from a loaded CSV file, each recipient's result, the CSV download; a bad line " + 'is named',
    async () => {
      await page.goto(`${t.baseUrl}/en/dashboard/payouts`);
      assert.match(await page.innerText('#no-batches'), /No payouts yet/);
      await shot('payouts-empty');
      await page.fill('#batchName', 'March rewards');
      await page.fill('#lines', `BINANCE_ID,${payer.payerId},5,thanks\nBINANCE_ID,${payer.payerId},1.2.3`);
      await page.click('#payout-form button[type=submit]');
      assert.match(await page.innerText('#flash'), /Line 2: the amount 1\.2\.3 is not a number/);
      assert.equal(await page.inputValue('#batchName'), 'March rewards', 'the form keeps what was typed');
      await shot('payouts-bad-line');
      // The file input loads the chosen CSV into the recipients box.
      await page.setInputFiles('#csv', {
        name: 'rewards.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(
          `receiveType,receiver,amount,remark\nBINANCE_ID,${payer.payerId},5,thanks, ` +
            `really\nEMAIL,newbie@example.com,2.5,welcome\n`,
        ),
      });
      await page.waitForFunction(() =>
        (document.querySelector('#lines') as HTMLTextAreaElement).value.includes('newbie'),
      );
      await page.click('#payout-form button[type=submit]');
      await page.waitForURL(/\/en\/dashboard\/payouts\/D[A-Za-z0-9]{31}\?created=1/);
      assert.match(await page.innerText('#flash'), /Batch accepted/);
      for (let i = 0; i < 50 && !/PART SUCCESS/.test(await page.innerText('main')); i++) {
        await new Promise((r) => setTimeout(r, 200));
        await page.reload();
      }
      const details = await page.innerText('#details');
      assert.match(details, /5\.00 USDT[\s\S]*SUCCESS[\s\S]*paid/);
      assert.match(details, /newbie@example\.com[\s\S]*AWAITING RECEIPT[\s\S]*72 hours/);
      assert.match(await page.innerText('#paid'), /^5\.00 USDT$/);
      await shot('payout-batch');
      const csv = await page.evaluate(async () => {
        const a = document.querySelector<HTMLAnchorElement>('#download')!;
        return (await fetch(a.href)).text();
      });
      assert.match(csv, /^Order ID,Merchant Send ID,/);
      assert.match(csv, /,1,BINANCE_ID,\d+,FUNDING_WALLET,USDT,5\.00000000,0\.00000000,SUCCESS,\d+,"thanks, really",/);
      await page.goto(`${t.baseUrl}/en/dashboard/payouts`);
      assert.match(await page.innerText('#batches'), /March rewards[\s\S]*7\.5\d* USDT[\s\S]*PART SUCCESS/);
      await shot('payouts-list');
      // Through the API, the same batch is the merchant's /payout/query answer.
      const requestId = /payouts\/(D\w+)/.exec((await page.getAttribute('#batches a', 'href')) ?? '')![1]!;
      const q = await m.client.post('/payout/query', { requestId });
      assert.equal(q.json.data.batchStatus, 'PART_SUCCESS', q.text);
      // The same form sent twice is one batch: both answers lead to the same batch page.
      await page.fill('#batchName', 'Twice');
      await page.fill('#lines', `BINANCE_ID,${payer.payerId},1`);
      const locations = await page.evaluate(async () => {
        const form = document.querySelector<HTMLFormElement>('#payout-form')!;
        const body = new URLSearchParams(new FormData(form) as unknown as Record<string, string>);
        const first = await fetch(form.action, { method: 'POST', body });
        const second = await fetch(form.action, { method: 'POST', body });
        return [first.url, second.url];
      });
      assert.equal(locations[0], locations[1]);
      await page.goto(`${t.baseUrl}/en/dashboard/payouts`);
      assert.equal((await page.innerText('#batches')).match(/Twice/g)?.length, 1);
    },
  );

  test(
    'sub-merchants: refused until the partner feature is on; add (a missing conditional field named), ' +
      'edit, disable',
    async () => {
      await page.goto(`${t.baseUrl}/en/dashboard/sub-merchants`);
      assert.match(await page.innerText('#flash'), /for channel partners/);
      await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { channelPartner: true } });
      await page.goto(`${t.baseUrl}/en/dashboard/sub-merchants`);
      assert.match(await page.innerText('nav'), /Sub-merchants/);
      assert.match(await page.innerText('#no-sub-merchants'), /No sub-merchants yet/);
      await shot('sub-merchants-empty');
      await page.click('#add');
      await page.fill('#merchantName', 'Corner Bakery');
      await page.selectOption('#storeType', '-1');
      await page.selectOption('#merchantMcc', '1040');
      await page.fill('#siteUrl', 'https://bakery.example');
      await page.click('#sub-merchant-form button[type=submit]');
      assert.match(await page.innerText('#flash'), /Store address \(address\): required when storeType is 1 or -1/);
      assert.equal(await page.inputValue('#siteUrl'), 'https://bakery.example', 'the form keeps what was typed');
      await shot('sub-merchant-form-error');
      await page.fill('#address', '1 Example Road, Singapore');
      await page.fill('#blockPayerKycCountries', 'us, kp');
      await page.click('#sub-merchant-form button[type=submit]');
      const added = await page.innerText('#flash');
      assert.match(added, /Added Corner Bakery \(sub-merchant ID (\d{16})\)/);
      const id = /ID (\d{16})/.exec(added)![1]!;
      const q = await m.client.post('/submerchant/query', { subMerchantId: id });
      assert.equal(q.json.data.address, '1 Example Road, Singapore', q.text);
      assert.deepEqual(q.json.data.blockPayerKycCountries, ['US', 'KP']);
      await shot('sub-merchants-list');
      await page.click(`a[href$="/sub-merchants/${id}"]`);
      await page.fill('#merchantName', 'Corner Bakery & Cafe');
      await page.click('#sub-merchant-form button[type=submit]');
      assert.match(await page.innerText('#flash'), /Saved Corner Bakery & Cafe/);
      const order = await m.client.post('/v3/order', v3Order({ merchant: { subMerchantId: id } }));
      assert.equal(order.json.status, 'SUCCESS', order.text);
      await page.click('#sub-merchants button[type=submit]');
      assert.match(await page.innerText('#flash'), /is disabled/);
      assert.match(await page.innerText('#sub-merchants'), /DISABLED[\s\S]*ask the operator/);
      await shot('sub-merchants-disabled');
      const refused = await m.client.post('/v3/order', v3Order({ merchant: { subMerchantId: id } }));
      assert.equal(refused.json.code, '400206', refused.text);
    },
  );

  test(
    'report files: the payment file of a day once the day has ended; a balance report requested, prepared, ' +
      'downloaded',
    async () => {
      const orderDay = new Date(t.clock.now()).toISOString().slice(0, 10);
      const adv = await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 86_400_000 });
      assert.equal(adv.status, 200, JSON.stringify(adv.json));
      const today = new Date(t.clock.now()).toISOString().slice(0, 10);
      await page.goto(`${t.baseUrl}/en/dashboard/reports`);
      await page.click('#report-files');
      assert.match(await page.innerText('#no-balance-reports'), /No balance reports yet/);
      await page.selectOption('#kind', 'Transaction:Payment');
      await page.fill('#from', orderDay);
      await page.fill('#to', today);
      await page.click('#files-form button[type=submit]');
      const files = await page.innerText('#files');
      const ddmmyyyy = `${orderDay.slice(8, 10)}${orderDay.slice(5, 7)}${orderDay.slice(0, 4)}`;
      assert.match(files, new RegExp(`T_Payment_${ddmmyyyy}\\.xlsx`));
      const csv = await page.evaluate(async () =>
        (await fetch(document.querySelector<HTMLAnchorElement>('#files a[href$="csv"]')!.href)).text(),
      );
      assert.match(csv, /^Order Time,Merchant ID,Sub-merchant ID,Prepay ID/);
      assert.match(csv, /,120\.00000000,/);
      await shot('report-files');
      await page.fill('#startDate', orderDay);
      await page.fill('#endDate', today);
      await page.click('#balance-form button[type=submit]');
      assert.match(await page.innerText('#flash'), /Balance report \d{18} requested \(1 day\)/);
      for (let i = 0; i < 50 && !/SUCCESS/.test(await page.innerText('#balance-reports')); i++) {
        await new Promise((r) => setTimeout(r, 200));
        await page.goto(`${t.baseUrl}/en/dashboard/reports/files`);
      }
      assert.match(await page.innerText('#balance-reports'), /SUCCESS[\s\S]*XLSX · CSV/);
      const balance = await page.evaluate(async () =>
        (await fetch(document.querySelector<HTMLAnchorElement>('#balance-reports a[href$="csv"]')!.href)).text(),
      );
      assert.match(balance, /^Time,Wallet,Asset,Change,Balance After,Type,Reference/);
      assert.match(balance, /FUNDING_WALLET,USDT,[\d.]+,[\d.]+,PAYMENT,/);
      await shot('report-files-balance');
      await page.fill('#startDate', today);
      await page.fill('#endDate', today);
      await page.click('#balance-form button[type=submit]');
      assert.match(await page.innerText('#flash'), /at least one day after startDate/);
    },
  );
});
