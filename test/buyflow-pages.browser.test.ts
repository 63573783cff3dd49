import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startTestApp, type TestApp } from './helpers.ts';
import { TRX_ADDRESS } from './support/buyflow-fixture.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * The buy flow's first pages as a person meets them on a phone: a link that names no order, the sign-up page saying
 * what is being bought and for whom, and the code page (its resend countdown, and the consent boxes kept after a
 * wrong code).
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();
const BASE = '/en/connect/buyflow';

describe('buy flow entry pages in Chromium', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let partner: Awaited<ReturnType<typeof onboardPartner>>;
  before(async () => {
    t = await startTestApp();
    partner = await onboardPartner(t, { name: 'Acme Wallet' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t.close();
  });

  const newOrderUrl = async () => {
    const r = await partner.client.call('buy-withdraw-crypto', {
      merchantOrderId: `pages${Date.now()}`,
      fiatCurrency: 'USD',
      cryptoCurrency: 'USDT',
      orderAmount: 100,
      merchantRedirectUrl: 'https://wallet.example/done',
      withdrawCryptoInfo: { cryptoNetwork: 'TRX', cryptoAddress: TRX_ADDRESS },
    });
    assert.equal(r.json.code, '000000', r.text);
    return r.json.data.eternalRedirectUrl as string;
  };

  test('a made-up link says "Link not valid", not that an order expired', async () => {
    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    const res = await page.goto(`${t.baseUrl}${BASE}?token=${'0'.repeat(40)}`);
    assert.equal(res!.status(), 404);
    assert.equal(await text(page, 'h1'), 'Link not valid');
    assert.doesNotMatch(await text(page, 'main'), /expired/i);
    assert.deepEqual(await phoneFit(page), []);
    await browser.screenshot(page, 'buyflow-pages-1-link-not-valid-phone');
    await page.close();
  });

  test('sign-up names the purchase and the partner; the code page counts down "Resend code (59s)" and keeps the ticked boxes after a wrong code', async () => {
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.goto(await newOrderUrl());
    assert.equal(await text(page, 'h1'), 'Create Account on Rampart');
    assert.match(
      await text(page, '#purchase'),
      /^Buying for Acme Wallet USDT for 100(\.0+)? USD Sent on TRX to the address you gave Acme Wallet\.$/,
    );
    await browser.screenshot(page, 'buyflow-pages-2-signup-desktop');
    await page.setViewportSize(PHONE);
    assert.deepEqual(await phoneFit(page), []);
    await browser.screenshot(page, 'buyflow-pages-3-signup-phone');

    const email = `pages-${Date.now()}@example.com`;
    await page.fill('#identifier', email);
    await page.fill('#password', 'Passw0rdX');
    await page.click('button[type=submit]');
    await page.waitForSelector('#code');
    assert.match(await text(page, '#resend'), /^Resend code \(\d+s\)$/);
    assert.equal(await page.isDisabled('#resend'), true);

    const code = /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
    const wrong = code === '000000' ? '111111' : '000000';
    await page.fill('#code', wrong);
    await page.check('#terms');
    await page.check('#marketing');
    await page.click('form[action*="verify"] button');
    await page.waitForSelector('[role=alert]');
    assert.match(await text(page, '[role=alert]'), /code/i);
    assert.equal(await page.isChecked('#terms'), true, 'the Terms box keeps its state after a wrong code');
    assert.equal(await page.isChecked('#marketing'), true);
    assert.deepEqual(await phoneFit(page), []);
    await browser.screenshot(page, 'buyflow-pages-4-wrong-code-phone');

    // The right code now goes through with the boxes as they were kept.
    await page.fill('#code', code);
    await page.click('form[action*="verify"] button');
    await page.waitForSelector('#kyc-form');
    await page.close();
  });
});
