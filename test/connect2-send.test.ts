import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture, TRX_ADDRESS } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * Send primary (binance-connect-v2.md §10.4, §7 SEND_PRIMARY): the page sends the user's own crypto first (type 3,
 * statuses 0 → 10 → 11 → 20, no fiat); a short balance turns the order into a purchase (type 1) before its first status
 * change. The send is a step of the buy-flow machine: the chain holds the amount and the fee from the user's account
 * once per order, and a replayed form changes nothing.
 */
for (const kind of DB_KINDS) {
  describe(`Connect gen-2 send primary (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t, { name: 'Send First', webhookUrl: 'http://127.0.0.1:9/hook' });
      const set = await t.app.services.partners.updateSettings(partner.merchantCode, {
        customizationFlags: ['SEND_PRIMARY'],
      });
      assert.ok(set.ok);
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });
    const bf = () => t.app.services.buyflow;
    const f = () =>
      buyflowFixture(
        () => t,
        () => partner,
      );
    const advance = (ms: number) => (t.clock as any).advance(ms);
    let seq = 0;

    async function work(rounds = 3) {
      for (let i = 0; i < rounds; i++) {
        await bf().runOnce();
        await t.app.services.chain.withdrawals.runOnce();
        await t.app.outboxWorker.runOnce();
      }
    }
    const statuses = async (externalOrderId: string) =>
      (
        await t.db.query(
          `SELECT payload FROM outbox WHERE topic = 'webhook' AND payload->>'family' = 'connect2' ORDER BY id`,
        )
      ).rows
        .map((r) => JSON.parse(r.payload.body))
        .filter((b) => b.externalOrderId === externalOrderId);

    async function sendOrder(userId: string, amount = '25', extra: Record<string, unknown> = {}) {
      const p = (await t.app.services.partners.get(partner.merchantCode))!;
      const r = await t.app.services.connectPreOrders.create(p, {
        externalOrderId: `snd${Date.now()}x${++seq}`,
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        amountType: 2,
        requestedAmount: amount,
        network: 'TRX',
        address: TRX_ADDRESS,
        customization: { SEND_PRIMARY: true },
        ...extra,
      });
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok((await bf().attach(r.value.order, userId)).ok);
      lastToken = r.value.link.split('token=')[1]!;
      return r.value.order;
    }
    let lastToken = '';
    const CSRF = 'c'.repeat(32);
    /** The hosted page as the person's browser sees it: GET the order page, POST one of its forms. */
    async function page(token: string, cookie: string) {
      const res = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${token}`, { headers: { cookie } });
      return { status: res.status, text: await res.text() };
    }
    async function postForm(token: string, cookie: string, form: string) {
      const res = await fetch(`${t.baseUrl}/en/connect/buyflow/${form}?token=${token}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${CSRF}`,
      });
      return { status: res.status, location: res.headers.get('location') ?? '' };
    }
    async function cookieOf(userId: string) {
      const session = await t.app.services.sessions.create('buyflow', userId);
      return `bf_session=${session.cookie}; bf_csrf=${CSRF}`;
    }

    async function fund(userId: string, amount: string) {
      const payerId = (await bf().payerOf(userId))!;
      assert.ok(payerId, 'the buy-flow account has its payer profile');
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-fund:${payerId}:${++seq}`,
          debit: platformAccount('sandbox_mint', 'USDT'),
          credit: { ownerType: 'payer', ownerId: payerId, asset: 'USDT' },
          amount,
          kind: 'sandbox_mint',
          ref: 'test',
        }),
      );
      return payerId;
    }
    const available = async (payerId: string) =>
      (await t.app.services.ledger.balance(t.db, { ownerType: 'payer', ownerId: payerId, asset: 'USDT' })).available;

    test('pre-order: SEND_PRIMARY needs cryptoCurrency and a crypto amount; ignored for a partner without the flag', async () => {
      const p = (await t.app.services.partners.get(partner.merchantCode))!;
      const base = {
        fiatCurrency: 'USD',
        requestedAmount: '25',
        network: 'TRX',
        address: TRX_ADDRESS,
        customization: { SEND_PRIMARY: true },
      };
      const fiatAmount = await t.app.services.connectPreOrders.create(p, {
        ...base,
        externalOrderId: `sx${++seq}`,
        cryptoCurrency: 'USDT',
        amountType: 1,
      });
      assert.deepEqual(fiatAmount.ok ? null : [fiatAmount.code, fiatAmount.field], [
        'ILLEGAL_CUSTOMIZATION_VALUE',
        'SEND_PRIMARY',
      ]);
      const noCrypto = await t.app.services.connectPreOrders.create(p, {
        ...base,
        externalOrderId: `sx${++seq}`,
        amountType: 2,
      });
      assert.deepEqual(noCrypto.ok ? null : [noCrypto.code, noCrypto.field], ['ILLEGAL_PARAMETERS', 'cryptoCurrency']);
      const other = await onboardPartner(t, { name: 'No Send Flag' });
      const plain = await t.app.services.connectPreOrders.create(
        (await t.app.services.partners.get(other.merchantCode))!,
        { ...base, externalOrderId: `sx${++seq}`, cryptoCurrency: 'USDT', amountType: 2 },
      );
      assert.ok(plain.ok);
      assert.deepEqual(plain.value.order.gen2?.customization, {}, 'a flag not enabled is ignored');
    });

    test('enough balance: sent once from the account, 10 → 11 → 20 as type 3 with no fiat; a replay changes nothing', async () => {
      const user = await f().verifiedUser();
      const payerId = await fund(user.id, '100');
      const o = await sendOrder(user.id, '25');
      const card = await f().addCard(user.id);
      // The purchase is not offered while the send is (§10.4).
      const buy = await bf().confirm(o.orderId, user.id, card.id);
      assert.equal(buy.ok ? null : buy.code, 'SEND_FIRST');
      const sent = await bf().send(o.orderId, user.id);
      assert.ok(sent.ok, JSON.stringify(sent));
      // Amount and network fee (1 USDT on TRX) held from the user's own account.
      assert.equal(await available(payerId), '74');
      const again = await bf().send(o.orderId, user.id);
      assert.equal(again.ok ? null : again.code, 'ORDER_NOT_PAYABLE');
      for (let i = 0; i < 10 && (await bf().step(o.orderId)) !== 'COMPLETED'; i++) {
        advance(60_000);
        await work();
      }
      assert.equal(await bf().step(o.orderId), 'COMPLETED');
      const w = await t.db.query(`SELECT ref FROM chain_withdrawals WHERE ref LIKE $1`, [`%:${o.orderId}`]);
      assert.deepEqual(
        w.rows.map((r) => r.ref),
        [`connect-send:${o.orderId}`],
        'one chain withdrawal, under the send ref',
      );
      assert.equal(await available(payerId), '74');
      const events = await statuses(o.merchantOrderId);
      assert.deepEqual(
        events.map((e) => e.status),
        [10, 11, 20],
      );
      const last = events.at(-1);
      assert.deepEqual([last.type, last.businessType, last.fiatAmount, last.cryptoAmount], [3, 3, '0', '25']);
      assert.match(last.withdrawTxHash, /\S+/);
    });

    test('the hosted page offers the send with the balance; its form sends once, a replay is refused', async () => {
      const user = await f().verifiedUser();
      const payerId = await fund(user.id, '30');
      const o = await sendOrder(user.id, '25');
      const token = lastToken;
      const cookie = await cookieOf(user.id);
      const shown = await page(token, cookie);
      assert.equal(shown.status, 200);
      assert.match(shown.text, /id="send-amount">25.00</);
      assert.match(shown.text, /id="send-total">26.00 USDT</);
      assert.match(shown.text, /id="send-balance">30.00 USDT</);
      assert.match(shown.text, /id="send-btn" type="submit">Send USDT</);
      assert.doesNotMatch(shown.text, /Confirm Payment/);
      const sent = await postForm(token, cookie, 'send');
      assert.equal(sent.status, 303);
      assert.doesNotMatch(sent.location, /error=/);
      assert.equal(await available(payerId), '4');
      const replay = await postForm(token, cookie, 'send');
      assert.equal(replay.status, 303);
      assert.match(decodeURIComponent(replay.location), /can no longer be sent/);
      assert.equal(await available(payerId), '4', 'the replay held nothing');
      assert.notEqual(await bf().step(o.orderId), 'OPEN');
      // A short balance: the page says so and its button turns the order into a purchase.
      const poor = await f().verifiedUser();
      await fund(poor.id, '3');
      const o2 = await sendOrder(poor.id, '25');
      const token2 = lastToken;
      const cookie2 = await cookieOf(poor.id);
      const short = await page(token2, cookie2);
      assert.match(short.text, /id="send-short"/);
      assert.match(short.text, /Buy USDT instead/);
      const fell = await postForm(token2, cookie2, 'send');
      assert.match(decodeURIComponent(fell.location), /balance is short: buy it with a card instead/);
      assert.equal((await t.app.services.connectOrders.read(t.db, o2.orderId))!.gen2?.sendFellBack, true);
      const buy = await page(token2, cookie2);
      assert.doesNotMatch(buy.text, /id="send-btn"/, 'the purchase flow from here');
    });

    test('short balance: the send is refused, nothing held, the order becomes a purchase and is bought (type 1)', async () => {
      const user = await f().verifiedUser();
      const payerId = await fund(user.id, '5');
      const o = await sendOrder(user.id, '25');
      const r = await bf().send(o.orderId, user.id);
      assert.ok(r.ok);
      assert.equal(r.value.step, 'OPEN', 'back to the page, as a purchase');
      assert.equal(await available(payerId), '5', 'nothing held');
      const after = (await t.app.services.connectOrders.read(t.db, o.orderId))!;
      assert.deepEqual([after.subStatus, after.gen2Status, after.gen2?.sendFellBack], ['CREATED', 0, true]);
      assert.equal(
        (await bf().send(o.orderId, user.id)).ok ? 'sent' : 'refused',
        'refused',
        'a purchase is not sent later',
      );
      const card = await f().addCard(user.id);
      assert.ok((await bf().lockQuote(o.orderId, user.id)).ok);
      const c = await bf().confirm(o.orderId, user.id, card.id);
      assert.ok(c.ok, JSON.stringify(c));
      for (let i = 0; i < 10 && (await bf().step(o.orderId)) !== 'COMPLETED'; i++) {
        advance(60_000);
        await work();
      }
      const events = await statuses(o.merchantOrderId);
      assert.deepEqual(
        events.map((e) => [e.status, e.type]),
        [
          [1, 1],
          [2, 1],
          [10, 1],
          [11, 1],
          [20, 1],
        ],
      );
    });
  });
}
