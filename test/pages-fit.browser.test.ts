import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertAuditOk, createMerchant, createPayer, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { browserSkip, dashboardFirstLogin, launchBrowser, PHONE, type Browser } from './support/browser.ts';
import { onboardPartner } from './support/connect-client.ts';
import { startReceiver } from './support/webhook-receiver.ts';
import { kycRecordInReview, solidPng } from './support/console.ts';

/**
 * Every page fits a phone and a desktop: each page below is loaded at 390×844 and at 1366×900, logged in as the row
 * says and with data on it (a paid order with a refund, webhook deliveries, a Connect order), and the page itself
 * must never scroll sideways (`document.documentElement.scrollWidth` within the viewport; a wide table scrolls in its
 * own box or becomes cards). A 390 px screenshot of each page is kept as test-results/screenshots/fit-<name>.png.
 *
 * Adding a page is one line in PAGES: a name, its path (from the data the set-up made) and the session it needs.
 */
type Login = 'none' | 'merchant' | 'partner' | 'payer' | 'operator';

interface Data {
  /** A paid order of the merchant with one refund. */
  refundedPrepayId: string;
  /** An unpaid order's hosted checkout path. */
  checkoutPath: string;
  /** A Connect order's buy-flow entry path. */
  buyFlowPath: string;
  /** A generation-2 Connect order's landing link path (binance-connect-v2.md §4.7: redirects to the buy flow). */
  gen2LinkPath: string;
  /** The merchant, the Connect partner and a KYC Sharing broker, for the console's pages. */
  merchantId: string;
  partnerCode: string;
  brokerKey: string;
  /** A buy-flow KYC record waiting for review (with a document image), and the Connect order's id. */
  kycRecordId: string;
  connectOrderId: string;
}

interface PageCase {
  name: string;
  path: (d: Data) => string;
  login: Login;
}

const D = '/en/dashboard';
const P = '/en/partner';
const PAGES: PageCase[] = [
  // merchant dashboard
  { name: 'dashboard-login', login: 'none', path: () => `${D}/login` },
  { name: 'dashboard-orders', login: 'merchant', path: () => `${D}/orders` },
  { name: 'dashboard-order', login: 'merchant', path: (d) => `${D}/orders/${d.refundedPrepayId}` },
  { name: 'dashboard-balances', login: 'merchant', path: () => `${D}/balances` },
  { name: 'dashboard-payouts', login: 'merchant', path: () => `${D}/payouts` },
  { name: 'dashboard-settlement', login: 'merchant', path: () => `${D}/settlement` },
  { name: 'dashboard-reports', login: 'merchant', path: () => `${D}/reports` },
  { name: 'dashboard-report-files', login: 'merchant', path: () => `${D}/reports/files` },
  { name: 'dashboard-sub-merchants', login: 'merchant', path: () => `${D}/sub-merchants` },
  { name: 'dashboard-conversions', login: 'merchant', path: () => `${D}/conversions` },
  { name: 'dashboard-profit-sharing', login: 'merchant', path: () => `${D}/profit-sharing` },
  { name: 'dashboard-developers', login: 'merchant', path: () => `${D}/developers` },
  { name: 'dashboard-technical-vendor', login: 'merchant', path: () => `${D}/technical-vendor` },
  // partner portal
  { name: 'portal-login', login: 'none', path: () => `${P}/login` },
  { name: 'portal-orders', login: 'partner', path: () => `${P}/orders` },
  { name: 'portal-settings', login: 'partner', path: () => `${P}/settings` },
  { name: 'portal-keys', login: 'partner', path: () => `${P}/keys` },
  { name: 'portal-docs', login: 'partner', path: () => `${P}/docs` },
  // the customer-facing entry pages (their families are finished by others; listed here so the check covers them)
  { name: 'checkout', login: 'none', path: (d) => d.checkoutPath },
  { name: 'buy-flow', login: 'none', path: (d) => d.buyFlowPath },
  { name: 'buy-flow-gen2', login: 'none', path: (d) => d.gen2LinkPath },
  { name: 'signup', login: 'none', path: () => '/signup' },
  { name: 'payer-login', login: 'none', path: () => '/login' },
  { name: 'wallet', login: 'payer', path: () => '/wallet' },
  { name: 'console-merchants', login: 'operator', path: () => '/admin/merchants' },
  { name: 'console-merchant', login: 'operator', path: (d) => `/admin/merchants/${d.merchantId}` },
  { name: 'console-partners', login: 'operator', path: () => '/admin/partners' },
  { name: 'console-partner', login: 'operator', path: (d) => `/admin/partners/${d.partnerCode}` },
  { name: 'console-brokers', login: 'operator', path: () => '/admin/brokers' },
  { name: 'console-broker', login: 'operator', path: (d) => `/admin/brokers/${d.brokerKey}` },
  { name: 'console-login', login: 'none', path: () => '/admin/login' },
  { name: 'console-overview', login: 'operator', path: () => '/admin' },
  { name: 'console-kyc-queue', login: 'operator', path: () => '/admin/kyc?status=REVIEW' },
  { name: 'console-kyc-record', login: 'operator', path: (d) => `/admin/kyc/${d.kycRecordId}` },
  { name: 'console-orders', login: 'operator', path: (d) => `/admin/orders?q=${d.refundedPrepayId}` },
  { name: 'console-pay-order', login: 'operator', path: (d) => `/admin/orders/pay/${d.refundedPrepayId}` },
  { name: 'console-connect-order', login: 'operator', path: (d) => `/admin/orders/connect/${d.connectOrderId}` },
  { name: 'console-webhooks', login: 'operator', path: () => '/admin/webhooks' },
  { name: 'console-ledger', login: 'operator', path: () => '/admin/ledger' },
  { name: 'console-ledger-transfers', login: 'operator', path: () => '/admin/ledger/transfers' },
  { name: 'console-hot-wallets', login: 'operator', path: () => '/admin/hot-wallets' },
  { name: 'console-sandbox', login: 'operator', path: () => '/admin/sandbox' },
  { name: 'console-audit-log', login: 'operator', path: () => '/admin/audit-log' },
  // the operator's other pages, and the public ones
  { name: 'mailbox', login: 'operator', path: () => '/dev/mailbox' },
  { name: 'landing', login: 'none', path: () => '/' },
  { name: 'docs', login: 'none', path: () => '/docs' },
];

