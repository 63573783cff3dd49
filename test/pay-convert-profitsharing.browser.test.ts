import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, dashboardOwnerPage, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

/**
 * The dashboard's convert and profit-sharing pages (binance-pay-extended.md §15, §16) in Chromium at 390 px: each
 * state checked for a phone (phoneFit) and kept as a screenshot, with a desktop one beside it.
 */
const PASSWORD = 'correct horse battery';

describe('dashboard convert and profit sharing in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let m: Awaited<ReturnType<typeof createMerchant>>;
  let receiver: Awaited<ReturnType<typeof createPayer>>;
  let prepayId: string;
  const email = 'convert-owner@shop.example';

  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `dashboard-${name}`);
    await page.setViewportSize({ width: 1280, height: 900 });
    await browser.screenshot(page, `dashboard-${name}-desktop`);
    await page.setViewportSize(PHONE);
  }
  const funding = async (asset: string) =>
    (await t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: m.merchantId, asset })).available;

  before(async () => {
    t = await startTestApp();
    m = await createMerchant(t, { name: 'Convert Corner', email });
    const buyer = await createPayer(t, 'convert-buyer@example.com', { USDT: '500' });
    receiver = await createPayer(t, 'convert-partner@example.com', { USDT: '0' });
    const order = await m.client.post(
      '/v3/order',
      v3Order({ orderAmount: '100', orderTags: { ifProfitSharing: true } }),
    );
    prepayId = order.json.data.prepayId;
    await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: buyer.email });
    await t.admin('PUT', '/admin/v1/convert/pairs', {
      pairs: [
        {
          fromAsset: 'USDT',
          toAsset: 'BNB',
          fromMin: '1',
          fromMax: '100000',
          toMin: '0.002',
          toMax: '200',
          fixedRate: '0.005',
          spreadBps: 50,
        },
      ],
    });
    browser = await launchBrowser();
    page = await dashboardOwnerPage(browser, t, email, PASSWORD);
  });
  after(async () => {
    await browser?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  test('convert: a quote, its execution once (a double click is one conversion), a shortfall, an expired quote', async () => {
    await page.goto(`${t.baseUrl}/en/dashboard/conversions`);
    assert.match(await page.innerText('#no-conversions'), /No conversions yet/);
    assert.equal(await page.getAttribute('nav a[aria-current=page]', 'href'), '/en/dashboard/conversions');
    await shot('convert-empty');
    await page.fill('#fromAmount', '50');
    await page.click('#quote-form button[type=submit]');
    const quote = await page.innerText('#quote');
    assert.match(quote, /You pay\s+50\.00 USDT/);
    assert.match(quote, /You get\s+0\.24875 BNB/);
    assert.match(quote, /1 USDT = 0\.004975 BNB/);
    await shot('convert-quote');
    // Sent twice at once: one conversion.
    const statuses = await page.evaluate(async () => {
      const form = document.querySelector<HTMLFormElement>('#execute-form')!;
      const body = new URLSearchParams(new FormData(form) as unknown as Record<string, string>);
      return Promise.all([
        fetch(form.action, { method: 'POST', body }),
        fetch(form.action, { method: 'POST', body }),
      ]).then((rs) => rs.map((r) => r.status));
    });
    assert.deepEqual(statuses, [200, 200]);
    assert.equal(await funding('USDT'), '49');
    assert.equal(await funding('BNB'), '0.24875');
    await page.goto(`${t.baseUrl}/en/dashboard/conversions`);
    const history = await page.innerText('#conversions');
    assert.match(history, /50\.00 USDT[\s\S]*0\.24875 BNB[\s\S]*SUCCESS/);
    assert.equal((history.match(/SUCCESS/g) ?? []).length, 1);
    await shot('convert-history');

    // More than the wallet holds: a quote, but nothing to execute.
    await page.fill('#fromAmount', '49.01');
    await page.click('#quote-form button[type=submit]');
    assert.match(await page.innerText('#quote-uncovered'), /Not enough USDT available in the funding wallet/);
    assert.equal(await page.$('#execute-form'), null);
    await shot('convert-uncovered');

    // A quote left too long: refused, nothing moves.
    await page.fill('#fromAmount', '10');
    await page.click('#quote-form button[type=submit]');
    t.clock.advance!(11_000);
    await page.click('#execute-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /The quote has expired; get a new one/);
    assert.equal(await funding('USDT'), '49');
    await page.fill('#fromAmount', '0');
    await page.click('#quote-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /Enter an amount above 0/);
  });

  test('profit sharing: a receiver added, a split paid at once, the cap refused, a receiver removed', async () => {
    await page.goto(`${t.baseUrl}/en/dashboard/profit-sharing`);
    assert.match(await page.innerText('#no-receivers'), /No receivers yet/);
    await shot('profit-sharing-empty');
    await page.fill('#account', '9999999999999');
    await page.click('#receiver-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /No account 9999999999999/);
    await page.fill('#account', String(receiver.payerId));
    await page.click('#receiver-form button[type=submit]');
    assert.match(await page.innerText('#flash'), new RegExp(`Receiver ${receiver.payerId} added`));
    assert.match(await page.innerText('#receivers'), new RegExp(String(receiver.payerId)));

    await page.fill('#prepayId', prepayId);
    await page.fill('#amount', '12.5');
    await page.fill('#description', 'Partner share, March');
    await page.click('#split-form button[type=submit]');
    assert.match(await page.innerText('#flash'), new RegExp(`Split 12\\.50 USDT to ${receiver.payerId}`));
    assert.match(await page.innerText('#splits'), /12\.50 USDT[\s\S]*SUCCESS/);
    const payerBalance = await t.app.services.ledger.balance(t.db, {
      ownerType: 'payer',
      ownerId: String(receiver.payerId),
      asset: 'USDT',
    });
    assert.equal(payerBalance.available, '12.5');
    await shot('profit-sharing-split');

    // The order paid 99 after commission: 86.5 are left, 87 is too much; the form keeps what was typed.
    await page.fill('#prepayId', prepayId);
    await page.fill('#amount', '87');
    await page.fill('#description', 'Too much');
    await page.click('#split-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /Split amount exceeds the splittable amount/);
    assert.equal(await page.inputValue('#amount'), '87');
    await page.fill('#amount', '1');
    await page.fill('#description', 'bad!');
    await page.click('#split-form button[type=submit]');
    assert.match(await page.innerText('#flash'), /letters, digits, spaces/);
    await shot('profit-sharing-refused');

    await page.click('#receivers button[type=submit]');
    assert.match(await page.innerText('#flash'), /removed; past splits are unchanged/);
    assert.match(await page.innerText('#splits'), /12\.50 USDT/);
    assert.match(await page.innerText('#no-receivers'), /No receivers yet/);
  });

  test('features off: no Convert or Profit sharing link, their pages and forms answer 403 and change nothing', async () => {
    const navLinks = async () => page.$$eval('nav a', (as) => as.map((a) => a.textContent?.trim()));
    await page.goto(`${t.baseUrl}/en/dashboard/orders`);
    assert.ok((await navLinks()).includes('Convert'));
    assert.ok((await navLinks()).includes('Profit sharing'));
    await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { convert: false } });
    await page.goto(`${t.baseUrl}/en/dashboard/orders`);
    assert.ok(!(await navLinks()).includes('Convert'));
    assert.ok((await navLinks()).includes('Profit sharing'));
    await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { profitSharing: false } });
    await page.goto(`${t.baseUrl}/en/dashboard/orders`);
    assert.ok(!(await navLinks()).includes('Profit sharing'));

    const quotes = async () => Number((await t.db.query(`SELECT count(*) AS n FROM pay_convert_quotes`)).rows[0].n);
    const before = await quotes();
    const res = await page.goto(`${t.baseUrl}/en/dashboard/conversions`);
    assert.equal(res?.status(), 403);
    assert.match(await page.innerText('#convert-off'), /Convert is not enabled for this account/);
    await shot('convert-off');
    // A form posted anyway (the session's CSRF token taken from the log-out form): refused, no quote stored.
    const posted = await page.evaluate(async () => {
      const csrf = document.querySelector<HTMLInputElement>('nav input[name=csrf]')!.value;
      const body = new URLSearchParams({ csrf, wallet: 'FUNDING_WALLET', pair: 'USDT/BNB', fromAmount: '5' });
      return (await fetch('/en/dashboard/conversions/quote', { method: 'POST', body })).status;
    });
    assert.equal(posted, 403);
    assert.equal(await quotes(), before);
    const ps = await page.goto(`${t.baseUrl}/en/dashboard/profit-sharing`);
    assert.equal(ps?.status(), 403);
    assert.match(await page.innerText('#profit-sharing-off'), /Profit sharing is not enabled for this account/);

    await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { convert: true, profitSharing: true } });
    await page.goto(`${t.baseUrl}/en/dashboard/conversions`);
    assert.ok((await navLinks()).includes('Convert'));
    assert.ok((await navLinks()).includes('Profit sharing'));
  });
});
