import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, type Browser } from './support/browser.ts';
import { onboardPartner, rsaPair } from './support/connect-client.ts';

/**
 * The Connect partner portal in Chromium: password link, login, order list with failure reasons, key rotation,
 * settings, docs.
 */
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();
const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';

for (const kind of DB_KINDS) {
  describe(`Connect partner portal in Chromium (${kind})`, { skip: browserSkip }, () => {
    let t: TestApp;
    let browser: Browser;
    let p: Awaited<ReturnType<typeof onboardPartner>>;

    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      p = await onboardPartner(t, { name: 'Portal Wallet', email: 'ops@portal-wallet.example' });
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await t?.close();
    });

    test('password link → login → orders with status and failure reason → key rotation → settings → docs', async () => {
      const mk = (id: string, amount: number) =>
        p.client.call('buy-withdraw-crypto', {
          merchantOrderId: id,
          fiatCurrency: 'USD',
          cryptoCurrency: 'USDT',
          orderAmount: amount,
          withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: ETH_ADDR },
        });
      assert.equal((await mk('expired-1', 40)).json.code, '000000');
      t.clock.advance!(1_800_001);
      assert.equal(await t.app.services.connectOrders.expireDue(), 1);
      assert.equal((await mk('fresh-2', 75.5)).json.code, '000000');

      const page = await browser.newPage();
      // Before any password, the portal refuses the login.
      await page.goto(`${t.baseUrl}/en/partner/login`);
      await page.fill('#email', 'ops@portal-wallet.example');
      await page.fill('#password', 'whatever-password');
      await page.click('#login');
      assert.equal(await text(page, '#error'), 'Wrong email or password.');

      const link = (await t.app.services.mailer.list('ops@portal-wallet.example'))[0]!.text.match(
        /http\S+set-password\?token=[0-9a-f]+/,
      )![0];
      await page.goto(link);
      await page.fill('#password', 'a-strong-portal-pass');
      await page.click('#set-password');
      assert.equal(await text(page, '#info'), 'Password set. You can log in now.');
      // The link works once.
      const reused = await page.context().request.get(link);
      assert.equal(reused.status(), 410);

      await page.fill('#email', 'OPS@portal-wallet.example');
      await page.fill('#password', 'a-strong-portal-pass');
      await page.click('#login');
      await page.waitForSelector('#orders');
      assert.match(page.url(), /\/en\/partner\/orders$/);
      const rows = await page.$$eval('#orders tbody tr', (trs) =>
        trs.map((tr) => tr.getAttribute('data-merchant-order-id')),
      );
      assert.deepEqual(rows, ['fresh-2', 'expired-1']);
      assert.equal(await text(page, 'tr[data-merchant-order-id="expired-1"] .order-status'), 'FAILURE / FAILED');
      assert.equal(
        await text(page, 'tr[data-merchant-order-id="expired-1"] .order-error'),
        'ORDER_EXPIRED: The order expired before payment was confirmed.',
      );
      assert.equal(await text(page, 'tr[data-merchant-order-id="fresh-2"] .order-status'), 'INIT / CREATED');
      assert.match(await text(page, 'tr[data-merchant-order-id="fresh-2"]'), /75\.50 USD/);
      await browser.screenshot(page, 'connect-portal-orders');
      await page.goto(`${t.baseUrl}/en/partner/orders?status=FAILURE`);
      assert.deepEqual(
        await page.$$eval('#orders tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-merchant-order-id'))),
        ['expired-1'],
      );

      // Key rotation with a one-hour overlap.
      const next = rsaPair();
      await page.goto(`${t.baseUrl}/en/partner/keys`);
      assert.equal(await page.$$eval('#keys tr.key.active', (r) => r.length), 1);
      await page.fill('#publicKey', 'not a key');
      await page.click('#add-key');
      assert.match(await text(page, '#error'), /not a PEM key/);
      await page.fill('#publicKey', next.publicKey);
      await page.fill('#overlapHours', '1');
      await page.click('#add-key');
      assert.match(await text(page, '#info'), /^Key [0-9a-f]{16}… added\.$/);
      assert.equal(await page.$$eval('#keys tr.key.active', (r) => r.length), 2);
      assert.match(await text(page, '#keys tbody tr:nth-child(2)'), /active until/);
      assert.equal(await text(page, '#platform-key'), p.platformPublicKey.replace(/\s+/g, ' ').trim());
      await browser.screenshot(page, 'connect-portal-keys');
      const check = (privateKey: string) =>
        p.client.call('check-ip-address', { clientUserIp: '8.8.8.8' }, { privateKey }).then((r) => r.json.code);
      assert.equal(await check(p.keys.privateKey), '000000');
      assert.equal(await check(next.privateKey), '000000');
      t.clock.advance!(3_600_001);
      assert.equal(await check(p.keys.privateKey), 'OPE100000002');
      assert.equal(await check(next.privateKey), '000000');
      await page.reload();
      assert.equal(await page.$$eval('#keys tr.key.expired', (r) => r.length), 1);

      // Settings: IP whitelist, redirect domains, webhook URL.
      await page.goto(`${t.baseUrl}/en/partner/settings`);
      await page.fill('#ipWhitelist', '127.0.0.1\n192.168.0.0/16');
      await page.fill('#redirectDomains', 'wallet.example\nshop.wallet.example');
      await page.fill('#webhookUrl', 'https://wallet.example/connect-hook');
      await page.click('#save-settings');
      assert.equal(await text(page, '#info'), 'Saved.');
      const saved = await t.app.services.partners.get(p.merchantCode);
      assert.deepEqual(
        [saved?.ipWhitelist, saved?.redirectDomains, saved?.webhookUrl],
        [
          ['127.0.0.1', '192.168.0.0/16'],
          ['wallet.example', 'shop.wallet.example'],
          'https://wallet.example/connect-hook',
        ],
      );
      await page.fill('#ipWhitelist', '999.1.1.1');
      await page.click('#save-settings');
      assert.match(await text(page, '#error'), /999\.1\.1\.1/);
      await browser.screenshot(page, 'connect-portal-settings');

      await page.goto(`${t.baseUrl}/en/partner/docs`);
      assert.equal(await text(page, '#base-url'), `${t.baseUrl}/gateway-api/v1/public/open-api/connect/`);
      assert.match(await text(page, '#codes'), /OPE100000031 Order amount is out of the limits\./);
      await browser.screenshot(page, 'connect-portal-docs');

      // A form post without the session's CSRF token is refused.
      const forged = await page
        .context()
        .request.post(`${t.baseUrl}/en/partner/settings`, { form: { ipWhitelist: '0.0.0.0/0', _csrf: 'forged' } });
      assert.equal(forged.status(), 403);
      assert.deepEqual((await t.app.services.partners.get(p.merchantCode))?.ipWhitelist, [
        '127.0.0.1',
        '192.168.0.0/16',
      ]);

      await page.click('#logout');
      await page.goto(`${t.baseUrl}/en/partner/orders`);
      assert.match(page.url(), /\/en\/partner\/login$/);
    });
  });
}
