import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit, type Browser } from './support/browser.ts';
import { PNG } from './support/buyflow-fixture.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Binance Connect generation 2 on the pages (issue #19), in one Chromium at 390 px against one app: the operator
 * console shows the partner's client id, enables customization flags and a deep-link scheme, and issues a sign access
 * token (shown once); the partner portal shows the client id beside the merchantCode, issues another token (shown
 * once; the console's stops working) and registers a key as bare base64 DER; an order is created over HTTP with the
 * X-Tesla-* headers (signed here, with that key and token), opened through its `link` and completed through the
 * hosted buy flow (sign-up with the mailed code, KYC, card, confirm, USDT withdrawn on anvil), never frameable, ending
 * on the status page whose "Back to" leads to redirectUrl; the partner's webhooks carry 1, 2, 10, 11, 20 in order.
 * Then two orders past their linkExpireTime: MERCHANT_DISPLAY_NAME with a mobile deep link on the expired page, and
 * AUTO_REDIRECTION sending the person to failRedirectUrl at once. Screenshots: test-results/screenshots/connect2-*.
 */
const USER_ADDRESS = '0x52908400098527886E0F7030069857D2E4169EE7';
const PARTNER_EMAIL = 'ops@tesla-wallet.example';
const PASSWORD = 'a-strong-portal-pass';
const GEN2 = '/papi/v1/ramp/connect';
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

/** A gen-2 partner's request as binance-connect-v2.md §3 writes it: base64 RSA-SHA256 over `rawBody + timestamp`. */
async function gen2Call(
  t: TestApp,
  cred: { clientId: string; token: string; privateKey: string },
  op: string,
  body: unknown,
) {
  const raw = JSON.stringify(body);
  const timestamp = String(Date.now());
  const signature = createSign('RSA-SHA256')
    .update(Buffer.from(raw + timestamp, 'utf8'))
    .sign(cred.privateKey, 'base64');
  const res = await fetch(`${t.baseUrl}${GEN2}/${op}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'X-Tesla-ClientId': cred.clientId,
      'X-Tesla-SignAccessToken': cred.token,
      'X-Tesla-Timestamp': timestamp,
      'X-Tesla-Signature': signature,
    },
    body: raw,
  });
  return (await res.json()) as { success: boolean; code: string; message: string; data: any };
}

describe(
  'Connect generation 2 in Chromium: console, portal, an order over HTTP through the hosted buy flow',
  {
    skip: browserSkip,
  },
  () => {
    let t: TestApp;
    let browser: Browser;
    let page: Page;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let code: string;
    let clientId: string;
    /** The key the portal registered as base64 DER, and the token the portal issued: what the partner signs with. */
    const partnerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKey = partnerKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    let token = '';
    let consoleToken = '';

    async function shot(name: string) {
      assert.deepEqual(await phoneFit(page), [], `${name} on a phone`);
      await browser.screenshot(page, `connect2-${name}`);
    }
    const preOrder = (body: Record<string, unknown>) =>
      gen2Call(t, { clientId, token, privateKey }, 'buy/pre-order', {
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        amountType: 1,
        requestedAmount: '100',
        payMethodCode: 'BUY_CARD',
        payMethodSubCode: 'card',
        network: 'ETH',
        address: USER_ADDRESS,
        ...body,
      });

    before(async () => {
      t = await startTestApp({ workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      receiver = await startReceiver();
      const onboarding = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      const r = await t.admin('POST', '/admin/v1/partners', {
        name: 'Tesla Wallet',
        email: PARTNER_EMAIL,
        publicKeyPem: onboarding.publicKey,
        ipWhitelist: ['127.0.0.1'],
        redirectDomains: ['wallet.example'],
        webhookUrl: receiver.url('/connect2'),
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      code = r.json.merchantCode;
      clientId = r.json.clientId;
      assert.match(clientId, /^[0-9a-f]{32}$/);
      browser = await launchBrowser();
      page = await browser.newPage();
      await page.setViewportSize(PHONE);
      page.on('dialog', (d) => void d.accept());
      // The partner's pages are served by the browser itself (no network here), so arriving there can be observed.
      await page.route('http://wallet.example/**', (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Partner wallet</h1>' }),
      );
    });
    after(async () => {
      await browser?.close();
      await receiver?.close();
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    test('console: the client id, customization flags and deep-link schemes saved, a sign access token shown once', async () => {
      await page.goto(`${t.baseUrl}/admin/login`);
      await page.fill('#token', t.adminToken);
      await page.click('#token-login button[type=submit]');
      await page.waitForURL(/\/admin$/);
      await page.goto(`${t.baseUrl}/admin/partners/${code}`);
      assert.equal(await text(page, '#client-id'), clientId);
      assert.equal(await text(page, '#sign-token-state'), 'set');
      await page.check('#partner-gen2 input[value=AUTO_REDIRECTION]');
      await page.check('#partner-gen2 input[value=MERCHANT_DISPLAY_NAME]');
      await page.fill('#deepLinkSchemes', 'teslawallet');
      await page.click('#partner-gen2 button[type=submit]');
      await page.waitForSelector('#flash');
      assert.match(await text(page, '#flash'), /Generation 2 settings saved/);
      const saved = (await t.admin('GET', `/admin/v1/partners/${code}`)).json;
      assert.deepEqual(saved.customizationFlags, ['AUTO_REDIRECTION', 'MERCHANT_DISPLAY_NAME']);
      assert.deepEqual(saved.deepLinkSchemes, ['teslawallet']);
      assert.ok(await page.isChecked('#partner-gen2 input[value=AUTO_REDIRECTION]'));
      await shot('console-partner');

      await page.click('button:has-text("Issue sign access token")');
      await page.waitForSelector('#secret');
      consoleToken = await page.inputValue('#secret');
      assert.match(consoleToken, /^[A-Za-z0-9]{48}$/);
      await shot('console-sign-token');
      assert.equal((await t.admin('POST', '/admin/v1/partners/nobody_test/sign-token')).status, 404);
      // Shown once: the partner's page does not have it.
      await page.goto(`${t.baseUrl}/admin/partners/${code}`);
      assert.ok(!(await page.content()).includes(consoleToken));
    });

    test('portal: client id beside the merchantCode, a new sign access token shown once, a base64 DER key', async () => {
      const link = (await t.app.services.mailer.list(PARTNER_EMAIL))[0]!.text.match(
        /http\S+set-password\?token=[0-9a-f]+/,
      )![0];
      await page.goto(link);
      await page.fill('#password', PASSWORD);
      await page.click('#set-password');
      await page.fill('#email', PARTNER_EMAIL);
      await page.fill('#password', PASSWORD);
      await page.click('#login');
      await page.waitForURL(/\/en\/partner\/orders$/);
      await page.goto(`${t.baseUrl}/en/partner/keys`);
      assert.equal(await text(page, '#merchant-code'), code);
      assert.equal(await text(page, '#client-id'), clientId);
      assert.equal(await text(page, '#sign-token-state'), 'set');
      assert.equal(await page.$('#sign-token'), null);

      await page.click('#issue-sign-token');
      await page.waitForSelector('#sign-token');
      token = await page.inputValue('#sign-token');
      assert.match(token, /^[A-Za-z0-9]{48}$/);
      assert.notEqual(token, consoleToken);
      assert.match(await text(page, '#info'), /previous one no longer works/);
      await shot('portal-sign-token');
      await page.goto(`${t.baseUrl}/en/partner/keys`);
      assert.ok(!(await page.content()).includes(token), 'the token is shown once');

      // The key registration takes the bare base64 of the SPKI DER (what a gen-2 partner is asked for).
      const der = partnerKey.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
      await page.fill('#publicKey', der);
      await page.click('#add-key');
      await page.waitForSelector('#info');
      assert.match(await text(page, '#info'), /^Key [0-9a-f]{16}… added\.$/);
      await shot('portal-keys');

      await page.goto(`${t.baseUrl}/en/partner/docs`);
      assert.equal(await text(page, '#gen2-base-url'), `${t.baseUrl}${GEN2}/`);
      assert.match(await text(page, '#gen2-docs'), new RegExp(`X-Tesla-ClientId: ${clientId}`));
      assert.match(await text(page, '#generations'), /X-Tesla-SignAccessToken/);
      await shot('portal-docs');

      // Issuing needs the session's form token: a post without it changes nothing (the token below still works).
      const forged = await page.request.post(`${t.baseUrl}/en/partner/sign-token`, { form: { _csrf: 'x'.repeat(32) } });
      assert.equal(forged.status(), 403);
      // The console's token was replaced by the portal's: a request with it is refused, with the new one answered.
      const stale = await gen2Call(t, { clientId, token: consoleToken, privateKey }, 'buy/trading-pairs', {});
      assert.equal(stale.success, false, JSON.stringify(stale));
      const fresh = await gen2Call(t, { clientId, token, privateKey }, 'buy/trading-pairs', {});
      assert.equal(fresh.code, '000000', JSON.stringify(fresh));
    });

    test(
      'an order pre-ordered over HTTP, completed through the hosted buy flow (never framed), back to redirectUrl; ' +
        'webhooks 1, 2, 10, 11, 20',
      { timeout: 180_000 },
      async () => {
        const externalOrderId = `tesla${Date.now()}`;
        const pre = await preOrder({
          externalOrderId,
          redirectUrl: 'http://wallet.example/done',
          failRedirectUrl: 'http://wallet.example/failed',
          clientType: 'web',
        });
        assert.equal(pre.code, '000000', JSON.stringify(pre));
        assert.match(pre.data.link, /\/uni-qr\/ccnt\?token=[0-9a-f]{40}$/);
        const tokenOfLink = new URL(pre.data.link).searchParams.get('token')!;

        const res = (await page.goto(pre.data.link))!;
        assert.equal(new URL(page.url()).pathname, '/en/connect/buyflow');
        assert.equal(new URL(page.url()).searchParams.get('token'), tokenOfLink);
        assert.equal(res.request().redirectedFrom()?.url(), pre.data.link);
        assert.match(res.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
        assert.equal(res.headers()['x-frame-options'], 'DENY');
        assert.match(await text(page, '#purchase'), /Buying for Tesla Wallet/);
        await shot('1-create-account');

        const email = 'tesla-user@example.com';
        await page.fill('#identifier', email);
        await page.fill('#password', 'Passw0rdX');
        await page.click('button[type=submit]');
        await page.waitForSelector('#code');
        await shot('2-verification');
        const code6 = /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
        await page.fill('#code', code6);
        await page.check('#terms');
        await page.click('form[action*="verify"] button');
        await page.waitForSelector('#kyc-form');
        await shot('3-kyc');
        const img = join(mkdtempSync(join(tmpdir(), 'c2bf-')), 'doc.png');
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
        const queue = await t.admin('GET', '/admin/v1/kyc?status=REVIEW');
        const rec = queue.json.find((x: any) => x.source === 'buyflow');
        const decided = await t.admin('POST', `/sandbox/v1/kyc/${rec.kycUserId}/decision`, { decision: 'PASS' });
        assert.equal(decided.status, 200);
        await page.waitForSelector('#number', { timeout: 15_000 });
        await page.fill('#name', 'Ana Lee');
        await page.fill('#number', '4242 4242 4242 4242');
        await page.fill('#expiry', '12/34');
        await page.fill('#cvv', '123');
        await page.click('form[action*="card"] button');
        await page.waitForSelector('#confirm-btn');
        await shot('4-confirm');
        await page.click('#confirm-btn');
        await page.waitForSelector('#order-status');
        await page.waitForSelector('#order-status[data-status=COMPLETED]', { timeout: 90_000 });
        await shot('5-completed');
        assert.equal(await page.getAttribute('#close', 'href'), 'http://wallet.example/done');
        assert.equal(await text(page, '#close'), 'Back to Tesla Wallet');
        assert.equal(await page.$('[data-auto-return]'), null, 'no AUTO_REDIRECTION asked: the person stays');
        const txHash = await text(page, '#tx-hash');

        // The partner's webhooks: one per status passed, in order, the last with the transaction.
        const bodies = () =>
          receiver.received.filter((x) => x.path === '/connect2').map((x) => JSON.parse(x.body.toString('utf8')));
        await waitFor('the COMPLETED webhook', () => bodies().some((b) => b.status === 20), 30_000);
        const mine = bodies().filter((b) => b.externalOrderId === externalOrderId);
        assert.deepEqual(
          mine.map((b) => b.status),
          [1, 2, 10, 11, 20],
        );
        for (const b of mine) assert.match(b.openUserId, /^[0-9a-f]{32}$/);
        assert.equal(new Set(mine.map((b) => b.openUserId)).size, 1);
        const done = mine.at(-1)!;
        assert.equal(done.withdrawTxHash, txHash);
        assert.match(done.withdrawTxHash, /^0x[0-9a-f]{64}$/);
        for (const r of receiver.received.filter((x) => x.path === '/connect2'))
          assert.equal(r.headers['x-bn-connect-for'], clientId);

        // orderDetailLink opens the same status page (same token), never framed either.
        assert.equal(new URL(done.orderDetailLink).pathname, '/en/connect/order');
        const detail = (await page.goto(done.orderDetailLink))!;
        assert.equal(new URL(page.url()).searchParams.get('token'), tokenOfLink);
        assert.match(detail.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
        assert.equal(await page.getAttribute('#order-status', 'data-status'), 'COMPLETED');
        await page.click('#close');
        await page.waitForURL('http://wallet.example/done');

        // The partner portal lists it beside gen-1 orders, with its published status.
        await page.goto(`${t.baseUrl}/en/partner/orders?q=${externalOrderId}`);
        const row = `tr[data-merchant-order-id="${externalOrderId}"]`;
        assert.equal(await text(page, `${row} .order-status`), 'SUCCESS / COMPLETED · status 20');
        assert.match(await text(page, row), /gen 2/);
        await shot('portal-orders');
      },
    );

    test('past linkExpireTime: MERCHANT_DISPLAY_NAME and the mobile deep link; AUTO_REDIRECTION leaves at once', async () => {
      const named = await preOrder({
        externalOrderId: `named${Date.now()}`,
        redirectUrl: 'http://wallet.example/done',
        failRedirectUrl: 'http://wallet.example/failed',
        failRedirectDeepLink: 'teslawallet://order/failed',
        clientType: 'mobile',
        customization: { MERCHANT_DISPLAY_NAME: 'Tesla Pay' },
      });
      assert.equal(named.code, '000000', JSON.stringify(named));
      const auto = await preOrder({
        externalOrderId: `auto${Date.now()}`,
        redirectUrl: 'http://wallet.example/done',
        failRedirectUrl: 'http://wallet.example/failed',
        clientType: 'web',
        customization: { AUTO_REDIRECTION: true },
      });
      assert.equal(auto.code, '000000', JSON.stringify(auto));
      t.clock.advance!(named.data.linkExpireTime - t.clock.now() + 1);

      await page.goto(named.data.link);
      assert.equal(await text(page, 'h1'), 'Order expired');
      assert.equal(await page.getAttribute('#close', 'href'), 'teslawallet://order/failed');
      assert.equal(await text(page, '#close'), 'Back to Tesla Pay');
      await shot('6-expired-display-name');

      await page.goto(auto.data.link);
      await page.waitForURL('http://wallet.example/failed');
    });
  },
);
