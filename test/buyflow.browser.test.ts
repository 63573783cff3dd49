import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { erc20Abi, type Address } from 'viem';
import { assertAuditOk, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, type Browser } from './support/browser.ts';
import { onboardPartner } from './support/connect-client.ts';

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d000000' +
    '0049454e44ae426082',
  'hex',
);
const USER_ADDRESS = '0x52908400098527886E0F7030069857D2E4169EE7';

test(
  'the whole seed flow in Chromium: order → sign-up with the mailed code → KYC → approved → card → confirm → USDT on ' +
    'anvil → back to the partner',
  { skip: browserSkip, timeout: 180_000 },
  async () => {
    const t: TestApp = await startTestApp({ workers: true });
    let browser: Browser | null = null;
    try {
      const partner = await onboardPartner(t);
      const r = await partner.client.call('buy-withdraw-crypto', {
        merchantOrderId: `seed${Date.now()}`,
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        orderAmount: 100,
        merchantUserId: 'u-8841',
        merchantRedirectUrl: 'http://wallet.example/done',
        withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: USER_ADDRESS },
      });
      assert.equal(r.json.code, '000000', r.text);
      browser = await launchBrowser();
      const page = await browser.newPage();
      const res = await page.goto(r.json.data.eternalRedirectUrl);
      assert.match(
        res!.headers()['content-security-policy'] ?? '',
        /frame-ancestors https:\/\/wallet\.example http:\/\/wallet\.example/,
      );
      await browser.screenshot(page, 'buyflow-1-create-account');
      const email = 'seed-user@example.com';
      await page.fill('#identifier', email);
      await page.fill('#password', 'Passw0rdX');
      await page.click('button[type=submit]');
      await page.waitForSelector('#code');
      await browser.screenshot(page, 'buyflow-2-verification');
      const mail = await fetch(`${t.baseUrl}/dev/mailbox.json?to=${email}`, {
        headers: { authorization: `Bearer ${t.adminToken}` },
      }).then((x) => x.json());
      const code = /(\d{6})/.exec(mail[0].text)![1]!;
      await page.fill('#code', code);
      await page.check('#terms');
      await page.click('form[action*="verify"] button');
      await page.waitForSelector('#kyc-form');
      await browser.screenshot(page, 'buyflow-3-kyc');
      const dir = mkdtempSync(join(tmpdir(), 'bf-'));
      const img = join(dir, 'doc.png');
      writeFileSync(img, PNG);
      await page.selectOption('#country', 'FR');
      await page.selectOption('#idCountry', 'FR');
      await page.fill('#firstName', 'Ana');
      await page.fill('#lastName', 'Lee');
      await page.fill('#dateOfBirth', '1990-01-01');
      await page.selectOption('#documentType', 'PASSPORT');
      await page.setInputFiles('#front', img);
      await page.setInputFiles('#selfie', img);
      await page.click('#kyc-form button');
      await page.waitForSelector('text=Under Review');
      await browser.screenshot(page, 'buyflow-4-under-review');
      const queue = await t.admin('GET', '/admin/v1/kyc?status=REVIEW');
      const rec = queue.json.find((x: any) => x.source === 'buyflow');
      assert.equal(
        (await t.admin('POST', `/sandbox/v1/kyc/${rec.kycUserId}/decision`, { decision: 'PASS' })).status,
        200,
      );
      // The Under Review page polls and moves on by itself once the decision is applied.
      await page.waitForSelector('#number', { timeout: 15_000 });
      await browser.screenshot(page, 'buyflow-5-add-card');
      await page.fill('#name', 'Ana Lee');
      await page.fill('#number', '4242 4242 4242 4242');
      await page.fill('#expiry', '12/34');
      await page.fill('#cvv', '123');
      await page.click('form[action*="card"] button');
      await page.waitForSelector('#confirm-btn');
      assert.match((await page.textContent('body')) ?? '', /\*\*\*\*4242/);
      await browser.screenshot(page, 'buyflow-6-confirm');
      await page.click('#confirm-btn');
      await page.waitForSelector('#order-status');
      await browser.screenshot(page, 'buyflow-7-status-processing');
      await page.waitForSelector('#order-status[data-status=COMPLETED]', { timeout: 90_000 });
      await browser.screenshot(page, 'buyflow-8-completed');
      const q = (await partner.client.call('query-order-list', { orderId: r.json.data.orderId })).json.data[0];
      assert.equal(q.orderMainStatus, 'SUCCESS');
      assert.equal(await page.textContent('#tx-hash'), q.withdrawTxHash);
      const eth = await t.app.services.chain.evm('ETH');
      const token = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`))
        .rows[0].address as Address;
      const bal = await eth.client.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [USER_ADDRESS],
      });
      assert.equal(bal, BigInt(Math.round(Number(q.obtainAmount) * 1e6)));
      // No network here: the partner's page is served by the browser itself, so arriving there can be observed.
      await page.route('http://wallet.example/**', (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Partner wallet</h1>' }),
      );
      await page.click('#close');
      await page.waitForURL('http://wallet.example/done');
      assert.equal(page.url(), 'http://wallet.example/done');
      await browser.screenshot(page, 'buyflow-9-back-to-partner');
      await assertAuditOk(t);
    } finally {
      await browser?.close();
      await t.close();
    }
  },
);
