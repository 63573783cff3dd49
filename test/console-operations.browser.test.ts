import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { createOperator } from './support/console.ts';
import { startReceiver } from './support/webhook-receiver.ts';

/**
 * Issue #17 in Chromium, the console's operations pages: an administrator logs in through the form (with the
 * authenticator's code), finds an order by its merchantTradeNo and opens it; sees its webhook delivery FAILED (the
 * receiver answered 500) with the attempt's answer; fixes the receiver, presses Redeliver and sees it DELIVERED; then
 * uses the sandbox panel to create a funded payer and advance the clock; the ledger and hot wallet pages open. Each
 * page is checked at 390 px (phoneFit) and kept as a screenshot (console-<page>), the order page also at 1366 px.
 */
const HOUR = 3_600_000;
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

describe('console operations pages in Chromium', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let broken = true;
  let prepayId: string;
  let tradeNo: string;

  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `console-${name}`);
  }

  before(async () => {
    t = await startTestApp({ workers: true });
    receiver = await startReceiver(() =>
      broken ? { status: 500, body: 'receiver down' } : { status: 200, body: '{"returnCode":"SUCCESS"}' },
    );
    const m = await createMerchant(t, { name: 'Gelato Ops', webhookUrl: receiver.url('/pay') });
    await createPayer(t, 'ops-browser-payer@example.com', { USDT: '50' });
    const order = v3Order({ orderAmount: '7.25' });
    tradeNo = order.merchantTradeNo as string;
    prepayId = (await m.client.post('/v3/order', order)).json.data.prepayId;
    await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: 'ops-browser-payer@example.com' });
    // The receiver answers 500 to every attempt: the business clock runs through the retries until it fails.
    for (let i = 0; i < 400; i++) {
      const d = (await t.admin('GET', `/admin/v1/webhooks/deliveries?bizId=${prepayId}`)).json.deliveries[0];
      if (d?.status === 'FAILED') break;
      if (d?.status === 'PENDING' && d.nextAttemptAt > t.clock.now()) t.clock.advance!(8 * HOUR);
      await new Promise((r) => setTimeout(r, 25));
    }
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setViewportSize(PHONE);
  });
  after(async () => {
    await browser?.close();
    await receiver?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  test('find an order, redeliver its failed webhook, use the sandbox panel', async () => {
    const admin = await createOperator(t, 'admin');
    await page.goto(`${t.baseUrl}/admin/orders`);
    await page.waitForURL(/\/admin\/login/);
    await page.fill('#email', admin.email);
    await page.fill('#password', admin.password);
    await page.fill('#code', admin.code());
    await page.click('#account-login button[type=submit]');
    await page.waitForURL(/\/admin\/orders$/);

    // Find the order by its merchantTradeNo and open it.
    await page.fill('#q', tradeNo);
    await page.click('#order-search button');
    await page.waitForURL(/\/admin\/orders\?q=/);
    await shot('orders');
    await page.click(`a[href="/admin/orders/pay/${prepayId}"]`);
    await page.waitForURL(new RegExp(`/admin/orders/pay/${prepayId}$`));
    assert.match(await text(page, '#order-status'), /PAID/);
    assert.match(await text(page, '#order-history'), /Paid with 7\.25 USDT/);
    await shot('order');
    await page.setViewportSize({ width: 1366, height: 900 });
    await browser.screenshot(page, 'console-order-desktop');
    await page.setViewportSize(PHONE);

    // The delivery failed, with the receiver's answer on the list and on its page.
    await page.goto(`${t.baseUrl}/admin/webhooks`);
    await page.selectOption('#status', 'FAILED');
    await page.click('#delivery-filters button');
    await page.waitForURL(/status=FAILED/);
    const row = page.locator('tr', { hasText: prepayId });
    assert.match(await row.innerText(), /FAILED/);
    assert.match(await row.innerText(), /HTTP 500/);
    await shot('webhooks');
    await row.locator('a').first().click();
    await page.waitForURL(/\/admin\/webhooks\/\d+$/);
    assert.match(await text(page, '#delivery-status'), /FAILED/);
    assert.match(await text(page, 'main'), /receiver down/);
    assert.match(await text(page, '#delivery-body'), new RegExp(tradeNo));
    await shot('webhook');

    // Fix the receiver, Redeliver, and the page shows it DELIVERED.
    broken = false;
    await page.click('button:has-text("Redeliver")');
    await page.waitForSelector('#flash');
    assert.match(await text(page, '#flash'), /queued again/);
    for (let i = 0; i < 100; i++) {
      if (/DELIVERED/.test(await text(page, '#delivery-status'))) break;
      await new Promise((r) => setTimeout(r, 100));
      await page.reload();
    }
    assert.match(await text(page, '#delivery-status'), /DELIVERED/);
    assert.match(await text(page, 'main'), /200 \(acknowledged\)/);
    await shot('webhook-redelivered');

    // The sandbox panel: a funded payer, then the clock two days ahead.
    await page.goto(`${t.baseUrl}/admin/sandbox`);
    await shot('sandbox');
    await page.fill('#payer-email', 'panel-payer@example.com');
    await page.fill('#payer-balance', '12.5');
    await page.click('#create-payer button[type=submit]');
    await page.waitForSelector('#flash');
    assert.match(await text(page, '#flash'), /Payer panel-payer@example.com created with 12.5 USDT/);
    const payer = await t.app.services.accounts.findPayerByEmail('panel-payer@example.com');
    assert.ok(payer, 'the payer exists');
    // Its password is on that answer page only; back to the panel for the clock.
    assert.match(await page.inputValue('#secret'), /^[A-Za-z0-9]{8,}$/);
    await page.click('text=Back to the sandbox panel');
    await page.waitForSelector('#advance-clock');
    const before = t.clock.now();
    await page.fill('#clock-amount', '2');
    await page.selectOption('#clock-unit', 'days');
    await page.click('#advance-clock button[type=submit]');
    await page.waitForSelector('#flash');
    assert.match(await text(page, '#flash'), /Clock advanced by 2 days/);
    assert.ok(t.clock.now() - before >= 48 * HOUR, 'the business clock moved two days');
    await shot('sandbox-done');

    // The ledger and hot wallet pages.
    await page.goto(`${t.baseUrl}/admin/ledger`);
    assert.match(await text(page, '#audit'), /Balanced/);
    await shot('ledger');
    await page.goto(`${t.baseUrl}/admin/ledger/transfers?ref=${prepayId}`);
    await shot('ledger-transfers');
    await page.goto(`${t.baseUrl}/admin/hot-wallets`);
    await shot('hot-wallets');
  });
});
