import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { displayNumber } from '../src/web/amount.ts';
import { assertAuditOk, startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, type Browser } from './support/browser.ts';
import { buyflowFixture } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * "The person always knows what happened" (issue 12), in Chromium at a phone's width: the approved, declined,
 * insufficient-funds, 3-D Secure pass, fail and expiry paths of the hosted buy flow after Confirm, each with
 * screenshots under test-results/screenshots/bfpay-*.png. The sign-up and KYC pages have their own browser test
 * (buyflow.browser.test.ts), so users are verified through the service layer here and handed a session cookie.
 */
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const BASE = '/en/connect/buyflow';

describe('buy flow payments in Chromium: the person always knows what happened', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let partner: Awaited<ReturnType<typeof onboardPartner>>;

  before(async () => {
    [t, browser] = await Promise.all([
      startTestApp({ workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } }),
      launchBrowser(),
    ]);
    // The first withdrawal starts the embedded chains (anvil for ETH and BSC, ~10 s); begin now so it overlaps the
    // first test's pages.
    void t.app.services.chain.start().catch(() => {});
    partner = await onboardPartner(t);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const f = buyflowFixture(
    () => t,
    () => partner,
  );
  async function newOrder() {
    const o = await f.newOrder();
    return { orderId: o.order.orderId, url: o.url, token: o.token };
  }
  const query = async (orderId: string) => (await partner.client.call('query-order-list', { orderId })).json.data[0];

  /** A buy-flow user through sign-up, the mailed code and a passed KYC (fixture), with the given cards saved. */
  async function verifiedUser(cards: string[]) {
    const u = await f.verifiedUser();
    for (const number of cards) await f.addCard(u.id, number);
    return u.id;
  }

  /**
   * A phone-sized page logged in as the user (the bf_session cookie the verify form would have set), on the order's
   * link.
   */
  async function openAs(
    userId: string,
    url: string,
    viewport = PHONE,
    o: { fakeTimers?: boolean } = {},
  ): Promise<Page> {
    const s = await t.app.services.sessions.create('buyflow', userId);
    await browser.context.clearCookies();
    await browser.context.addCookies([
      { name: 'bf_session', value: s.cookie, domain: '127.0.0.1', path: BASE, httpOnly: true, sameSite: 'Lax' },
    ]);
    const page = await browser.newPage();
    await page.setViewportSize(viewport);
    if (o.fakeTimers) await page.clock.install();
    await page.goto(url);
    return page;
  }

  /**
   * Saves the screenshot after checking what a person on that screen needs: nothing wider than the viewport (no
   * sideways scrolling), every button inside it and at least 40 px tall, every message in a readable size.
   */
  async function shot(page: Page, name: string) {
    const m = await page.evaluate(() => {
      const w = document.documentElement.clientWidth;
      const wide = Array.from(document.querySelectorAll('main *'))
        .filter((e) => e.getBoundingClientRect().right > w + 0.5)
        .map((e) => `${e.tagName}#${e.id}.${e.className}`);
      const buttons = Array.from(document.querySelectorAll('.btn')).map((b) => {
        const r = b.getBoundingClientRect();
        return { id: b.id || b.textContent, left: r.left, right: r.right, height: r.height };
      });
      const small = Array.from(document.querySelectorAll('.error, .status, .tag, .steps li'))
        .filter((e) => parseFloat(getComputedStyle(e).fontSize) < 12)
        .map((e) => e.textContent);
      return { w, scrollWidth: document.documentElement.scrollWidth, wide, buttons, small };
    });
    assert.ok(
      m.scrollWidth <= m.w,
      `${name}: the page scrolls sideways (${m.scrollWidth} > ${m.w}): ${m.wide.join(', ')}`,
    );
    assert.deepEqual(m.wide, [], `${name}: wider than the viewport`);
    for (const b of m.buttons) {
      assert.ok(b.left >= 0 && b.right <= m.w, `${name}: button ${b.id} outside the viewport`);
      assert.ok(b.height >= 40, `${name}: button ${b.id} is a small target (${b.height}px)`);
    }
    assert.deepEqual(m.small, [], `${name}: text below 12 px`);
    await browser.screenshot(page, `bfpay-${name}`);
  }

  /** The status page as the person reads it: the progress indicator, the locked price and the amounts. */
  async function assertStatusPage(page: Page, current: string) {
    const steps = await page.$$eval('#progress > li', (lis) =>
      lis.map((li) => ({ text: li.textContent, current: li.getAttribute('aria-current'), cls: li.className })),
    );
    assert.equal(await page.$eval('#progress', (e) => e.tagName + '.' + e.className), 'OL.steps');
    assert.deepEqual(
      steps.map((s) => s.text),
      ['Payment', 'Purchase', 'Withdrawal', 'Completed'],
    );
    assert.deepEqual(
      steps.filter((s) => s.current === 'step').map((s) => s.text),
      [current],
      JSON.stringify(steps),
    );
    const price = (await page.textContent('#price'))!;
    assert.match(price, /^1 USDT = \d+(\.\d+)? USD$/);
    assert.doesNotMatch(price, /= 0(\.0*)? USD/, 'never a price of 0');
    assert.match((await page.textContent('#obtain'))!, /^\d+(\.\d+)? USDT$/);
    assert.doesNotMatch((await page.textContent('#obtain'))!, /^0(\.0*)? /);
  }

  /** The simulated TRX network confirms on the platform clock (19 blocks of 3 s): move it until the order completes. */
  async function untilCompleted(orderId: string) {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((res) => setTimeout(res, 250))) {
      const q = await query(orderId);
      if (q.orderSubStatus === 'COMPLETED') return q;
      if (q.orderSubStatus === 'WITHDRAW_PROCESSING') t.clock.advance!(20_000);
    }
    assert.fail(`order ${orderId} never completed: ${JSON.stringify(await query(orderId))}`);
  }

  async function charges(orderId: string) {
    return (
      await t.db.query(`SELECT status FROM card_charges WHERE ref LIKE $1 ORDER BY ref`, [`${orderId}:%`])
    ).rows.map((r) => r.status as string);
  }

  test(
    'approved card: Confirm → the status page shows the progress, the locked price and amounts → COMPLETED with ' +
      'the transaction',
    async () => {
      const user = await verifiedUser(['4242424242424242']);
      const o = await newOrder();
      const page = await openAs(user, o.url);
      await page.waitForSelector('#confirm-btn');
      const quoted = (await page.textContent('#q-quotePrice'))!;
      await shot(page, '1-approved-confirm');
      await page.setViewportSize(DESKTOP);
      await shot(page, '1-approved-confirm-desktop');
      await page.setViewportSize(PHONE);
      await page.click('#confirm-btn');
      await page.waitForSelector('#order-status');
      assert.equal(await page.getAttribute('#order-status', 'data-status'), 'WITHDRAW_PROCESSING');
      assert.equal(await page.textContent('#order-status'), 'Sending to your wallet');
      await assertStatusPage(page, 'Withdrawal');
      assert.equal(await page.textContent('#price'), `1 USDT = ${quoted} USD`, 'the price locked at Confirm');
      await shot(page, '1-approved-status-withdrawing');
      const done = await untilCompleted(o.orderId);
      // The page polls /state and reloads by itself.
      await page.waitForSelector('#order-status[data-status=COMPLETED]', { timeout: 10_000 });
      assert.equal(await page.textContent('#order-status'), 'Completed');
      await assertStatusPage(page, 'Completed');
      assert.deepEqual(await page.$$eval('#progress > li', (lis) => lis.map((li) => li.className)), [
        'done',
        'done',
        'done',
        'done',
      ]);
      // The page shows the wire's figures at their natural precision.
      assert.equal(await page.textContent('#price'), `1 USDT = ${displayNumber(String(done.executePrice), 'USD')} USD`);
      assert.equal(await page.textContent('#obtain'), `${displayNumber(String(done.obtainAmount), 'USDT')} USDT`);
      assert.equal(await page.textContent('#tx-hash'), done.withdrawTxHash);
      assert.equal(displayNumber(String(done.executePrice), 'USD'), quoted);
      await shot(page, '1-approved-completed');
      await page.setViewportSize(DESKTOP);
      await shot(page, '1-approved-completed-desktop');
      assert.deepEqual(await charges(o.orderId), ['CAPTURED']);
      await page.close();
      await assertAuditOk(t);
    },
  );

  test('declined, then insufficient funds: each says so on the Confirm page and marks its card; a new card pays', async () => {
    const user = await verifiedUser(['4000000000000002']);
    const o = await newOrder();
    const page = await openAs(user, o.url);
    await page.waitForSelector('#confirm-btn');
    await page.click('#confirm-btn');
    await page.waitForSelector('#payment-error');
    assert.match((await page.textContent('#payment-error'))!, /declined.*Nothing was charged/);
    assert.equal(await page.textContent('label.choice[data-card="0002"] .tag'), 'Declined');
    await shot(page, '2-declined');
    let q = await query(o.orderId);
    assert.equal(q.orderSubStatus, 'CREATED');
    assert.equal(q.errorCode, 'CARD_DECLINED');

    const addCard = async (number: string) => {
      await page.click(`a[href*="step=addcard"]`);
      await page.waitForSelector('#number');
      await page.fill('#name', 'Ana Lee');
      await page.fill('#number', number);
      await page.fill('#expiry', '12/34');
      await page.fill('#cvv', '123');
      await page.click('form[action*="card"] button');
      await page.waitForSelector('#confirm-btn');
    };
    await addCard('4000 0000 0000 9995');
    assert.equal(await page.isChecked('label.choice[data-card="9995"] input'), true, 'the card just added is chosen');
    await page.click('#confirm-btn');
    await page.waitForSelector('#payment-error');
    assert.match((await page.textContent('#payment-error'))!, /insufficient funds.*Nothing was charged/);
    assert.equal(await page.textContent('label.choice[data-card="9995"] .tag'), 'Insufficient funds');
    assert.equal(await page.textContent('label.choice[data-card="0002"] .tag'), 'Declined');
    await shot(page, '2-insufficient-funds');
    assert.equal((await query(o.orderId)).errorCode, 'INSUFFICIENT_FUNDS');
    await addCard('4242 4242 4242 4242');
    assert.equal(await page.isChecked('label.choice[data-card="4242"] input'), true);
    assert.equal(await page.locator('#payment-error').count(), 0, 'a new card, no stale message');
    await shot(page, '2-new-card-chosen');
    await page.click('#confirm-btn');
    await page.waitForSelector('#order-status');
    await assertStatusPage(page, 'Withdrawal');
    assert.equal(await page.locator('#error-reason').count(), 0);
    await shot(page, '2-paid-status');
    q = await untilCompleted(o.orderId);
    assert.equal(q.errorCode, null);
    assert.deepEqual(await charges(o.orderId), ['DECLINED', 'INSUFFICIENT_FUNDS', 'CAPTURED']);
    await page.close();
    await assertAuditOk(t);
  });

  for (const [label, viewport] of [
    ['phone', PHONE],
    ['desktop', DESKTOP],
  ] as const) {
    test(
      `3-D Secure pass (${label}): the challenge page appears after Confirm; approving leads to the status page ` +
        `and completion`,
      async () => {
        const user = await verifiedUser(['4000000000003220']);
        const o = await newOrder();
        const page = await openAs(user, o.url, viewport);
        await page.waitForSelector('#confirm-btn');
        await page.click('#confirm-btn');
        await page.waitForSelector('#approve-3ds');
        assert.match((await page.textContent('main'))!, /approve this payment of 100\.00 USD/);
        assert.match(
          (await page.textContent('#challenge-lock'))!,
          /^Approve within \d+ s to buy at the locked price of \d/,
        );
        // The time left counts down in the page.
        await page.waitForFunction(
          () => Number.parseInt(document.getElementById('challenge-left')!.textContent!, 10) < 59,
          null,
          { timeout: 5_000 },
        );
        await shot(page, `3-3ds-challenge-${label}`);
        assert.equal((await query(o.orderId)).orderSubStatus, 'PAYMENT_PROCESSING');
        await page.click('#approve-3ds');
        await page.waitForSelector('#order-status');
        await assertStatusPage(page, 'Withdrawal');
        await shot(page, `3-3ds-passed-status-${label}`);
        await untilCompleted(o.orderId);
        await page.waitForSelector('#order-status[data-status=COMPLETED]', { timeout: 10_000 });
        await shot(page, `3-3ds-passed-completed-${label}`);
        assert.deepEqual(await charges(o.orderId), ['CAPTURED']);
        await page.close();
        await assertAuditOk(t);
      },
    );

    test(
      `3-D Secure fail (${label}): back on Confirm with the 3-D Secure message; the order is CREATED with ` +
        `THREE_DS_FAILED`,
      async () => {
        const user = await verifiedUser(['4000000000003220']);
        const o = await newOrder();
        const page = await openAs(user, o.url, viewport, { fakeTimers: true });
        await page.waitForSelector('#confirm-btn');
        await page.click('#confirm-btn');
        await page.waitForSelector('#fail-3ds');
        // A person who waits past the price lock reads that the old price is gone, not "Approve within 0 s".
        await page.clock.fastForward(60_000);
        await page.waitForFunction(
          () =>
            /has expired: nothing will be charged at it/.test(document.getElementById('challenge-lock')!.textContent!),
          null,
          { timeout: 5_000 },
        );
        await shot(page, `4-3ds-challenge-lock-expired-${label}`);
        await page.click('#fail-3ds');
        await page.waitForSelector('#payment-error');
        assert.match(
          (await page.textContent('#payment-error'))!,
          /3-D Secure check was not passed, so nothing was charged/,
        );
        assert.equal(await page.textContent('label.choice[data-card="3220"] .tag'), '3-D Secure failed');
        assert.ok(await page.isVisible('#confirm-btn'), 'the person can try again');
        await shot(page, `4-3ds-failed-${label}`);
        const q = await query(o.orderId);
        assert.equal(q.orderMainStatus, 'INIT');
        assert.equal(q.orderSubStatus, 'CREATED');
        assert.equal(q.errorCode, 'THREE_DS_FAILED');
        assert.deepEqual(await charges(o.orderId), ['THREE_DS_FAILED']);
        await page.close();
        await assertAuditOk(t);
      },
    );
  }

  test('the confirm page shows amounts at their natural precision, also after the expired quote is refreshed', async () => {
    const user = await verifiedUser(['4242424242424242']);
    const o = await newOrder();
    const page = await openAs(user, o.url, PHONE, { fakeTimers: true });
    await page.waitForSelector('#confirm-btn');
    const shown = () =>
      page.$$eval('[id^="q-"]', (els) => els.map((e) => [e.id, e.textContent, e.getAttribute('data-asset')]));
    const before = await shown();
    assert.deepEqual(
      before.map(([id, , asset]) => [id, asset]),
      [
        ['q-cryptoAmount', 'USDT'],
        ['q-quotePrice', 'USD'],
        ['q-userFee', 'USD'],
        ['q-networkFee', 'USDT'],
      ],
    );
    // Fiat and stablecoin figures keep two decimals at least, whatever the stored number's digits.
    for (const [id, text] of before) assert.match(text!, /^\d+\.\d{2,}$/, `${id}: ${text}`);
    assert.match((await page.textContent('#you-pay'))!, /^\$\d+\.\d{2}$/);
    // The lock runs out on the page's clock: the script fetches the next quote (JSON with the stored digits) and
    // writes it the way the server does.
    const refreshed = page.waitForResponse((r) => r.url().includes('/quote?'));
    await page.clock.fastForward(60_000);
    const quote = await (await refreshed).json();
    await page.waitForFunction(() => document.getElementById('confirm-btn')!.textContent !== 'Confirm (0s)');
    for (const [id, text, asset] of await shown())
      assert.equal(text, displayNumber(String(quote[id!.slice(2)]), asset!), `${id} after the refresh`);
    await page.close();
  });

  // Last: it moves the platform clock 10 minutes.
  test(
    '3-D Secure expiry: 10 minutes on the challenge page → Confirm again with the price-lock message and a fresh ' +
      'quote; the charge is voided, nothing captured',
    async () => {
      const user = await verifiedUser(['4000000000003220']);
      const o = await newOrder();
      const page = await openAs(user, o.url);
      await page.waitForSelector('#confirm-btn');
      const firstLock = Number(await page.getAttribute('#countdown', 'data-expires'));
      await page.click('#confirm-btn');
      await page.waitForSelector('#approve-3ds');
      assert.deepEqual(await charges(o.orderId), ['CHALLENGE']);
      t.clock.advance!(10 * 60_000);
      // The worker voids the challenge when due; the page notices through /state and reloads by itself.
      await page.waitForSelector('#payment-error', { timeout: 15_000 });
      assert.match((await page.textContent('#payment-error'))!, /price lock expired.*nothing was charged/);
      assert.ok(await page.isVisible('#confirm-btn'));
      const freshLock = Number(await page.getAttribute('#countdown', 'data-expires'));
      assert.ok(freshLock > firstLock + 10 * 60_000 - 1_000, `a fresh quote: ${firstLock} → ${freshLock}`);
      assert.equal(freshLock, t.clock.now() + 59_000);
      assert.equal(
        await page.locator('label.choice[data-card="3220"] .tag').count(),
        0,
        "an expired challenge is not the card's fault",
      );
      await shot(page, '5-3ds-expired');
      const q = await query(o.orderId);
      assert.equal(q.orderSubStatus, 'CREATED');
      assert.equal(q.errorCode, 'QUOTE_EXPIRED');
      assert.deepEqual(await charges(o.orderId), ['VOIDED']);
      const captured = await t.db.query(
        `SELECT count(*)::int AS n FROM card_charges WHERE ref LIKE $1 AND status IN ('CAPTURED', 'REFUNDED')`,
        [`${o.orderId}:%`],
      );
      assert.equal(captured.rows[0].n, 0, 'nothing was captured');
      await page.close();
      await assertAuditOk(t);
    },
  );
});
