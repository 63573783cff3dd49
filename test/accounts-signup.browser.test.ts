import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';

/**
 * Issue #16 in Chromium at 390 px: a person signs up from a checkout link (/signup?next=/checkout/<token>) with the
 * mailed code and a password, lands back on the checkout logged in, logs out and in again at /login. Each page is
 * checked for a phone (phoneFit) and saved as a screenshot in test-results/screenshots.
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

describe('person sign-up and login in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let checkoutPath: string;

  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `accounts-${name}`);
  }

  before(async () => {
    t = await startTestApp();
    const m = await createMerchant(t, { name: 'Gelato Corner' });
    const order = await m.client.post('/v3/order', v3Order({ orderAmount: '12.5', description: 'Two scoops' }));
    assert.equal(order.json.status, 'SUCCESS', order.text);
    checkoutPath = new URL(order.json.data.checkoutUrl).pathname;
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setViewportSize(PHONE);
  });
  after(async () => {
    await browser?.close();
    await assertAuditOk(t);
    await t.close();
  });

  test('sign up from the checkout: e-mail, code, password, and back on the checkout logged in', async () => {
    const email = `gelato-fan-${Date.now()}@example.com`;
    await page.goto(`${t.baseUrl}/signup?next=${encodeURIComponent(checkoutPath)}`);
    assert.equal(await text(page, 'h1'), 'Create your account');
    await shot('signup-1-email');

    await page.fill('#email', email);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-step=CODE]');
    assert.equal(await text(page, '#sent-to'), email);
    assert.equal(await text(page, '#sent'), 'Code sent');
    await shot('signup-2-code');

    const code = /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
    await page.fill('#code', code === '999999' ? '000000' : '999999');
    await page.click('form[action="/signup/code"] button');
    assert.equal(await text(page, '#error'), 'Wrong code. 4 attempts left.');
    await shot('signup-2-code-error');
    await page.fill('#code', code);
    await page.click('form[action="/signup/code"] button');
    await page.waitForSelector('[data-step=PASSWORD]');
    await shot('signup-3-password');

    await page.fill('#password', 'weakpassword');
    await page.check('#terms');
    await page.click('#create');
    assert.match(await text(page, '#error'), /upper case letter/);
    await shot('signup-3-password-error');
    await page.fill('#password', 'Pistachio-2026');
    await page.check('#terms');
    await page.click('#create');
    await page.waitForURL((u) => u.pathname === checkoutPath);
    assert.match(await text(page, 'main'), new RegExp(`Logged in as ${email}`));
    assert.match(await text(page, 'main'), /Pay with your wallet/);
    await shot('signup-4-checkout-logged-in');
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'rampart_payer')!;
    assert.deepEqual([cookie.path, cookie.httpOnly, cookie.sameSite], ['/', true, 'Lax']);
  });

  test('log out at the checkout, log in again at /login (a wrong password first) and return to the checkout', async () => {
    const payer = await createPayer(t, `returning-${Date.now()}@example.com`, { USDT: '20' });
    await browser.context.clearCookies();
    await page.goto(`${t.baseUrl}/login?next=${encodeURIComponent(checkoutPath)}`);
    assert.equal(await text(page, 'h1'), 'Log in');
    await shot('login');
    await page.fill('#email', payer.email);
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    assert.equal(await text(page, '#error'), 'Wrong e-mail or password.');
    await shot('login-error');
    await page.fill('#email', payer.email);
    await page.fill('#password', payer.password);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.pathname === checkoutPath);
    await page.waitForSelector('#pay');
    assert.match(await text(page, 'main'), /Balance: 20\.00 USDT/);

    await page.goto(`${t.baseUrl}/login?next=/wallet`);
    assert.equal(await text(page, 'h1'), 'You are logged in');
    await shot('logged-in');
    await page.click('#logout');
    await page.waitForURL((u) => u.pathname === '/login');
    assert.equal(await text(page, 'h1'), 'Log in');
    assert.equal(
      (await browser.context.cookies()).find((c) => c.name === 'rampart_payer'),
      undefined,
    );
  });
});
