import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { merchantAccount } from '../src/pay/wallets.ts';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { assertAuditOk, createMerchant, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, type Browser } from './support/browser.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * The page an e-mail payout recipient opens from the invitation (binance-pay-extended.md §10.2), in Chromium at a
 * phone's width: who sent how much, until when, and what to do; then the same link once received. Screenshots under
 * test-results/screenshots/payout-claim-*.png.
 */
const PHONE = { width: 390, height: 844 };

describe('payout claim page in Chromium at 390 px', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;

  before(async () => {
    [t, browser] = await Promise.all([startTestApp({ workers: true }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  test('waiting, then received: the amount, the merchant, the deadline and the steps fit the phone', async () => {
    const m = await createMerchant(t, { name: 'Northwind Trading & Logistics International Holdings' });
    await t.db.tx((q) =>
      t.app.services.ledger.transfer(q, {
        id: `test-fund:${m.merchantId}`,
        debit: platformAccount('sandbox_mint', 'USDT'),
        credit: merchantAccount(m.merchantId, 'FUNDING_WALLET', 'USDT'),
        amount: '100000',
        kind: 'sandbox.fund',
      }),
    );
    const email = 'a.very.long.recipient.address.for.a.narrow.screen@subdomain.example.com';
    const requestId = `BR${Date.now()}`;
    const r = await m.client.post('/payout/transfer', {
      requestId,
      batchName: 'browser',
      currency: 'USDT',
      totalAmount: '12345.12345678',
      totalNumber: 1,
      transferDetailList: [
        {
          merchantSendId: 'b1',
          receiveType: 'EMAIL',
          receiver: email,
          transferAmount: '12345.12345678',
          transferMethod: 'FUNDING_WALLET',
        },
      ],
    });
    assert.equal(r.json.status, 'SUCCESS', r.text);
    const mail = await waitFor('invitation', async () => (await t.app.services.mailer.list(email))[0]);
    const link = /Details: (\S+)/.exec(mail.text)![1]!;

    const page = await browser.newPage();
    await page.setViewportSize(PHONE);
    const check = async (name: string) => {
      const m = await page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        const wide = Array.from(document.querySelectorAll('main *'))
          .filter((e) => e.getBoundingClientRect().right > w + 0.5)
          .map((e) => `${e.tagName}.${e.className}`);
        const small = Array.from(document.querySelectorAll('.status, .row, .muted'))
          .filter((e) => parseFloat(getComputedStyle(e).fontSize) < 12)
          .map((e) => e.textContent);
        return { w, scrollWidth: document.documentElement.scrollWidth, wide, small };
      });
      assert.ok(m.scrollWidth <= m.w, `${name}: scrolls sideways (${m.scrollWidth} > ${m.w}): ${m.wide.join(', ')}`);
      assert.deepEqual(m.wide, [], `${name}: wider than the viewport`);
      assert.deepEqual(m.small, [], `${name}: text below 12 px`);
      await browser.screenshot(page, `payout-claim-${name}`);
    };

    await page.goto(link);
    const text = await page.locator('main').innerText();
    for (const s of ['Northwind Trading', '12345.12345678 USDT', email, 'Receive before', 'identity verification'])
      assert.ok(text.includes(s), `the page shows ${s}`);
    assert.match(text, /Waiting for you/);
    await check('waiting');

    const p = await t.admin('POST', '/sandbox/v1/payers', { email, balances: {} });
    assert.equal(p.status, 201, JSON.stringify(p.json));
    await waitFor('claimed', async () => {
      const q = await m.client.post('/payout/query', { requestId });
      return q.json.data.transferDetailList[0].status === 'SUCCESS';
    });
    await page.reload();
    assert.match(await page.locator('main').innerText(), /Received/);
    await check('received');
  });
});
