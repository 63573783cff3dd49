import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers.ts';
import { join } from 'node:path';
import { browserSkip, launchBrowser, PHONE, SCREENSHOT_DIR } from './support/browser.ts';

/**
 * /docs (swagger-ui over the OpenAPI document): a page that fits a phone, every signed family's operations with their
 * wire bodies, each family's signing rule at the top of its section, and example values an integrator can send.
 */
const CONNECT = '/gateway-api/v1/public/open-api/connect';
const KYC = '/bapi/ekyc/v2/public/ekyc/customer';

describe('API docs', () => {
  let t: TestApp;
  let spec: any;
  before(async () => {
    t = await startTestApp();
    spec = await (await fetch(`${t.baseUrl}/docs/json`)).json();
  });
  after(() => t.close());

  test('the /docs page has a viewport meta (it fits a phone)', async () => {
    for (const path of ['/docs', '/docs/']) {
      const res = await fetch(`${t.baseUrl}${path}`);
      assert.equal(res.status, 200, path);
      const body = await res.text();
      assert.match(body, /<meta name="viewport" content="width=device-width,initial-scale=1">/, path);
      assert.match(body, /<title>Rampart API<\/title>/);
    }
  });

  test('every gen-1 Connect and KYC Sharing operation is listed, with its wire body', () => {
    for (const op of [
      'get-crypto-network-list',
      'get-trade-pair-list',
      'get-quote',
      'buy-withdraw-crypto',
      'trade',
      'query-order-list',
      'check-ip-address',
    ])
      assert.ok(spec.paths[`${CONNECT}/${op}`], `Connect ${op}`);
    for (const op of ['share-kyc-data', 'query-share-data-status', 'check-kyc-status'])
      assert.ok(spec.paths[`${KYC}/${op}`]?.post, `KYC ${op}`);

    // The two bodies checked by rule tables (not by a zod shape) still show their wire fields.
    const order = spec.paths[`${CONNECT}/buy-withdraw-crypto`].post.requestBody.content['application/json'].schema;
    assert.equal(order.properties.orderAmount.type, 'number', 'Connect amounts are JSON numbers on the wire');
    assert.deepEqual(order.properties.withdrawCryptoInfo.required, ['cryptoNetwork', 'cryptoAddress']);
    assert.ok(order.required.includes('merchantOrderId'));
    const share = spec.paths[`${KYC}/share-kyc-data`].post.requestBody.content['application/json'].schema;
    assert.deepEqual(share.required, ['bizEntityKey', 'requestNo', 'kycInfo']);
    assert.ok(share.properties.kycInfo.properties.userInfo.required.includes('entityCustomerId'));
    assert.ok(share.properties.kycInfo.properties.identityInfo.properties.documentType);
  });

  test("each signed family's section starts with its signing rule", () => {
    const tag = (name: string) => spec.tags.find((x: { name: string }) => x.name === name)?.description ?? '';
    assert.match(
      tag('Binance Pay'),
      /HMAC-SHA512\(apiSecret, timestamp \+ "\\n" \+ nonce \+ "\\n" \+ rawBody \+ "\\n"\)/,
    );
    assert.match(
      tag('Binance Pay'),
      /BinancePay-Timestamp.*BinancePay-Nonce.*BinancePay-Certificate-SN.*BinancePay-Signature/,
    );
    assert.match(tag('Binance Connect'), /RSA-SHA256/);
    assert.match(tag('Binance Connect'), /rawBody \+ "&merchantCode=" \+ merchantCode \+ "&timestamp=" \+ timestamp/);
    assert.match(tag('KYC Sharing'), /X-SHA2-Signature.*HMAC-SHA256\(secret, rawBody\)/);
  });

  test('Pay bodies carry examples an integrator can send', () => {
    const body = (path: string) =>
      spec.paths[`/binancepay/openapi${path}`].post.requestBody.content['application/json'].schema;
    const v3 = body('/v3/order');
    assert.equal(v3.properties.currency.example, 'USDT');
    assert.equal(v3.properties.orderAmount.example, '25.17');
    assert.equal(v3.properties.merchantTradeNo.example, '9825382937292');
    assert.equal(v3.properties.env.properties.terminalType.example, 'WEB');
    const query = body('/v2/order/query');
    assert.match(query.properties.prepayId.example, /^\d{18,19}$/);
  });

  test('the docs page fits a phone', { skip: browserSkip }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      await page.goto(`${t.baseUrl}/docs`);
      await page.waitForSelector('.opblock-tag', { timeout: 15_000 });
      assert.equal(await page.evaluate(() => document.documentElement.clientWidth), 390);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      // The first screen only: the whole page is some 13,000 px tall.
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'docs-phone.png') });
      assert.ok(width <= 390, `the page scrolls sideways (${width} px)`);

      // Each family's description (its signing rule) reads at the screen's width below the family's title, not in
      // a column a few words wide beside it.
      const sections = await page.$$eval('.opblock-tag', (tags) =>
        tags.map((tag) => {
          const title = tag.querySelector('a')!.getBoundingClientRect();
          const description = tag.querySelector('small')?.getBoundingClientRect();
          return { tag: tag.getAttribute('data-tag'), title, description };
        }),
      );
      const described = sections.filter((s) => s.description && s.description.height > 0);
      assert.ok(described.length >= 3, 'the signed families have descriptions');
      for (const s of described) {
        assert.ok(s.description!.width >= 300, `${s.tag}: description ${s.description!.width} px wide`);
        assert.ok(s.description!.top >= s.title.bottom - 1, `${s.tag}: description below the title`);
      }
      await page.locator('.opblock-tag[data-tag="Binance Connect"]').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'docs-phone-connect-section.png') });
    } finally {
      await browser.close();
    }
  });
});
