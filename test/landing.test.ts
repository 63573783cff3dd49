import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { directoryBannerLines, landingView, serviceDirectory } from '../src/web/landing.ts';
import { startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit } from './support/browser.ts';

/**
 * `/` lists what runs on the server (API families with their base URLs, the pages, the sandbox tools), from the one
 * list the start-up banner prints too.
 */
describe('landing page at /', () => {
  let t: TestApp;
  before(async () => (t = await startTestApp()));
  after(() => t.close());

  test('a browser gets an HTML page listing every API base URL, page and sandbox tool, and no secret', async () => {
    const res = await fetch(`${t.baseUrl}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const body = await res.text();
    assert.match(body, /<meta name="viewport"/);
    for (const url of [
      '/binancepay/openapi/...',
      '/gateway-api/v1/public/open-api/connect/...',
      '/papi/v1/ramp/connect/...',
      '/bapi/ekyc/v2/public/ekyc/customer/...',
      '/en/dashboard',
      '/en/partner',
      '/admin',
      '/docs',
      '/dev/mailbox',
    ])
      assert.ok(body.includes(`${t.baseUrl}${url}`), `lists ${url}`);
    assert.match(body, /demo-credentials\.json/);
    assert.ok(!body.includes(t.adminToken), 'the admin token is never on the page');
  });

  test('every page it links to exists (the list cannot point at a page that is gone)', async () => {
    const d = serviceDirectory('sandbox');
    for (const e of [...d.pages, ...d.sandbox].filter((x) => !x.path.endsWith('...'))) {
      const res = await fetch(`${t.baseUrl}${e.path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      await res.text();
      assert.notEqual(res.status, 404, `${e.name} at ${e.path}`);
    }
  });

  test('a JSON client gets the same directory as JSON, with full URLs', async () => {
    const res = await fetch(`${t.baseUrl}/`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal(j.mode, 'sandbox');
    assert.ok(
      j.apis.some((a: { url: string }) => a.url === `${t.baseUrl}/binancepay/openapi/...`),
      JSON.stringify(j.apis),
    );
    assert.ok(j.sandbox.some((a: { path: string }) => a.path === '/dev/mailbox'));
  });

  test('the start-up banner prints the same URLs as the page; production lists no sandbox tools', () => {
    const page = landingView({ mode: 'sandbox', publicUrl: 'https://pay.example' }).value;
    const lines = directoryBannerLines('sandbox', 'https://pay.example');
    assert.ok(lines.length >= 10);
    for (const line of lines) {
      const url = /(https:\/\/pay\.example\S*)/.exec(line)![1]!;
      assert.ok(page.includes(url), `the page lists ${url}`);
    }
    const prod = landingView({ mode: 'production', publicUrl: 'https://pay.example' }).value;
    assert.doesNotMatch(prod, /dev\/mailbox|demo-credentials|sandbox\/v1/);
    assert.ok(!directoryBannerLines('production', 'https://pay.example').some((l) => l.includes('/dev/mailbox')));
  });

  test('fits a phone and reads on a desktop', { skip: browserSkip }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      await page.goto(`${t.baseUrl}/`);
      assert.equal(await page.innerText('h1'), 'Rampart');
      assert.deepEqual(await phoneFit(page), []);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390));
      await browser.screenshot(page, 'landing-phone');
      await page.setViewportSize({ width: 1366, height: 900 });
      await browser.screenshot(page, 'landing-desktop');
    } finally {
      await browser.close();
    }
  });
});
