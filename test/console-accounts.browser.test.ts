import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { rsaPair } from './support/connect-client.ts';
import { createOperator, type TestOperator } from './support/console.ts';

/**
 * Issue #17 in Chromium: an administrator logs in to the console through its form (password and authenticator code),
 * onboards a Connect partner whose public key is uploaded as a .pem file through the file input, finds it listed,
 * suspends and reactivates it; creates a merchant and an API key, and a broker linked to the partner, each secret
 * shown once on its page. Every page is
 * checked at 390 px (phoneFit) and saved as a `console-<page>` screenshot; the merchant page also at 1366 px.
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

describe('console merchants and partners in Chromium', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let admin: TestOperator;
  let dir: string;

  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `console-${name}`);
  }

  before(async () => {
    t = await startTestApp();
    admin = await createOperator(t, 'admin');
    dir = mkdtempSync(join(tmpdir(), 'rampart-pem-'));
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(`${t.baseUrl}/admin/partners`);
    await page.waitForURL(/\/admin\/login/);
    await page.fill('#email', admin.email);
    await page.fill('#password', admin.password);
    await page.fill('#code', admin.code());
    await page.click('#account-login button[type=submit]');
    await page.waitForURL(/\/admin\/partners$/);
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
    await assertAuditOk(t);
    await t.close();
  });

  test('onboard a partner with a .pem file, see it listed, suspend and reactivate it', async () => {
    const keys = rsaPair();
    const pemFile = join(dir, 'wallet-public.pem');
    writeFileSync(pemFile, keys.publicKey);
    assert.match(await text(page, 'main'), /No partners yet/);
    await shot('partners');

    await page.fill('#name', 'Pocket Wallet');
    await page.fill('#email', 'ops@pocket-wallet.example');
    await page.setInputFiles('#pem-file', pemFile);
    // The file is read into the form by the page's script.
    await page.waitForFunction(() =>
      (document.getElementById('publicKeyPem') as HTMLTextAreaElement).value.includes('BEGIN PUBLIC KEY'),
    );
    assert.equal((await page.inputValue('#publicKeyPem')).trim(), keys.publicKey.trim());
    await page.fill('#ipWhitelist', '127.0.0.1');
    await page.fill('#redirectDomains', 'pocket.example');
    await page.click('#onboard-partner button[type=submit]');
    await page.waitForURL(/\/admin\/partners\/pocket_wallet_test$/);
    assert.match(await text(page, '#flash'), /Partner Pocket Wallet onboarded as pocket_wallet_test/);
    const stored = (await t.admin('GET', '/admin/v1/partners/pocket_wallet_test')).json;
    assert.equal(stored.status, 'ACTIVE');
    assert.deepEqual(stored.redirectDomains, ['pocket.example']);
    assert.ok((await text(page, 'main')).includes(stored.keys[0].fingerprint), 'the uploaded key is shown');
    await shot('partner');

    await page.click('a[href="/admin/partners"]');
    await page.waitForURL(/\/admin\/partners$/);
    const row = page.locator('tr', { has: page.locator('a[href="/admin/partners/pocket_wallet_test"]') });
    assert.match(await row.innerText(), /Pocket Wallet[\s\S]*Active/);
    await shot('partners-listed');

    await page.click('a[href="/admin/partners/pocket_wallet_test"]');
    await page.click('form[action$="/suspend"] button');
    await page.waitForSelector('#flash');
    assert.match(await text(page, '#flash'), /Partner suspended/);
    assert.match(await text(page, 'main'), /Suspended/);
    assert.equal((await t.admin('GET', '/admin/v1/partners/pocket_wallet_test')).json.status, 'DISABLED');
    await shot('partner-suspended');
    await page.click('form[action$="/reactivate"] button');
    await page.waitForSelector('#flash');
    assert.match(await text(page, '#flash'), /Partner reactivated/);
    assert.equal((await t.admin('GET', '/admin/v1/partners/pocket_wallet_test')).json.status, 'ACTIVE');
  });

  test('create a merchant and an API key: each secret shown once', async () => {
    await page.goto(`${t.baseUrl}/admin/merchants`);
    await shot('merchants');
    await page.fill('#name', 'Corner Bakery');
    await page.fill('#webhookUrl', 'https://bakery.example/hook');
    await page.click('#create-merchant button[type=submit]');
    await page.waitForSelector('#secret');
    assert.match(await text(page, 'main'), /Shown once/);
    const firstSecret = await page.inputValue('#secret');
    assert.match(firstSecret, /^[A-Za-z0-9]{64}$/);
    await shot('merchant-created');

    await page.click('text=Open the merchant');
    await page.waitForURL(/\/admin\/merchants\/\d+$/);
    const merchantId = /\/admin\/merchants\/(\d+)$/.exec(page.url())![1]!;
    assert.ok(!(await page.content()).includes(firstSecret), 'not shown again');
    await shot('merchant');
    await page.setViewportSize({ width: 1366, height: 900 });
    await browser.screenshot(page, 'console-merchant-desktop');
    await page.setViewportSize(PHONE);

    await page.check('#create-key input[name=permissions][value=PAYOUT]');
    await page.click('#create-key button[type=submit]');
    await page.waitForSelector('#secret');
    const apiKey = (await text(page, '.row:has-text("API key") .mono')).trim();
    const secret = await page.inputValue('#secret');
    assert.match(secret, /^[A-Za-z0-9]{64}$/);
    await shot('api-key-created');
    const keys = (await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.keys;
    assert.deepEqual(
      keys.map((k: { apiKey: string; permissions: string[] | null }) => [k.apiKey === apiKey, k.permissions]),
      [
        [false, null],
        [true, ['PAYOUT']],
      ],
    );

    await page.click('text=Back to the merchant');
    await page.waitForURL(new RegExp(`/admin/merchants/${merchantId}$`));
    assert.equal(await page.locator('form[action$="/keys/revoke"]').count(), 2, 'both keys can be revoked');
  });

  test('create a KYC Sharing broker linked to the partner; its secret shown once', async () => {
    await page.goto(`${t.baseUrl}/admin/brokers`);
    await shot('brokers');
    await page.fill('#name', 'Pocket Brokerage');
    await page.check('input[name=partialSharing]');
    await page.fill('#ipWhitelist', '127.0.0.1');
    await page.selectOption('#partner', 'pocket_wallet_test');
    await page.click('#create-broker button[type=submit]');
    await page.waitForSelector('#secret');
    await shot('broker-created');
    await page.click('text=Open the broker');
    await page.waitForURL(/\/admin\/brokers\/[A-Z0-9]+$/);
    assert.match(await text(page, 'main'), /Connect partner pocket_wallet_test/);
    assert.match(await text(page, 'main'), /Sharing partial/);
    await shot('broker');
  });
});
