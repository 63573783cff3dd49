import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { Decimal } from '../src/platform/money.ts';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture, kycInput, TRX_ADDRESS } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * How a gen-2 order ends when something fails (binance-connect-v2.md §5.3): a withdrawal that fails after the
 * automatic attempts is final (98) and leaves the crypto usable in the user's Rampart account (the chain withdrawal is
 * cancelled, its holds released); a failed payment attempt followed by expiry is 97; a rejected identity check is 99.
 *
 * The chain's failure is injected where the chain would record it (its withdrawal row to `failed`, then the wake-up
 * its settled event gives the order), because the sandbox chain does not fail on its own.
 */
for (const kind of DB_KINDS) {
  describe(`Connect gen-2 failures (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t, { name: 'Failures', webhookUrl: 'http://127.0.0.1:9/hook' });
      assert.ok(
        (await t.app.services.partners.updateSettings(partner.merchantCode, { customizationFlags: ['SEND_PRIMARY'] }))
          .ok,
      );
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

    async function gen2(userId: string, extra: Record<string, unknown> = {}) {
      const p = (await t.app.services.partners.get(partner.merchantCode))!;
      const r = await t.app.services.connectPreOrders.create(p, {
        externalOrderId: `fail${Date.now()}x${++seq}`,
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        amountType: 1,
        requestedAmount: '100',
        network: 'TRX',
        address: TRX_ADDRESS,
        ...extra,
      });
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok((await bf().attach(r.value.order, userId)).ok);
      return r.value.order;
    }
    const read = async (orderId: string) => (await t.app.services.connectOrders.read(t.db, orderId))!;
    const usdt = async (payerId: string) =>
      (await t.app.services.ledger.balance(t.db, { ownerType: 'payer', ownerId: payerId, asset: 'USDT' })).available;

    /**
     * The last automatic attempt of the order's withdrawal fails on chain: the earlier attempts are marked used, the
     * chain's row records the failure, and the order is woken as the chain's settled event would.
     */
    async function failLastAttempt(orderId: string, ref: string) {
      await t.db.query(`UPDATE buyflow_orders SET withdraw_auto_attempts = 3 WHERE order_id = $1`, [orderId]);
      await t.db.query(`UPDATE chain_withdrawals SET status = 'failed' WHERE ref = $1`, [ref]);
      await t.db.query(`UPDATE buyflow_orders SET wake_seq = wake_seq + 1, step_due_at = $2 WHERE order_id = $1`, [
        orderId,
        t.clock.now(),
      ]);
      await bf().runOnce();
    }

    test('a bought order whose withdrawal fails is 98, final, and the crypto lands in the user account', async () => {
      const user = await f().verifiedUser();
      const payerId = (await bf().payerOf(user.id))!;
      const card = await f().addCard(user.id);
      const o = await gen2(user.id);
      assert.ok((await bf().lockQuote(o.orderId, user.id)).ok);
      const before = await usdt(payerId);
      assert.ok((await bf().confirm(o.orderId, user.id, card.id)).ok);
      await failLastAttempt(o.orderId, `connect:${o.orderId}`);
      const after = await read(o.orderId);
      assert.equal(after.gen2Status, 98);
      const w = (await t.db.query(`SELECT status FROM chain_withdrawals WHERE ref = $1`, [`connect:${o.orderId}`]))
        .rows[0];
      assert.equal(w.status, 'cancelled', 'the chain withdrawal is cancelled: its holds are released');
      const kept = new Decimal(await usdt(payerId)).minus(before).toFixed();
      assert.equal(kept, after.obtainAmount, 'the bought crypto is usable in the account');
      // No later retry of a gen-2 order (98 is final).
      const retry = await bf().retryWithdrawal(o.orderId, user.id);
      assert.equal(retry.ok ? null : retry.code, 'NOT_RETRYABLE');
    });

    test('a send whose withdrawal fails is 98 and the balance is whole again', async () => {
      const user = await f().verifiedUser();
      const payerId = (await bf().payerOf(user.id))!;
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-fund:${payerId}`,
          debit: platformAccount('sandbox_mint', 'USDT'),
          credit: { ownerType: 'payer', ownerId: payerId, asset: 'USDT' },
          amount: '50',
          kind: 'sandbox_mint',
          ref: 'test',
        }),
      );
      const o = await gen2(user.id, { amountType: 2, requestedAmount: '20', customization: { SEND_PRIMARY: true } });
      assert.ok((await bf().send(o.orderId, user.id)).ok);
      assert.equal(await usdt(payerId), '29');
      await failLastAttempt(o.orderId, `connect-send:${o.orderId}`);
      assert.equal((await read(o.orderId)).gen2Status, 98);
      assert.equal(await usdt(payerId), '50', 'amount and fee released');
      // The sandbox does not move a send-primary order.
      const p = (await t.app.services.partners.get(partner.merchantCode))!;
      const o2 = await gen2(user.id, { amountType: 2, requestedAmount: '20', customization: { SEND_PRIMARY: true } });
      const moved = await t.app.services.connectSandbox.transition(p, {
        externalOrderId: o2.merchantOrderId,
        targetStatus: 20,
      });
      assert.equal(moved.ok ? null : moved.field, 'targetStatus');
    });

    test('keep in my account (96): bought, not sent, no network fee, statuses 1, 2, 96; gen-1 cannot', async () => {
      const user = await f().verifiedUser();
      const payerId = (await bf().payerOf(user.id))!;
      const card = await f().addCard(user.id);
      const o = await gen2(user.id);
      const locked = await bf().lockQuote(o.orderId, user.id);
      assert.ok(locked.ok);
      const CSRF = 'c'.repeat(32);
      const session = await t.app.services.sessions.create('buyflow', user.id);
      const cookie = `bf_session=${session.cookie}; bf_csrf=${CSRF}`;
      const token = (await t.app.services.connectOrders.orderDetailLink(await read(o.orderId))).split('token=')[1];
      const confirmPage = await (
        await fetch(`${t.baseUrl}/en/connect/buyflow?token=${token}`, { headers: { cookie } })
      ).text();
      assert.match(confirmPage, /id="keep-in-account"/, 'the gen-2 confirm page offers the choice');
      const before = await usdt(payerId);
      const res = await fetch(`${t.baseUrl}/en/connect/buyflow/confirm?token=${token}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${CSRF}&cardId=${card.id}&keep=1`,
      });
      assert.equal(res.status, 303);
      assert.equal(await bf().step(o.orderId), 'KEPT');
      const after = await read(o.orderId);
      assert.deepEqual([after.subStatus, after.errorCode, after.gen2Status], ['FAILED', 'KEPT_IN_ACCOUNT', 96]);
      // All the crypto bought (the quote's amount plus the network fee it no longer pays) is in the account.
      const gross = new Decimal(locked.value.cryptoAmount).plus(locked.value.networkFee).toFixed();
      assert.equal(after.obtainAmount, gross);
      assert.equal(new Decimal(await usdt(payerId)).minus(before).toFixed(), gross);
      const sent = await t.db.query(`SELECT 1 FROM chain_withdrawals WHERE ref LIKE $1`, [`%:${o.orderId}`]);
      assert.equal(sent.rows.length, 0, 'nothing sent on chain');
      const events = (
        await t.db.query(
          `SELECT payload FROM outbox WHERE topic = 'webhook' AND payload->>'family' = 'connect2' ORDER BY id`,
        )
      ).rows
        .map((r) => JSON.parse(r.payload.body))
        .filter((b) => b.externalOrderId === o.merchantOrderId);
      assert.deepEqual(
        events.map((e) => e.status),
        [1, 2, 96],
      );
      const statusPage = await (
        await fetch(`${t.baseUrl}/en/connect/buyflow?token=${token}`, { headers: { cookie } })
      ).text();
      assert.match(statusPage, /Kept in your account/);
      // A gen-1 order never keeps: the same choice is ignored and the crypto is withdrawn.
      const g1 = await f().quotedOrder(user.id);
      assert.ok((await bf().confirm(g1.order.orderId, user.id, card.id, { keepInAccount: true })).ok);
      assert.notEqual(await bf().step(g1.order.orderId), 'KEPT');
    });

    test('expiry after a declined card is 97; a rejected identity check is 99', async () => {
      const user = await f().verifiedUser();
      const declined = await f().addCard(user.id, '4000000000000002');
      const o = await gen2(user.id);
      assert.ok((await bf().lockQuote(o.orderId, user.id)).ok);
      await bf().confirm(o.orderId, user.id, declined.id);
      assert.deepEqual([(await read(o.orderId)).subStatus, (await read(o.orderId)).gen2Status], ['CREATED', 0]);
      advance(31 * 60_000);
      await t.app.services.connectOrders.expireDue();
      assert.equal((await read(o.orderId)).gen2Status, 97);

      const newcomer = await f().newUser();
      const o2 = await gen2(newcomer.id);
      assert.ok((await bf().submitKyc(newcomer, o2, kycInput('FR'))).ok);
      const st = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${newcomer.id}`))!;
      assert.ok((await t.app.services.kyc.decide(st.recordId, 'REJECT', 'blurred document')).ok);
      await bf().syncKyc(newcomer.id);
      const r2 = await read(o2.orderId);
      assert.deepEqual([r2.subStatus, r2.errorCode, r2.gen2Status], ['FAILED', 'KYC_REJECTED', 99]);
    });
  });
}
