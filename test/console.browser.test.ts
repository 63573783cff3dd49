import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { createOperator, kycRecordInReview, solidPng, type TestOperator } from './support/console.ts';

/**
 * Issue #17 in Chromium: a reviewer logs in to the operator console through its form (e-mail, password and the
 * authenticator's code), finds a buy-flow KYC record in the review queue, sees its document image decoded on the
 * page, approves it, and sees the decision in the record's history and in the audit log (as an administrator).
 * Each page is checked at 390 px (phoneFit) and saved as a screenshot; the record page also at a desktop width.
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

describe('operator console in Chromium', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let reviewer: TestOperator;
  let admin: TestOperator;
  let recordId: string;

  async function shot(name: string) {
    assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
    await browser.screenshot(page, `console-${name}`);
  }
  async function logIn(op: TestOperator, next = '/admin') {
    await page.goto(`${t.baseUrl}${next}`);
    await page.waitForURL(/\/admin\/login/);
    await page.fill('#email', op.email);
    await page.fill('#password', op.password);
    await page.fill('#code', op.code());
    await page.click('#account-login button[type=submit]');
  }

  before(async () => {
    t = await startTestApp();
    reviewer = await createOperator(t, 'reviewer');
    admin = await createOperator(t, 'admin');
    recordId = await kycRecordInReview(t, solidPng(320, 200, [30, 140, 90]));
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setViewportSize(PHONE);
  });
  after(async () => {
    await browser?.close();
    await assertAuditOk(t);
    await t.close();
  });

  test('a reviewer approves a KYC record whose document image is on the page', async () => {
    await page.goto(`${t.baseUrl}/admin/login`);
    await shot('login');
    await logIn(reviewer);
    await page.waitForURL(/\/admin\/kyc$/);
    assert.equal(await text(page, 'h1'), 'KYC review queue');
    assert.deepEqual(
      await page.$$eval('nav a', (as) => as.map((a) => a.textContent)),
      ['KYC review'],
      'a reviewer is offered the queue only',
    );
    await page.selectOption('#status', 'REVIEW');
    await page.click('form.filters button');
    await page.waitForURL(/status=REVIEW/);
    await shot('kyc-queue');

    await page.click(`a[href="/admin/kyc/${recordId}"]`);
    await page.waitForURL(new RegExp(`/admin/kyc/${recordId}$`));
    const img = page.locator('figure.kyc-doc img');
    await img.waitFor();
    await page.waitForFunction(() => {
      const i = document.querySelector('figure.kyc-doc img') as HTMLImageElement | null;
      return i !== null && i.complete;
    });
    const size = await img.evaluate((i: HTMLImageElement) => [i.naturalWidth, i.naturalHeight]);
    assert.deepEqual(size, [320, 200], 'the decrypted document image decoded in the browser');
    assert.ok((await img.boundingBox())!.width > 100, 'and is visible');
    await shot('kyc-record');
    await page.setViewportSize({ width: 1366, height: 900 });
    await browser.screenshot(page, 'console-kyc-record-desktop');
    await page.setViewportSize(PHONE);

    await page.click('#decision button[value=PASS]');
    await page.waitForSelector('#flash');
    assert.equal(await text(page, '#flash'), `Record ${recordId} approved.`);
    assert.match(await text(page, 'main'), /Reviewer decision: PASS/);
    assert.equal(await page.locator('#decision').count(), 0, 'no decision form once decided');
    await shot('kyc-approved');
    assert.equal((await t.admin('GET', `/admin/v1/kyc/${recordId}`)).json.statusInfo.kycStatus, 'PASS');

    // A reload after the decision shows the page again, without re-sending the form.
    await page.reload();
    assert.equal(await page.locator('#flash').count(), 0);

    await page.click('nav form button');
    await page.waitForURL(/\/admin\/login/);
  });

  test('an administrator sees the decision in the audit log', async () => {
    await logIn(admin);
    await page.waitForURL(/\/admin$/);
    assert.equal(await text(page, 'h1'), 'Overview');
    await shot('overview');
    await page.click('nav a[href="/admin/audit-log"]');
    const row = page.locator('tr', { hasText: `/admin/v1/kyc/${recordId}/decision` });
    assert.match(await row.innerText(), new RegExp(reviewer.email.replace(/[.]/g, '\\.')));
    assert.match(await row.innerText(), /decision=PASS/);
    await shot('audit-log');
  });
});