const VIEWPORTS = [PHONE, { width: 1366, height: 900 }];
const PASSWORD = 'correct horse battery';
const MERCHANT_EMAIL = 'fit-owner@gelato.example';
const PARTNER_EMAIL = 'ops@fit-wallet.example';
const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';

describe('every page fits 390 px and 1366 px without sideways scrolling', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const data = {} as Data;
  const payer = { email: 'fit-payer@example.com', password: 'payer-password-1' };

  /** Each session is opened once, on the first page that needs it; they live side by side in one browser. */
  const logins: Record<Login, () => Promise<void>> = {
    none: async () => {},
    merchant: async () => {
      const mail = (await t.app.services.mailer.list(MERCHANT_EMAIL)).find((x) => x.subject.startsWith('Set your'))!;
      await dashboardFirstLogin(page, mail.text, MERCHANT_EMAIL, PASSWORD);
      // A test event, so the delivery log has one to show.
      await page.goto(`${t.baseUrl}${D}/developers`);
      await page.click('#test-event');
      await page.waitForSelector('#flash');
    },
    partner: async () => {
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
    },
    payer: async () => {
      await page.goto(`${t.baseUrl}/login`);
      await page.fill('#email', payer.email);
      await page.fill('#password', payer.password);
      await page.click('button[type=submit]');
      await page.waitForLoadState();
    },
    operator: async () => {
      await page.goto(`${t.baseUrl}/admin/login`);
      await page.fill('#token', t.adminToken);
      await page.click('#token-login button[type=submit]');
      await page.waitForURL(/\/admin$/);
    },
  };
  const loggedIn = new Set<Login>();

  before(async () => {
    t = await startTestApp({ workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } });
    receiver = await startReceiver();
    const m = await createMerchant(t, { name: 'Gelato Corner', email: MERCHANT_EMAIL });
    data.merchantId = m.merchantId;
    await createPayer(t, payer.email, { USDT: '100' }, payer.password);

    // A paid order with a refund, webhooks to a receiver that answers, and a test event.
    await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { webhookUrl: receiver.url('/merchant') });
    const paid = await m.client.post('/v3/order', v3Order({ orderAmount: '20', webhookUrl: receiver.url('/order') }));
    data.refundedPrepayId = paid.json.data.prepayId;
    await t.admin('POST', `/sandbox/v1/orders/${data.refundedPrepayId}/pay`, { payerEmail: payer.email });
    const refund = await m.client.post('/order/refund', {
      refundRequestId: `fit-refund-${Date.now()}`,
      prepayId: data.refundedPrepayId,
      refundAmount: '2.5',
      refundReason: 'One scoop melted',
    });
    assert.equal(refund.json.status, 'SUCCESS', JSON.stringify(refund.json));
    const open = await m.client.post('/v3/order', v3Order({ orderAmount: '7.25' }));
    data.checkoutPath = new URL(open.json.data.checkoutUrl).pathname;
    // After its orders (a channel partner's orders need a sub-merchant): the sections that need a feature show data.
    const features = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, {
      features: { channelPartner: true },
      tsp: { allowScopes: ['CHECKOUT', 'REFUND'], allowFeeShare: false },
    });
    assert.equal(features.status, 200, JSON.stringify(features.json));

    const partner = await onboardPartner(t, { name: 'Fit Wallet', email: PARTNER_EMAIL });
    data.partnerCode = partner.merchantCode;
    const broker = await t.admin('POST', '/admin/v1/brokers', {
      name: 'Fit Brokerage',
      partialSharing: true,
      ipWhitelist: ['127.0.0.1'],
      connectPartnerCode: partner.merchantCode,
    });
    data.brokerKey = broker.json.bizEntityKey;
    const order = await partner.client.call('buy-withdraw-crypto', {
      merchantOrderId: 'fit-order-1',
      fiatCurrency: 'USD',
      cryptoCurrency: 'USDT',
      orderAmount: 75.5,
      withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: ETH_ADDR },
    });
    assert.equal(order.json.code, '000000', order.text);
    data.connectOrderId = order.json.data.orderId;
    data.kycRecordId = await kycRecordInReview(t, solidPng(300, 190, [40, 90, 160]));
    const entry = new URL(order.json.data.eternalRedirectUrl);
    data.buyFlowPath = entry.pathname + entry.search;
    const gen2 = await t.app.services.connectPreOrders.create(
      (await t.app.services.partners.get(partner.merchantCode))!,
      {
        externalOrderId: 'fitgen2order1',
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        amountType: 1,
        requestedAmount: '75.5',
        network: 'ETH',
        address: ETH_ADDR,
        redirectUrl: 'https://wallet.example/done',
        customization: {},
      },
    );
    assert.ok(gen2.ok, JSON.stringify(gen2));
    const link = new URL(gen2.value.link);
    data.gen2LinkPath = link.pathname + link.search;

    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await receiver?.close();
    if (t) await assertAuditOk(t);
    await t?.close();
  });

  for (const p of PAGES) {
    test(`${p.name} (${p.login === 'none' ? 'no session' : `${p.login} session`})`, async () => {
      if (!loggedIn.has(p.login)) {
        await page.setViewportSize(PHONE);
        await logins[p.login]();
        loggedIn.add(p.login);
      }
      for (const vp of VIEWPORTS) {
        await page.setViewportSize(vp);
        const res = await page.goto(t.baseUrl + p.path(data));
        assert.ok(res && res.status() < 400, `${p.name}: HTTP ${res?.status()} at ${page.url()}`);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        if (vp.width === PHONE.width) await browser.screenshot(page, `fit-${p.name}`);
        else await browser.screenshot(page, `fit-${p.name}-desktop`);
        assert.ok(width <= vp.width, `${p.name} at ${vp.width} px scrolls sideways: scrollWidth ${width}`);
        if (p.login === 'merchant' || p.login === 'partner') {
          // The navigation marks the section the page is in.
          const current = await page.getAttribute('nav a[aria-current=page]', 'href');
          assert.ok(current && p.path(data).startsWith(current), `${p.name}: current section ${current}`);
        }
      }
    });
  }
});
