import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture, TRX_ADDRESS } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * One user, orders of both generations (binance-connect-v2.md §12): the KYC level's daily limit counts every order the
 * user confirmed, whichever API created it, and a gen-2 order refused by the limit publishes FAILED (99).
 */
for (const kind of DB_KINDS) {
  describe(`Connect limits across generations (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t, { name: 'Both Generations' });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });
    const bf = () => t.app.services.buyflow;
    let seq = 0;

    /** A gen-2 order of `usd` USD on TRX, attached to the user with its price locked. */
    async function gen2Order(userId: string, usd: string) {
      const p = (await t.app.services.partners.get(partner.merchantCode))!;
      const r = await t.app.services.connectPreOrders.create(p, {
        externalOrderId: `lim${Date.now()}x${++seq}`,
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        amountType: 1,
        requestedAmount: usd,
        network: 'TRX',
        address: TRX_ADDRESS,
      });
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok((await bf().attach(r.value.order, userId)).ok);
      assert.ok((await bf().lockQuote(r.value.order.orderId, userId)).ok);
      return r.value.order;
    }

    test('gen-1 and gen-2 purchases share the 50,000 USD daily limit of a VERIFIED user', async () => {
      const f = buyflowFixture(
        () => t,
        () => partner,
      );
      const user = await f.verifiedUser();
      const card = await f.addCard(user.id);
      const g1 = await f.quotedOrder(user.id, '20000');
      assert.ok((await bf().confirm(g1.order.orderId, user.id, card.id)).ok);
      const g2 = await gen2Order(user.id, '20000');
      const c2 = await bf().confirm(g2.orderId, user.id, card.id);
      assert.ok(c2.ok, JSON.stringify(c2));
      // 40,000 confirmed across the two generations: 15,000 more is over the limit, in either generation.
      const g2over = await gen2Order(user.id, '15000');
      const refused = await bf().confirm(g2over.orderId, user.id, card.id);
      assert.equal(refused.ok ? null : refused.code, 'LIMIT_EXCEEDED');
      assert.match(refused.ok ? '' : (refused.message ?? ''), /up to 10000(\.00)? USD more/);
      const after2 = (await t.app.services.connectOrders.read(t.db, g2over.orderId))!;
      assert.deepEqual([after2.subStatus, after2.errorCode, after2.gen2Status], ['FAILED', 'LIMIT_EXCEEDED', 99]);
      const g1over = await f.quotedOrder(user.id, '15000');
      const refused1 = await bf().confirm(g1over.order.orderId, user.id, card.id);
      assert.equal(refused1.ok ? null : refused1.code, 'LIMIT_EXCEEDED');
      // What is left still buys, in gen-2.
      const fits = await gen2Order(user.id, '10000');
      const ok3 = await bf().confirm(fits.orderId, user.id, card.id);
      assert.ok(ok3.ok, JSON.stringify(ok3));
    });
  });
}
