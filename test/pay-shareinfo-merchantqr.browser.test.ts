import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, dashboardOwnerPage, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * The payer's pages of binance-pay-extended.md §17 in Chromium at a phone's width: the share-account consent page
 * (log in, Agree → the SHARE_ACCOUNT_ID webhook; Decline → none), and a merchant's static QR code from end to end:
 * the dashboard's QR codes section (nav link only with the feature, register a fixed-amount and an any-amount code,
 * the list with images and links, the print page, Disable), the payer opening /qr/{code}, waiting, the merchant
 * creating the order with the webhook's referId, the page turning into the checkout (no "Pay from another wallet")
 * and the payer paying; in the sandbox, the payer scanning the any-amount code, entering 3.5 USDT and paying.
 * Screenshots under test-results/screenshots/shareinfo-*.png and merchantqr-*.png.
 */
describe('share account id and merchant QR pages in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    [t, browser, receiver] = await Promise.all([startTestApp(), launchBrowser(), startReceiver()]);
  });
  after(async () => {
    await browser?.close();
    await receiver?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  async function fits(page: Page, name: string) {
    assert.deepEqual(await phoneFit(page), [], name);
    await browser.screenshot(page, name);
  }
  async function deliver() {
    for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
  }
  const webhookFor = (id: string) =>
    receiver.received.find((x) => x.body.toString('utf8').includes(`"bizIdStr":"${id}"`));

  test('consent page: log in and Agree sends SHARE_ACCOUNT_ID; Decline sends nothing', async () => {
    const m = await createMerchant(t, { name: 'Harbourside Books & Coffee Company', webhookUrl: receiver.url('/s') });
    const payer = await createPayer(t, 'a.rather.long.reader.address@bookshop-subdomain.example.com', {});
    let asked = 0;
    const ask = async () => {
      const r = await m.client.post('/shareinfo/accountId', {
        requestId: `R${Date.now()}${++asked}`,
      });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      return r.json.data as { id: string; qrcodeContent: string };
    };
    const first = await ask();
    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(first.qrcodeContent);
    assert.equal(await page.textContent('#ask'), 'Harbourside Books & Coffee Company asks to see your account ID');
    await fits(page, 'shareinfo-login');
    await page.fill('#email', payer.email);
    await page.fill('#password', payer.password);
    await page.click('#login');
    await page.waitForSelector('#agree');
    assert.equal(await page.textContent('#account-id'), payer.payerId);
    await fits(page, 'shareinfo-agree');
    await page.click('#agree');
    await page.waitForSelector('#status');
    assert.equal(await page.textContent('#status'), 'You shared your account ID.');
    await fits(page, 'shareinfo-agreed');
    await deliver();
    const got = await waitFor('SHARE_ACCOUNT_ID', () => webhookFor(first.id));
    const v = await createPayWebhookVerifier(m.client).verify(got.headers, got.body);
    assert.equal(v.bizType, 'SHARE_ACCOUNT_ID');
    assert.equal(v.data.userBinanceId, payer.payerId);

    const second = await ask();
    await page.goto(second.qrcodeContent);
    await page.click('#decline');
    await page.waitForSelector('#status');
    assert.equal(await page.textContent('#status'), 'You declined. Nothing was shared.');
    await fits(page, 'shareinfo-declined');
    await deliver();
    assert.equal(webhookFor(second.id), undefined, 'no webhook on Decline');
    const q = await t.db.query(`SELECT status FROM pay_share_requests WHERE id = $1`, [second.id]);
    assert.equal(q.rows[0].status, 'DECLINED');
  });

  test('QR codes: the dashboard registers and prints codes; a payer scans, waits, gets the checkout and pays', async () => {
    const email = 'qr-owner@example.com';
    const m = await createMerchant(t, { name: 'Corner Noodle Bar', email, webhookUrl: receiver.url('/q') });
    const payer = await createPayer(t, 'noodle.lover@example.com', { USDT: '20' });
    // The consent test's payer session is not this payer's.
    await browser.context.clearCookies();
    const page = await dashboardOwnerPage(browser, t, email, 'qr-owner-password-1');
    // Off by default: no nav link, and the section says who can turn it on.
    assert.equal(await page.locator('nav a', { hasText: 'QR codes' }).count(), 0);
    const off = await page.goto(`${t.baseUrl}/en/dashboard/qr-codes`);
    assert.equal(off?.status(), 403);
    assert.match((await page.textContent('#qr-off'))!, /not enabled/);
    const on = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { merchantQrCode: true } });
    assert.equal(on.status, 200);

    await page.goto(`${t.baseUrl}/en/dashboard/orders`);
    await page.click('nav a:has-text("QR codes")');
    await page.waitForURL(/\/en\/dashboard\/qr-codes$/);
    assert.equal(await page.locator('#no-codes').count(), 1);
    await fits(page, 'merchantqr-dashboard-empty');
    // A fixed amount without an amount is refused, and the form keeps what was typed.
    await page.fill('#label', 'Counter 1');
    await page.click('#register');
    await page.waitForSelector('.error');
    assert.match((await page.textContent('.error'))!, /fixed amount is a number above zero/);
    assert.equal(await page.inputValue('#label'), 'Counter 1');
    await page.fill('#amount', '4.20');
    await page.click('#register');
    await page.waitForSelector('.flash');
    await page.fill('#label', 'Tips jar');
    await page.check('input[value=USER_INPUT_AMOUNT]');
    await page.click('#register');
    await page.waitForSelector('.flash:has-text("Tips jar")');
    const codes = page.locator('#codes [data-code]');
    assert.equal(await codes.count(), 2);
    const fixedCard = codes.filter({ hasText: 'Counter 1' });
    const tipsCard = codes.filter({ hasText: 'Tips jar' });
    assert.match(await fixedCard.innerText(), /4\.20 USDT/);
    assert.match(await tipsCard.innerText(), /Payer enters the amount/);
    const fixedCode = (await fixedCard.getAttribute('data-code'))!;
    const tipsCode = (await tipsCard.getAttribute('data-code'))!;
    assert.equal(
      await fixedCard.locator('a', { hasText: '/qr/' }).getAttribute('href'),
      `${t.baseUrl}/qr/${fixedCode}`,
    );
    // Every code's image is a QR code that loaded.
    const widths = await page.$$eval('#codes img.qr', (imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    assert.deepEqual(widths.length, 2);
    assert.ok(
      widths.every((w) => w > 0),
      `images loaded: ${widths}`,
    );
    await fits(page, 'merchantqr-dashboard');

    await fixedCard.locator('button', { hasText: 'Print' }).click();
    await page.waitForURL(new RegExp(`/qr-codes/${fixedCode}/print\\??$`));
    assert.match((await page.innerText('#print'))!, /Corner Noodle Bar[\s\S]*Counter 1[\s\S]*4\.20 USDT/);
    assert.ok(await page.$eval('#print img', (i) => (i as HTMLImageElement).naturalWidth > 0));
    await fits(page, 'merchantqr-print');

    // The payer scans the fixed code: log in, then wait for the merchant.
    // Another tab of the same browser: the payer's session cookie is not the dashboard's.
    const phone = await browser.newPage();
    await phone.setViewportSize(PHONE);
    await phone.goto(`${t.baseUrl}/qr/${fixedCode}`);
    assert.equal(await phone.textContent('#merchant'), 'Pay Corner Noodle Bar');
    assert.equal(await phone.textContent('#amount'), '4.20 USDT');
    await fits(phone, 'merchantqr-scan-login');
    await phone.fill('#email', payer.email);
    await phone.fill('#password', payer.password);
    await phone.click('#login');
    await phone.waitForSelector('#waiting');
    const referId = /\/scans\/(\d+)$/.exec(phone.url())![1]!;
    await fits(phone, 'merchantqr-waiting');

    // The merchant learns of the scan by its webhook and creates the order with its referId.
    await deliver();
    const got = await waitFor('MERCHANT_QR_CODE', () => webhookFor(referId));
    const v = await createPayWebhookVerifier(m.client).verify(got.headers, got.body);
    assert.equal(v.dataKind, 'object');
    assert.equal(v.data.referId, referId);
    assert.equal(v.data.qrContent, `${t.baseUrl}/qr/${fixedCode}`);
    const order = await m.client.post('/v3/order', v3Order({ orderAmount: '4.2', qrCodeReferId: v.data.referId }));
    assert.equal(order.json.status, 'SUCCESS', order.text);
    // The waiting page notices by itself and becomes the checkout, already logged in, without another wallet.
    await phone.waitForURL(/\/checkout\/[a-z0-9]{16}$/, { timeout: 15_000 });
    await phone.waitForSelector('#pay');
    assert.equal(await phone.locator('#onchain').count(), 0);
    assert.equal(await phone.textContent('#pay'), 'Pay 4.20 USDT');
    await fits(phone, 'merchantqr-checkout');
    await phone.click('#pay');
    await phone.waitForSelector('#status:has-text("Paid")');
    await fits(phone, 'merchantqr-paid');
    const q = await m.client.post('/v2/order/query', { prepayId: order.json.data.prepayId });
    assert.equal(q.json.data.status, 'PAID', q.text);

    // The sandbox (issue 18): the payer scans the any-amount code and enters the amount on the waiting page.
    await phone.goto(`${t.baseUrl}/qr/${tipsCode}`);
    await phone.waitForSelector('#waiting');
    const tipsReferId = /\/scans\/(\d+)$/.exec(phone.url())![1]!;
    assert.equal(await phone.textContent('#payer-order h2'), 'Enter the amount');
    await phone.fill('#amount', '0');
    await phone.click('#enter-amount');
    await phone.waitForSelector('#error');
    assert.match((await phone.textContent('#error'))!, /above zero/);
    await phone.fill('#amount', '3.5');
    await phone.selectOption('#currency', 'USDT');
    await fits(phone, 'merchantqr-enter-amount');
    await phone.click('#enter-amount');
    await phone.waitForURL(/\/checkout\/[a-z0-9]{16}$/);
    await phone.waitForSelector('#pay');
    assert.equal(await phone.locator('#onchain').count(), 0);
    assert.equal(await phone.textContent('#pay'), 'Pay 3.50 USDT');
    await fits(phone, 'merchantqr-entered-checkout');
    await phone.click('#pay');
    await phone.waitForSelector('#status:has-text("Paid")');
    await fits(phone, 'merchantqr-entered-paid');
    // The merchant had its MERCHANT_QR_CODE webhook at the scan, and the order is its own, paid.
    await deliver();
    const tipsHook = await waitFor('MERCHANT_QR_CODE', () => webhookFor(tipsReferId));
    const tv = await createPayWebhookVerifier(m.client).verify(tipsHook.headers, tipsHook.body);
    assert.equal(tv.data.qrCodeType, 'USER_INPUT_AMOUNT');
    const tipsOrder = await m.client.post('/v2/order/query', { merchantTradeNo: `qr${tipsReferId}` });
    assert.equal(tipsOrder.json.data.status, 'PAID', tipsOrder.text);
    assert.equal(`${tipsOrder.json.data.orderAmount} ${tipsOrder.json.data.currency}`, '3.50000000 USDT');

    // The merchant disables the other code: it stays listed, and scanning it shows "Code not found".
    await page.goto(`${t.baseUrl}/en/dashboard/qr-codes`);
    await tipsCard.locator('button', { hasText: 'Disable' }).click();
    await page.waitForSelector('.flash:has-text("disabled")');
    assert.match(await page.locator(`[data-code="${tipsCode}"]`).innerText(), /Disabled/);
    assert.equal(await page.locator(`[data-code="${tipsCode}"] img`).count(), 0);
    await fits(page, 'merchantqr-dashboard-disabled');
    const gone = await phone.goto(`${t.baseUrl}/qr/${tipsCode}`);
    assert.equal(gone?.status(), 404);
    assert.equal(await phone.textContent('h1'), 'Code not found');
  });
});
