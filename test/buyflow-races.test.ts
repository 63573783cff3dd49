import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Acquirer } from '../src/cards/acquirer.ts';
import { createPurchaseMachine } from '../src/connect/buyflow/purchase.ts';
import { startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * Runners of the buy-flow machine that race each other or the person: a runner whose lease lapsed while an acquirer
 * call hung, a 3-D Secure answer arriving while the challenge step runs, an authorization no step will ever settle.
 * Each was a defect of the first version of the machine (found in review) and fails without its fix.
 */
let t: TestApp;
let partner: Awaited<ReturnType<typeof onboardPartner>>;
before(async () => {
  t = await startTestApp({ env: { CONNECT_RATE_PER_SECOND: '100000' } });
  partner = await onboardPartner(t);
});
after(async () => t.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const advance = (ms: number) => (t.clock as any).advance(ms);

/**
 * A second runner (another worker process) over the same database, with its own acquirer adapter and lease (1 ms: it
 * lapses at once).
 */
function runner(acquirer: Acquirer, leaseMs = 1) {
  const s = t.app.services;
  return createPurchaseMachine({
    db: s.db,
    clock: s.clock,
    ids: s.ids,
    ledger: s.ledger,
    prices: s.prices,
    catalog: s.catalog,
    partners: s.partners,
    orders: s.connectOrders,
    chain: s.chain,
    acquirer,
    mode: 'sandbox',
    levelOf: async (_q, u) => u.kyc_level,
    leaseMs,
  });
}
/** A verified user with the 3-D Secure test card and an order quoted for them: ready to confirm into a challenge. */
async function challengeReady() {
  const f = buyflowFixture(
    () => t,
    () => partner,
  );
  const u = await f.verifiedUser();
  const card = await f.addCard(u.id, '4000000000003220');
  const { order } = await f.quotedOrder(u.id);
  return { real: t.app.services.acquirer!, u, card, order };
}
const row = async (orderId: string) =>
  (
    await t.db.query(`SELECT step, payment_attempts, charge_id, step_due_at FROM buyflow_orders WHERE order_id = $1`, [
      orderId,
    ])
  ).rows[0];
const hold = async (chargeId: string) =>
  (await t.db.query(`SELECT status FROM ledger_transfers WHERE id = $1`, [`card:auth:${chargeId}`])).rows[0]?.status;

test(
  'a runner whose lease lapsed while its void hung cannot move the next attempt: the second authorization is ' +
    'still voided, its hold released, the audit clean',
  async () => {
    const { real, u, card, order } = await challengeReady();
    const id = order.orderId;

    // Attempt 1: the challenge is passed after the price lock, so the order goes VOIDING; runner A's void hangs.
    assert.ok((await t.app.services.buyflow.confirm(id, u.id, card.id)).ok);
    const charge1 = (await row(id)).charge_id;
    advance(60_000);
    await real.completeChallenge(charge1, true);
    await t.db.query(`UPDATE buyflow_orders SET step_due_at = $2 WHERE order_id = $1`, [id, t.clock.now()]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = runner({
      ...real,
      void: async (c) => {
        await gate;
        return real.void(c);
      },
    });
    const stale = a.advance(id);
    await sleep(50);
    assert.equal((await row(id)).step, 'VOIDING');

    // Runner B takes over once A's lease lapsed and finishes attempt 1.
    const b = runner(real);
    await sleep(5);
    await b.runOnce();
    assert.equal((await row(id)).step, 'OPEN');

    // Attempt 2 is approved after the lock too, and its first void fails (the acquirer is unreachable once).
    assert.ok((await b.lockQuote(id, u.id)).ok);
    let unreachable = true;
    const c = runner({
      ...real,
      void: async (x) => {
        if (unreachable) {
          unreachable = false;
          throw new Error('acquirer unreachable');
        }
        return real.void(x);
      },
    });
    assert.ok((await c.confirm(id, u.id, card.id)).ok);
    const charge2 = (await row(id)).charge_id;
    assert.notEqual(charge2, charge1);
    advance(60_000);
    await real.completeChallenge(charge2, true);
    await t.db.query(`UPDATE buyflow_orders SET step_due_at = $2 WHERE order_id = $1`, [id, t.clock.now()]);
    await sleep(5);
    await c.advance(id);
    assert.deepEqual([(await row(id)).step, (await row(id)).payment_attempts], ['VOIDING', 2]);

    // A's hung void of charge 1 returns: its transition was for attempt 1 and must not move attempt 2.
    release();
    await stale;
    assert.deepEqual(
      [(await row(id)).step, (await row(id)).payment_attempts],
      ['VOIDING', 2],
      'the stale runner changed nothing',
    );
    advance(60_000);
    await sleep(5);
    await b.runOnce();
    assert.equal((await row(id)).step, 'OPEN');
    assert.equal((await real.getCharge(charge2))!.status, 'VOIDED');
    assert.equal(await hold(charge2), 'VOIDED');
    const audit = await t.app.services.audit();
    assert.equal(audit.ok, true, audit.problems.join('; '));
  },
);

test(
  'a 3-D Secure answer given while the challenge step runs is not parked until the expiry: the order is captured ' +
    'at the locked price at once',
  async () => {
    const { real, u, card, order } = await challengeReady();
    const id = order.orderId;
    assert.ok((await t.app.services.buyflow.confirm(id, u.id, card.id)).ok);
    // A worker runs the challenge step (as after a handler error) and its read of the charge is slow.
    await t.db.query(`UPDATE buyflow_orders SET step_due_at = $2 WHERE order_id = $1`, [id, t.clock.now()]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = runner(
      {
        ...real,
        getCharge: async (c) => {
          const ch = await real.getCharge(c);
          await gate;
          return ch;
        },
      },
      30_000,
    );
    const working = w.runOnce();
    await sleep(50);
    // The cardholder approves within the lock; the worker holds the lease, so this request cannot drive the order
    // itself.
    assert.ok((await t.app.services.buyflow.completeChallenge(id, u.id, true)).ok);
    release();
    await working;
    await t.app.services.buyflow.runOnce();
    assert.equal(
      (await row(id)).step,
      'WITHDRAWING',
      'captured and purchased without waiting for the 10-minute expiry',
    );
    assert.equal((await real.getCharge((await row(id)).charge_id))!.status, 'CAPTURED');
  },
);

test('the audit reports an authorization the acquirer holds open that no step of its order will settle', async () => {
  const { real, u, card, order } = await challengeReady();
  assert.ok((await t.app.services.buyflow.confirm(order.orderId, u.id, card.id)).ok);
  const charge = (await row(order.orderId)).charge_id;
  assert.equal((await t.app.services.audit()).ok, true, 'a challenge in progress is fine');
  // The order left the challenge behind the acquirer's back (what the stale runner did): the charge stays open forever.
  await t.db.query(`UPDATE buyflow_orders SET step = 'OPEN', step_due_at = NULL WHERE order_id = $1`, [order.orderId]);
  const audit = await t.app.services.audit();
  assert.equal(audit.ok, false);
  assert.ok(
    audit.problems.some((p) => p.includes(charge) && /no step will capture or void it/.test(p)),
    audit.problems.join('; '),
  );
  await real.void(charge);
  await t.db.query(`UPDATE buyflow_orders SET step = 'FAILED' WHERE order_id = $1`, [order.orderId]);
  assert.equal((await t.app.services.audit()).ok, true);
});

test(
  'a withdrawal request resumed by its ref answers with the queued withdrawal even if the settings changed since ' +
    '(no false WITHDRAW_FAILED)',
  async () => {
    const s = t.app.services;
    const owner = { ownerType: 'user' as const, ownerId: 'buyflow:race-1' };
    await s.db.tx((q) =>
      s.ledger.transfer(q, {
        id: 'race-fund-1',
        debit: { ownerType: 'platform', ownerId: 'sandbox_mint', asset: 'USDT' },
        credit: { ...owner, asset: 'USDT' },
        amount: '50',
        kind: 'test',
        ref: 'race',
      }),
    );
    const first = await s.chain.withdrawals.request({
      ref: 'connect:race-1',
      ...owner,
      asset: 'USDT',
      network: 'TRX',
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      amount: '20',
    });
    assert.ok(first.ok, JSON.stringify(first));
    // The same request again after a change that would refuse a new one (here: a destination the registry rejects).
    const again = await s.chain.withdrawals.request({
      ref: 'connect:race-1',
      ...owner,
      asset: 'USDT',
      network: 'TRX',
      address: 'not-an-address',
      amount: '20',
    });
    assert.ok(again.ok, JSON.stringify(again));
    assert.equal(again.value.id, first.value.id);
  },
);
