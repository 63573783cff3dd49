import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { fixed } from '../src/platform/money.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

/**
 * The hosted checkout driven by a real browser (Debian Chromium through playwright-core): the page a buyer sees
 * at checkoutUrl, logging in, choosing a currency, paying, and the redirects back to the merchant's own site.
 */

/** The merchant's own web site: the pages returnUrl and cancelUrl point at. */
async function startMerchantSite(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const title =
      path === '/thanks'
        ? 'Thank you for your order'
        : path === '/cancelled'
          ? 'Your order was cancelled'
          : 'Gelato Corner';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>merchant thank-you ` +
        `page</p></body></html>`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

for (const kind of DB_KINDS) {
  describe(`hosted checkout in Chromium (${kind})`, { skip: browserSkip }, () => {
    let t: TestApp;
    let browser: Browser;
    let site: { url: string; server: Server };
    let m: Awaited<ReturnType<typeof createMerchant>>;
    let payer: Awaited<ReturnType<typeof createPayer>>;

    const createOrder = async (overrides: Record<string, unknown> = {}) => {
      const r = await m.client.post(
        '/v3/order',
        v3Order({
          orderAmount: '25.17',
          currency: 'USDT',
          description: 'Two scoops, waffle cone',
          supportPayCurrency: 'USDT,BNB',
          returnUrl: `${site.url}/thanks?ref=42`,
          cancelUrl: `${site.url}/cancelled`,
          goodsDetails: [
            {
              goodsType: '02',
              goodsCategory: 'D000',
              referenceGoodsId: 'G-1',
              goodsName: 'Pistachio gelato',
              goodsDetail: 'Waffle cone',
              goodsQuantity: '2',
            },
          ],
          ...overrides,
        }),
      );
      assert.equal(r.json.status, 'SUCCESS', r.text);
      return r.json.data as {
        prepayId: string;
        checkoutUrl: string;
        deeplink: string;
        qrcodeLink: string;
        expireTime: number;
      };
    };

    before(async () => {
      t = await startTestApp({ kind });
      site = await startMerchantSite();
      m = await createMerchant(t, { name: 'Gelato Corner' });
      payer = await createPayer(t, `buyer-${kind}@example.com`, { USDT: '100', BNB: '2' });
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await new Promise((r) => site?.server.close(r));
      await assertAuditOk(t);
      await t.close();
    });

    test('shows the order, logs the payer in, pays in the chosen currency and lands on returnUrl', async () => {
      const order = await createOrder();
      const page = await browser.newPage();
      const qrResponse = page.waitForResponse((r) => r.url().endsWith('/qr.png'));
      await page.goto(order.checkoutUrl);

      // The order as the buyer sees it.
      assert.match(await text(page, 'main'), /Gelato Corner/);
      assert.equal(await text(page, 'h1'), 'Two scoops, waffle cone');
      assert.equal(await text(page, '#amount'), '25.17 USDT');
      assert.match(await text(page, 'main'), /Pistachio gelato × 2/);
      assert.match(await text(page, 'main'), /Waffle cone/);
      assert.equal(await text(page, '#status'), 'Waiting for payment');
      // The countdown is filled in by the page script and runs (one hour from the business clock's now).
      await page.waitForFunction(() => /^\d\d:\d\d$/.test(document.getElementById('countdown')?.textContent ?? ''));
      const first = await text(page, '#countdown');
      assert.match(first, /^(60:00|59:[0-5]\d)$/);
      await page.waitForFunction((f) => document.getElementById('countdown')?.textContent !== f, first, {
        timeout: 5000,
      });
      // The QR code is a real PNG that the browser decodes.
      const qr = await qrResponse;
      assert.equal(qr.status(), 200);
      assert.equal(qr.headers()['content-type'], 'image/png');
      await page.waitForFunction(() => (document.getElementById('qr') as HTMLImageElement | null)?.complete === true);
      assert.ok((await page.$eval('#qr', (img) => (img as HTMLImageElement).naturalWidth)) > 0);
      // The Pay API's deeplink is this page itself: no "open in app" button that would only reload it.
      assert.equal(order.deeplink, order.checkoutUrl);
      assert.equal(await page.locator('#deeplink').count(), 0);
      await browser.screenshot(page, `${kind}-1-checkout`);

      // A wrong password is refused on the page.
      await page.fill('#email', payer.email);
      await page.fill('#password', 'not-the-password');
      await page.click('button[type=submit]');
      assert.equal(await text(page, '[role=alert]'), 'Wrong email or password.');
      assert.equal(await page.locator('#pay').count(), 0);
      await browser.screenshot(page, `${kind}-2-login-error`);

      await page.fill('#email', payer.email);
      await page.fill('#password', payer.password);
      await page.click('button[type=submit]');
      await page.waitForSelector('#pay');
      assert.match(await text(page, 'main'), new RegExp(`Logged in as ${payer.email}`));
      // A payer short of funds finds the way to their wallet's deposit page from here.
      assert.equal(await page.getAttribute('#wallet-link', 'href'), '/wallet/deposit');
      // Both currencies of supportPayCurrency are offered, each with its amount due and the payer's balance.
      const choices = await page.$$eval('input[name=currency]', (els) => els.map((e) => (e as HTMLInputElement).value));
      assert.deepEqual(choices, ['USDT', 'BNB']);
      assert.match(await text(page, 'main'), /0\.04195 BNB Balance: 2 BNB/);
      assert.match(await text(page, 'main'), /25\.17 USDT Balance: 100\.00 USDT/);
      assert.equal(await text(page, '#pay'), 'Pay 25.17 USDT');
      await page.check('input[name=currency][value=BNB]');
      await browser.screenshot(page, `${kind}-3-logged-in`);

      await Promise.all([page.waitForURL(`${site.url}/thanks?ref=42`), page.click('#pay')]);
      assert.equal(page.url(), `${site.url}/thanks?ref=42`);
      assert.equal(await text(page, 'h1'), 'Thank you for your order');
      await browser.screenshot(page, `${kind}-4-merchant-return`);

      // The merchant sees it paid through the Pay API, paid in BNB, and is credited net of the 1 % commission.
      const q = await m.client.post('/v2/order/query', { prepayId: order.prepayId });
      assert.equal(q.json.data.status, 'PAID', q.text);
      assert.equal(q.json.data.commission, '0.25170000');
      assert.match(q.text, /"paymentInstructions":\[\{"currency":"BNB","amount":0\.04195000,"price":600\}\]/);
      const { ledger } = t.app.services;
      const merchantUsdt = (await ledger.balances(t.db, 'merchant', m.merchantId)).find((b) => b.asset === 'USDT');
      assert.equal(fixed(merchantUsdt!.available, 8), '24.91830000');
      const payerBnb = (await ledger.balances(t.db, 'payer', payer.payerId)).find((b) => b.asset === 'BNB');
      assert.equal(fixed(payerBnb!.available, 8), '1.95805000');
      await assertAuditOk(t);

      // Coming back to the checkout: it says paid and offers the way back, no more paying.
      await page.goto(order.checkoutUrl);
      assert.equal(await text(page, '#status'), 'Paid');
      assert.equal(await page.getAttribute('#return', 'href'), `${site.url}/thanks?ref=42`);
      assert.equal(await page.locator('#pay, #qr, #email').count(), 0);
      await browser.screenshot(page, `${kind}-5-paid`);
      await page.close();
    });

    /** Opens `url` logged out (the browser's profile is shared by the tests), then logs `p` in there. */
    const logIn = async (page: Page, url: string, p: { email: string; password: string }) => {
      await browser.context.clearCookies();
      await page.goto(url);
      await page.fill('#email', p.email);
      await page.fill('#password', p.password);
      await page.click('button[type=submit]');
      await page.waitForSelector('#pay');
    };

    test('a payer whose balance is short sees Pay disabled with the reason, on a phone', async () => {
      const poor = await createPayer(t, `poor-${kind}@example.com`, { USDT: '10', BNB: '1' });
      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      // 25.17 USDT (10 held) or 0.04195 BNB (1 held): BNB is covered, USDT is not.
      await logIn(page, (await createOrder()).checkoutUrl, poor);
      assert.equal(await page.isDisabled('input[name=currency][value=USDT]'), true);
      assert.equal(await page.isChecked('input[name=currency][value=BNB]'), true);
      assert.match(await text(page, 'main'), /Balance: 10\.00 USDT · not enough/);
      assert.equal(await page.isDisabled('#pay'), false);
      assert.equal(await page.locator('#pay-short').count(), 0);

      // Only USDT accepted: nothing covers it, so the button is off and says why.
      await page.goto((await createOrder({ supportPayCurrency: undefined })).checkoutUrl);
      assert.equal(await page.isDisabled('#pay'), true);
      assert.match(await text(page, '#pay-short'), /Your balance is too low to pay this order\. Add funds/);
      assert.equal(await page.getAttribute('#pay', 'aria-describedby'), 'pay-short');
      assert.deepEqual(await phoneFit(page), []);
      await browser.screenshot(page, `${kind}-10-balance-short-phone`);
      await page.close();
    });

    test('a failed Pay lands back on the order page (post/redirect/get): the reason shows once, a reload posts nothing', async () => {
      const order = await createOrder();
      const page = await browser.newPage();
      await logIn(page, order.checkoutUrl, payer);
      // The merchant closes the order while the payer looks at the open page.
      const closed = await m.client.post('/order/close', { prepayId: order.prepayId });
      assert.equal(closed.json.data, true, closed.text);
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(r.url());
      });
      await page.click('#pay');
      await page.waitForSelector('[role=alert]');
      assert.equal(page.url(), order.checkoutUrl, 'redirected to the page, not left on /pay');
      assert.equal(await text(page, '[role=alert]'), 'This order is canceled.');
      assert.equal(await text(page, '#status'), 'This order was closed by the merchant');
      assert.equal(posts.length, 1);
      await browser.screenshot(page, `${kind}-11-pay-failed`);

      await page.reload();
      assert.equal(posts.length, 1, 'the reload is a GET: the form is not sent again');
      assert.equal(await page.locator('[role=alert]').count(), 0, 'the reason was shown once');
      assert.equal(await text(page, '#status'), 'This order was closed by the merchant');
      await page.close();
    });

    test('an open page turns to Paid by itself when the order is paid elsewhere', async () => {
      const order = await createOrder({ supportPayCurrency: undefined });
      const page = await browser.newPage();
      await page.goto(order.checkoutUrl);
      assert.equal(await text(page, '#status'), 'Waiting for payment');
      const paid = await t.admin('POST', `/sandbox/v1/orders/${order.prepayId}/pay`, { payerEmail: payer.email });
      assert.equal(paid.status, 200, JSON.stringify(paid.json));
      // No reload from the test: the page's status poll notices the change.
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Paid', undefined, {
        timeout: 10_000,
      });
      assert.equal(await page.locator('#qr, #email').count(), 0);
      await browser.screenshot(page, `${kind}-6-paid-live`);
      await page.close();
    });

    test('the cancel link goes back to cancelUrl and leaves the order open', async () => {
      const order = await createOrder();
      const page = await browser.newPage();
      await page.goto(order.checkoutUrl);
      await Promise.all([page.waitForURL(`${site.url}/cancelled`), page.click('#cancel')]);
      assert.equal(await text(page, 'h1'), 'Your order was cancelled');
      await browser.screenshot(page, `${kind}-7-cancelled`);
      const q = await m.client.post('/v2/order/query', { prepayId: order.prepayId });
      assert.equal(q.json.data.status, 'INITIAL');
      await page.close();
    });

    test('a closed order says so and cannot be paid', async () => {
      const order = await createOrder();
      const closed = await m.client.post('/order/close', { prepayId: order.prepayId });
      assert.equal(closed.json.data, true, closed.text);
      const page = await browser.newPage();
      await page.goto(order.checkoutUrl);
      assert.equal(await text(page, '#status'), 'This order was closed by the merchant');
      assert.equal(await page.locator('#qr, #email, #pay, #countdown, #cancel').count(), 0);
      await browser.screenshot(page, `${kind}-8-closed`);
      await page.close();
    });

    // Runs last: it moves the business clock forward.
    test('an order past its expiry says it has expired, also on a page already open', async () => {
      const order = await createOrder();
      const open = await browser.newPage();
      await open.goto(order.checkoutUrl);
      assert.equal(await text(open, '#status'), 'Waiting for payment');
      const adv = await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 3_600_001 });
      assert.equal(adv.status, 200);
      // No expiry worker runs in this app: the page must not offer to pay an order whose time is up.
      const page = await browser.newPage();
      await page.goto(order.checkoutUrl);
      assert.equal(await text(page, '#status'), 'This order has expired');
      assert.equal(await page.locator('#qr, #email, #pay, #countdown, #cancel').count(), 0);
      await browser.screenshot(page, `${kind}-9-expired`);
      await open.waitForFunction(
        () => document.getElementById('status')?.textContent === 'This order has expired',
        undefined,
        { timeout: 10_000 },
      );
      await page.close();
      await open.close();
    });
  });
}
