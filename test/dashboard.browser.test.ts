import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  payClient,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { browserSkip, launchBrowser, type Browser } from './support/browser.ts';
import { createAuthorization, createTsp, type Tsp } from './tsp-support.ts';

/**
 * The merchant dashboard in Chromium: set-password link and login, the TSP review page (agree and reject, each
 * followed by the TECH_PROVIDER webhook at a local receiver), API keys, a refund from the order page, and the
 * manual 24-hour authorization link before and after the sandbox clock moves. Screenshots in test-results/screenshots.
 */
const PASSWORD = 'correct horse battery';

for (const kind of DB_KINDS) {
  describe(`merchant dashboard in Chromium (${kind})`, { skip: browserSkip }, () => {
    let t: TestApp;
    let browser: Browser;
    let page: Page;
    let tsp: Tsp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    const email = `browser-owner-${kind}@gelato.example`;
    let agreedAuth: { authorizationId: string; authorizationToken: string };

    const mailLink = async (to: string) => {
      const mail = (await t.app.services.mailer.list(to)).find((x) => x.subject.startsWith('Set your'))!;
      return /(http\S+\/en\/dashboard\/set-password\?token=[a-z0-9]+)/.exec(mail.text)![1]!;
    };
    async function setPasswordAndLogin(to: string, shot?: string) {
      await page.context().clearCookies();
      await page.goto(await mailLink(to));
      await page.fill('#password', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/en\/dashboard\/login/);
      assert.equal(await page.innerText('#flash'), 'Password set, please log in.');
      await page.fill('#email', to);
      await page.fill('#password', PASSWORD);
      if (shot) await browser.screenshot(page, `${kind}-${shot}`);
      await page.click('button[type=submit]');
    }
    async function login(to: string, next?: string) {
      await page.context().clearCookies();
      await page.goto(`${t.baseUrl}/en/dashboard/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
      await page.fill('#email', to);
      await page.fill('#password', PASSWORD);
      await page.click('button[type=submit]');
    }

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      m = await createMerchant(t, { name: 'Gelato Corner', email });
      tsp = await createTsp(t, { name: 'Acme Integrations' });
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await tsp?.receiver.close();
      await assertAuditOk(t);
      await t.close();
    });

    test('set the password from the emailed link, then log in', async () => {
      await setPasswordAndLogin(email, 'dashboard-login');
      await page.waitForURL(/\/en\/dashboard\/orders/);
      assert.match(await page.innerText('nav'), /Gelato Corner/);
      await browser.screenshot(page, `${kind}-dashboard-orders`);
    });

    test('review page: agree → SUBMIT_AUTH_AGREE webhook with the token at the TSP receiver', async () => {
      const a = await createAuthorization(tsp, m.merchantId, ['CHECKOUT', 'REFUND'], ['127.0.0.1']);
      await page.goto(a.redirectUrl);
      assert.equal(await page.innerText('#tsp-name'), 'Acme Integrations');
      assert.match(await page.innerText('.scopes'), /Refund orders and query refunds/);
      await browser.screenshot(page, `${kind}-review-authorization-pending`);
      await page.click('#agree');
      await page.waitForSelector('#flash');
      assert.equal(await page.innerText('#review-status'), 'AUTHORIZED');
      await browser.screenshot(page, `${kind}-review-authorization-agreed`);
      const w = await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_AGREE');
      assert.equal(JSON.parse(w.dataText).authorizationToken, a.authorizationToken);
      agreedAuth = a;
    });

    test('review page: reject → SUBMIT_AUTH_REJECT webhook at the TSP receiver', async () => {
      const a = await createAuthorization(tsp, m.merchantId, ['BALANCE'], []);
      await page.goto(a.redirectUrl);
      await page.click('#reject');
      await page.waitForSelector('#flash');
      assert.equal(await page.innerText('#review-status'), 'REJECTED');
      assert.equal(await page.locator('#agree').count(), 0);
      await browser.screenshot(page, `${kind}-review-authorization-rejected`);
      await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_REJECT');
    });

    test('at 390 px: Dismiss, then Block this provider from the review page, then Unblock; nothing scrolls sideways', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        const fits = async (name: string) => {
          const w = await page.evaluate(() => ({
            inner: window.innerWidth,
            scroll: document.documentElement.scrollWidth,
          }));
          assert.ok(w.scroll <= w.inner, `${name}: the page scrolls sideways (${w.scroll} > ${w.inner})`);
          await browser.screenshot(page, `${kind}-${name}`);
        };
        const spam = await createTsp(t, { name: 'Walker Scrapes' });
        try {
          const one = await createAuthorization(spam, m.merchantId, ['CHECKOUT', 'REFUND']);
          await page.goto(`${t.baseUrl}/en/dashboard/technical-vendor`);
          await fits('technical-vendor-pending-phone');
          await page.locator(`[data-auth="${one.authorizationId}"] button.dismiss`).click();
          await page.waitForSelector('#flash');
          assert.match(await page.innerText('#flash'), /dismissed/);
          assert.equal(await page.innerText(`[data-auth="${one.authorizationId}"] .auth-status`), 'REJECTED');
          await spam.webhook(one.authorizationId, 'SUBMIT_AUTH_REJECT');

          const two = await createAuthorization(spam, m.merchantId, ['BALANCE']);
          await page.goto(two.redirectUrl);
          await fits('review-authorization-block-phone');
          await page.click('button.block');
          await page.waitForSelector('#blocked');
          await fits('technical-vendor-blocked-phone');
          const refused = await spam.client.post('/service/provider/create', {
            merchantId: m.merchantId,
            scopes: ['CHECKOUT'],
            ipWhitelist: [],
          });
          assert.equal(refused.json.code, '406210');
          await page.click(`tr[data-tsp="${spam.merchantId}"] button.unblock`);
          await page.waitForSelector('#flash');
          assert.equal(await page.locator('#blocked').count(), 0);
        } finally {
          await spam.receiver.close();
        }
      } finally {
        await page.setViewportSize({ width: 480, height: 900 });
      }
    });

    test('create an API key (secret shown once) and revoke it', async () => {
      await page.goto(`${t.baseUrl}/en/dashboard/developers`);
      await page.click('#create-key');
      const apiKey = await page.innerText('#new-api-key');
      const secret = await page.innerText('#new-api-secret');
      assert.match(secret, /^[a-z0-9]{64}$/);
      await browser.screenshot(page, `${kind}-developers-key-created`);
      const client = payClient(t.baseUrl, apiKey, secret);
      assert.equal((await client.post('/certificates', {})).json.status, 'SUCCESS');
      await page.locator(`tr[data-key="${apiKey}"] button.revoke`).click();
      await page.waitForSelector('#flash');
      assert.equal(await page.innerText(`tr[data-key="${apiKey}"] .key-status`), 'REVOKED');
      assert.equal(await page.locator('#new-api-secret').count(), 0);
      await browser.screenshot(page, `${kind}-developers-key-revoked`);
      await new Promise((r) => setTimeout(r, 5_100)); // the API key cache holds entries for 5 s
      assert.equal((await client.post('/certificates', {})).json.code, '400004');
    });

    test('refund from the order page', async () => {
      const payer = await createPayer(t, `browser-payer-${kind}@example.com`, { USDT: '100' });
      const o = await m.client.post('/v3/order', v3Order({ orderAmount: '20' }));
      const prepayId = o.json.data.prepayId;
      await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
      await page.goto(`${t.baseUrl}/en/dashboard/orders?status=PAID`);
      await page.click(`a:has-text("${prepayId}")`);
      assert.equal(await page.innerText('#order-status'), 'PAID');
      await page.fill('#amount', '5');
      await page.click('#refund');
      await page.waitForSelector('#flash');
      assert.match(await page.innerText('#flash'), /Refund of 5\.00 USDT \(refund \d+\) accepted/);
      // The refund is listed with its amount and status, beside what is left; the history reads as sentences.
      assert.match(await page.innerText('#refunds .refund-amount'), /^5\.00 USDT$/);
      assert.match(await page.innerText('#refunds .refund-status'), /in progress|succeeded/);
      assert.equal(await page.innerText('#refundable-left'), '15.00 USDT');
      assert.equal(await page.innerText('#order-amount'), '20.00 USDT');
      assert.match(await page.innerText('#events'), /Refund of 5\.00 USDT requested\./);
      // The refund completes in the outbox worker: reload until it has.
      for (let i = 0; i < 50 && !/succeeded/.test(await page.innerText('#refunds .refund-status')); i++) {
        await new Promise((r) => setTimeout(r, 200));
        await page.goto(`${t.baseUrl}/en/dashboard/orders/${prepayId}`);
      }
      assert.match(await page.innerText('#refunds .refund-status'), /succeeded/);
      assert.match(await page.innerText('#events'), /Refund of 5\.00 USDT succeeded\./);
      assert.doesNotMatch(await page.innerText('#events'), /PAY_REFUND|REFUND_SUCCESS/);
      await browser.screenshot(page, `${kind}-order-refunded`);
      const q = await m.client.post('/v2/order/query', { prepayId });
      assert.ok(['REFUNDING', 'REFUNDED'].includes(q.json.data.status), q.text);
      await page.fill('#amount', '100');
      await page.click('#refund');
      assert.match(await page.innerText('#flash'), /more than what is left/);
    });

    test(
      'manual route: the TSP adds an authorization, gets a 24-hour link; it works before and says expired after ' +
        'clock/advance',
      async () => {
        await setPasswordAndLogin(tsp.email);
        await page.waitForURL(/\/en\/dashboard\/orders/);
        // Details show the token of the approved authorization.
        await page.goto(`${t.baseUrl}/en/dashboard/technical-vendor/${agreedAuth.authorizationId}`);
        assert.equal(await page.innerText('#auth-token'), agreedAuth.authorizationToken);
        await browser.screenshot(page, `${kind}-technical-vendor-details`);

        await page.goto(`${t.baseUrl}/en/dashboard/technical-vendor`);
        await page.fill('#merchantId', m.merchantId);
        await page.check('#add-CHECKOUT');
        await page.click('#add-auth button[type=submit]');
        const link = await page.innerText('#auth-link-url');
        assert.match(await page.innerText('#auth-link'), /valid for 24 hours/);
        await browser.screenshot(page, `${kind}-technical-vendor-link`);

        const path = new URL(link).pathname + new URL(link).search;
        await login(email, path);
        await page.waitForURL(/review-authorization/);
        assert.equal(await page.locator('#agree').count(), 1);
        assert.equal(await page.locator('#expired').count(), 0);
        await browser.screenshot(page, `${kind}-manual-link-valid`);

        const adv = await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 24 * 3_600_000 + 60_000 });
        assert.equal(adv.status, 200);
        await page.reload();
        assert.equal(await page.innerText('#expired'), 'This authorization link has expired.');
        assert.equal(await page.locator('#agree').count(), 0);
        await browser.screenshot(page, `${kind}-manual-link-expired`);
      },
    );

    test('Technical Vendor: the merchant changes scopes (TP_AUTH_CHANGED) and disables (TP_AUTH_DISABLED)', async () => {
      await page.goto(`${t.baseUrl}/en/dashboard/technical-vendor`);
      const card = page.locator(`[data-auth="${agreedAuth.authorizationId}"]`);
      await card.locator(`#s${agreedAuth.authorizationId}-REFUND`).uncheck();
      await card.locator('button:has-text("Change scopes")').click();
      await page.waitForSelector('#flash');
      const changed = await tsp.webhook(agreedAuth.authorizationId, 'TP_AUTH_CHANGED');
      assert.deepEqual(JSON.parse(changed.dataText).scopes, ['CHECKOUT']);
      await browser.screenshot(page, `${kind}-technical-vendor-changed`);
      await page.locator(`[data-auth="${agreedAuth.authorizationId}"] button.disable`).click();
      await page.waitForSelector('#flash');
      assert.equal(await page.innerText(`[data-auth="${agreedAuth.authorizationId}"] .auth-status`), 'DISABLED');
      await tsp.webhook(agreedAuth.authorizationId, 'TP_AUTH_DISABLED');
      await browser.screenshot(page, `${kind}-technical-vendor-disabled`);
      const r = await tsp.client.post('/certificates', {
        'BinancePay-technicalServiceProviderAuthId': agreedAuth.authorizationToken,
      });
      assert.equal(r.json.code, '400004');
    });
  });
}
