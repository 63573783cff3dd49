import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { PUBLISHED, type Step } from '../src/connect/buyflow/purchase.ts';
import { MAIN_OF } from '../src/connect/orders/service.ts';
import type { SubStatus } from '../src/connect/orders/store.ts';
import { DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture, PNG } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * The buy flow after Confirm (src/connect/buyflow/purchase.ts): every form replayed against an order in every step
 * changes nothing; a 3-D Secure replay after completion refunds nothing; the audit reconciles the acquirer's charges;
 * the price locked at confirm is the only price a charge can execute at.
 */
const CSRF = 'c'.repeat(32);

for (const kind of DB_KINDS) {
  describe(`buy flow step machine (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t);
    });
    after(async () => t.close());
    const bf = () => t.app.services.buyflow;
    const advance = (ms: number) => (t.clock as any).advance(ms);

    const f = buyflowFixture(
      () => t,
      () => partner,
    );
    let seq = 0;
    /** A verified user (fixture) with the session cookie the verify form would have set. */
    async function verifiedUser() {
      const user = await f.verifiedUser();
      const session = await t.app.services.sessions.create('buyflow', user.id);
      return { user, cookie: `bf_session=${session.cookie}; bf_csrf=${CSRF}` };
    }
    const card = (userId: string, number?: string) => f.addCard(userId, number);
    const attachedOrder = (userId: string, amount?: string) => f.quotedOrder(userId, amount);
    const sub = async (orderId: string) =>
      (await t.db.query(`SELECT sub_status, error_code FROM connect_orders WHERE order_id = $1`, [orderId])).rows[0];
    const step = async (orderId: string) => (await bf().step(orderId))!;
    const charges = async (orderId: string) =>
      (
        await t.db.query(`SELECT id, status FROM card_charges WHERE ref LIKE $1 ORDER BY created_at, id`, [
          `${orderId}:%`,
        ])
      ).rows;
    /** Drives what the workers would: due steps, the chain, the outbox (withdrawal events). */
    async function work(rounds = 3) {
      for (let i = 0; i < rounds; i++) {
        await bf().runOnce();
        await t.app.services.chain.withdrawals.runOnce();
        await t.app.outboxWorker.runOnce();
      }
    }
    async function completedOrder(userId: string, cardId: string) {
      const o = await attachedOrder(userId);
      const c = await bf().confirm(o.order.orderId, userId, cardId);
      assert.ok(c.ok, JSON.stringify(c));
      for (let i = 0; i < 10 && (await step(o.order.orderId)) !== 'COMPLETED'; i++) {
        advance(60_000);
        await work();
      }
      assert.equal(await step(o.order.orderId), 'COMPLETED');
      return o;
    }

    /**
     * Everything a form could have changed about one order: its rows, its charges, its ledger and chain movements, its
     * webhooks.
     */
    async function fingerprint(orderId: string) {
      const q = async (sql: string) =>
        JSON.stringify((await t.db.query(sql, [orderId])).rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      return {
        order: await q(
          `SELECT sub_status, main_status, error_code, execute_price, obtain_amount, withdraw_tx_hash, updated_at
            FROM connect_orders WHERE order_id = $1`,
        ),
        buyflow: await q(
          `SELECT user_id, step, step_due_at, card_id, quote_price, quote_expires_at, payment_attempts, charge_id,
            withdrawal_id, withdraw_auto_attempts, confirmed_at FROM buyflow_orders WHERE order_id = $1`,
        ),
        steps: await q(`SELECT count(*)::int AS n FROM buyflow_order_steps WHERE order_id = $1`),
        charges: await q(`SELECT id, status, amount FROM card_charges WHERE ref LIKE $1 || ':%' ORDER BY id`),
        ledger: await q(`SELECT id, status FROM ledger_transfers WHERE ref = $1 ORDER BY id`),
        chain: await q(
          `SELECT w.status, w.attempts, (SELECT count(*) FROM chain_txs x WHERE x.withdrawal_id = w.id) AS txs
            FROM chain_withdrawals w WHERE ref = 'connect:' || $1`,
        ),
        webhooks: await q(`SELECT count(*)::int AS n FROM outbox WHERE ordering_key = 'connect-order:' || $1`),
        cards: await q(`SELECT count(*)::int AS n FROM buyflow_cards WHERE $1::text IS NOT NULL`),
      };
    }

    /**
     * Posts a form of the hosted pages as the browser does (CSRF cookie and field, the session cookie). `from` picks
     * the
     * client's loopback address: the forms are rate-limited per address, and a 429 must never pass for a refusal here.
     */
    async function postForm(
      token: string,
      cookie: string,
      form: string,
      fields: Record<string, unknown>,
      from = '127.0.0.1',
    ) {
      const json = form === 'kyc' || form === 'address' || form === 'quote';
      const body = { csrf: CSRF, ...fields };
      const raw = json
        ? JSON.stringify(body)
        : new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString();
      const url = new URL(`${t.baseUrl}/en/connect/buyflow/${form}?token=${token}`);
      const res = await new Promise<{ status: number; location: string; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname + url.search,
            method: 'POST',
            localAddress: from,
            headers: {
              cookie,
              'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
              'content-length': Buffer.byteLength(raw),
            },
          },
          (r) => {
            let text = '';
            r.setEncoding('utf8')
              .on('data', (d) => (text += d))
              .on('end', () => resolve({ status: r.statusCode!, location: String(r.headers.location ?? ''), text }));
          },
        );
        req.on('error', reject);
        req.end(raw);
      });
      assert.notEqual(res.status, 429, `${form} was rate-limited: the replay must be refused on its merits`);
      return res;
    }

    /** The forms a person may use on their order in each state (written here, not read from the code under test). */
    const ALLOWED: Record<string, string[]> = {
      OPEN: ['kyc', 'address', 'card', 'quote', 'confirm', 'close'],
      OPEN_KYC_REVIEW: ['address', 'card', 'quote', 'confirm', 'close'],
      CHALLENGE: ['3ds'],
      WITHDRAW_FAILED: ['retry'],
    };
    const FORMS: { form: string; applies?: string; fields: (cardId: string) => Record<string, unknown> }[] = [
      {
        form: 'signup',
        fields: () => ({ kind: 'email', identifier: `replay${++seq}@example.com`, password: 'Passw0rdX' }),
      },
      { form: 'login', fields: () => ({ kind: 'email', identifier: 'nobody@example.com', password: 'Passw0rdX' }) },
      { form: 'verify', fields: () => ({ code: '123456', terms: '1' }) },
      { form: 'resend', fields: () => ({}) },
      {
        form: 'kyc',
        applies: 'kyc',
        fields: () => ({
          country: 'FR',
          idCountry: 'FR',
          nationality: 'FR',
          documentType: 'PASSPORT',
          firstName: 'A',
          lastName: 'B',
          dateOfBirth: '1990-01-01',
          files: { front: PNG.toString('base64'), selfie: PNG.toString('base64') },
        }),
      },
      {
        form: 'address',
        applies: 'address',
        fields: () => ({
          addressLine: '1 rue de Rivoli',
          city: 'Paris',
          postalCode: '75001',
          files: { proof: PNG.toString('base64') },
        }),
      },
      {
        form: 'card',
        applies: 'card',
        fields: () => ({ name: 'Ana Lee', number: '5555555555554444', expiry: '12/34', cvv: '123' }),
      },
      { form: 'quote', applies: 'quote', fields: () => ({}) },
      { form: 'confirm', applies: 'confirm', fields: (cardId) => ({ cardId }) },
      { form: '3ds', applies: '3ds', fields: () => ({ result: 'pass' }) },
      { form: '3ds', applies: '3ds', fields: () => ({ result: 'fail' }) },
      { form: 'retry', applies: 'retry', fields: () => ({}) },
      { form: 'close', applies: 'close', fields: () => ({}) },
    ];

    test(
      'every form replayed against an order in every step, by its owner (where the form does not apply) and by ' +
        'another user, changes nothing',
      async () => {
        const owner = await verifiedUser();
        const other = await verifiedUser();
        const c = await card(owner.user.id);
        await card(other.user.id);
        const threeDs = await card(owner.user.id, '4000000000003220');

        // Orders reached through the real flow where a test can hold them there; the steps a worker leaves at once are
        // set directly.
        const natural: Partial<Record<Step | 'OPEN_KYC_REVIEW', { token: string; orderId: string }>> = {};
        const open = await attachedOrder(owner.user.id);
        natural.OPEN = { token: open.token, orderId: open.order.orderId };
        const ch = await attachedOrder(owner.user.id);
        assert.ok((await bf().confirm(ch.order.orderId, owner.user.id, threeDs.id)).ok);
        assert.equal(await step(ch.order.orderId), 'CHALLENGE');
        natural.CHALLENGE = { token: ch.token, orderId: ch.order.orderId };
        const done = await completedOrder(owner.user.id, c.id);
        natural.COMPLETED = { token: done.token, orderId: done.order.orderId };
        const closed = await attachedOrder(owner.user.id);
        assert.ok((await bf().close(closed.order.orderId, owner.user.id)).ok);
        natural.FAILED = { token: closed.token, orderId: closed.order.orderId };
        const forced: Step[] = [
          'AUTHORIZING',
          'CAPTURING',
          'VOIDING',
          'PURCHASING',
          'REFUNDING',
          'WITHDRAWING',
          'WITHDRAW_RETRY_WAIT',
          'WITHDRAW_FAILED',
        ];
        const setTo = async (orderId: string, s: Step, subStatus: SubStatus) => {
          await t.db.query(`UPDATE buyflow_orders SET step = $2, step_due_at = NULL WHERE order_id = $1`, [orderId, s]);
          await t.db.query(`UPDATE connect_orders SET sub_status = $2, main_status = $3 WHERE order_id = $1`, [
            orderId,
            subStatus,
            MAIN_OF[subStatus],
          ]);
        };
        for (const s of forced) {
          const o = await attachedOrder(owner.user.id);
          await setTo(o.order.orderId, s, PUBLISHED[s]);
          natural[s] = { token: o.token, orderId: o.order.orderId };
        }
        const review = await attachedOrder(owner.user.id);
        await setTo(review.order.orderId, 'OPEN', 'KYC_REVIEW');
        natural.OPEN_KYC_REVIEW = { token: review.token, orderId: review.order.orderId };

        let checked = 0;
        let ip = 10;

        for (const [state, o] of Object.entries(natural)) {
          const from = `127.0.0.${ip++}`;
          for (const f of FORMS) {
            // The account forms do not depend on whose session it is: the owner's is enough to show they leave the
            // order alone.
            for (const who of f.applies ? [owner, other] : [owner]) {
              const applies = f.applies && (ALLOWED[state] ?? []).includes(f.applies);
              if (who === owner && applies) continue; // the forms that apply are exercised by the flow's own tests
              const before = await fingerprint(o.orderId);
              const res = await postForm(o.token, who.cookie, f.form, f.fields(c.id), from);
              const afterIt = await fingerprint(o.orderId);
              assert.deepEqual(
                afterIt,
                before,
                `${f.form} ${JSON.stringify(f.fields(c.id)).slice(0, 40)} by ${
                  who === owner ? 'the owner' : 'another user'
                } ` + `on ${state} changed the order: ${res.status} ${res.location} ${res.text.slice(0, 200)}`,
              );
              if (f.applies) {
                // The person is told why: an error on the page the redirect leads to, or the JSON message.
                const told = /error=/.test(res.location) || (res.status >= 400 && /"message"/.test(res.text));
                assert.ok(
                  told,
                  `${f.form} on ${state}: refused without a ` +
                    `message (${res.status} ${res.location} ${res.text.slice(0, 120)})`,
                );
              }
              checked++;
            }
          }
        }
        assert.ok(checked >= 200, `checked ${checked} form × step × user combinations`);
      },
    );

    test(
      'a 3-D Secure replay on a completed order refunds nothing; the operator sees the order whole; the audit ' +
        "reconciles card charges, and a charge refunded behind the ledger's back fails it",
      async () => {
        const u = await verifiedUser();
        const threeDs = await card(u.user.id, '4000000000003220');
        const o = await attachedOrder(u.user.id);
        assert.equal((await bf().confirm(o.order.orderId, u.user.id, threeDs.id)).ok, true);
        assert.equal(await step(o.order.orderId), 'CHALLENGE');
        assert.equal((await postForm(o.token, u.cookie, '3ds', { result: 'pass' })).status, 303);
        for (let i = 0; i < 10 && (await step(o.order.orderId)) !== 'COMPLETED'; i++) {
          advance(60_000);
          await work();
        }
        assert.equal(await step(o.order.orderId), 'COMPLETED');
        for (const result of ['pass', 'fail']) {
          const res = await postForm(o.token, u.cookie, '3ds', { result });
          assert.match(decodeURIComponent(res.location), /no 3-D Secure check waiting/);
        }
        const [charge] = await charges(o.order.orderId);
        assert.equal(charge.status, 'CAPTURED', 'the replay reached nothing at the acquirer');
        assert.deepEqual(await sub(o.order.orderId), { sub_status: 'COMPLETED', error_code: null });
        // The operator sees the order whole.
        const view = (await t.admin('GET', `/admin/v1/connect/orders/${o.order.orderId}`)).json;
        assert.equal(view.order.subStatus, 'COMPLETED');
        assert.deepEqual(
          view.history.map((h: any) => h.to),
          ['AUTHORIZING', 'CHALLENGE', 'CAPTURING', 'PURCHASING', 'WITHDRAWING', 'COMPLETED'],
        );
        assert.deepEqual(
          view.history.map((h: any) => h.subStatus),
          [
            'PAYMENT_PROCESSING',
            'PAYMENT_PROCESSING',
            'PAYMENT_PROCESSING',
            'PURCHASE_PROCESSING',
            'WITHDRAW_PROCESSING',
            'COMPLETED',
          ],
        );
        assert.equal(view.lockedQuote.cryptoAmount, view.order.obtainAmount);
        assert.deepEqual(
          view.cardCharges.map((c: any) => [c.chargeId, c.status]),
          [[charge.id, 'CAPTURED']],
        );
        const ids = view.ledgerTransfers.map((x: any) => x.id);
        for (const id of [
          `card:auth:${charge.id}`,
          `bf:buy:${o.order.orderId}`,
          `bf:fee:${o.order.orderId}`,
          `wd:${view.withdrawal.id}`,
        ])
          assert.ok(ids.includes(id), `${id} in ${ids}`);
        assert.equal(view.withdrawal.status, 'completed');
        assert.equal(view.onChainTransaction.hash, view.order.withdrawTxHash);
        assert.equal(view.buyflow.step, 'COMPLETED');
        assert.equal((await t.admin('GET', '/admin/v1/connect/orders/CNTnope')).status, 404);
        assert.equal((await fetch(`${t.baseUrl}/admin/v1/connect/orders/${o.order.orderId}`)).status, 401);

        const audit = await t.admin('GET', '/admin/v1/ledger/audit');
        assert.equal(audit.json.ok, true, JSON.stringify(audit.json.problems));
        assert.ok(audit.json.reconciled.cardCharges >= 1, "the acquirer's charges were reconciled");
        assert.ok(Array.isArray(audit.json.reconciled.hotWallets));

        // The acquirer refunds the charge without the platform (what the old replay did): the audit must catch it.
        await t.app.services.acquirer!.refund(charge.id);
        const broken = await t.admin('GET', '/admin/v1/ledger/audit');
        assert.equal(broken.json.ok, false);
        assert.ok(
          broken.json.problems.some((p: string) => p.includes(charge.id) && /REFUNDED/.test(p)),
          JSON.stringify(broken.json.problems),
        );
        // Put the books straight again for the tests after this one (the refund did happen at the acquirer).
        await t.db.tx((q) =>
          t.app.services.ledger.transfer(q, {
            id: `card:refund:${charge.id}`,
            debit: { ownerType: 'platform', ownerId: 'external', asset: 'USD' },
            credit: { ownerType: 'platform', ownerId: 'card_clearing', asset: 'USD' },
            amount: '100',
            kind: 'card_refund',
            ref: o.order.orderId,
          }),
        );
        assert.equal((await t.admin('GET', '/admin/v1/ledger/audit')).json.ok, true);
      },
    );

    test(
      'the price locked at confirm is the only price: no re-lock after confirm; a challenge passed after the lock ' +
        'expired voids the authorization and returns to a new quote; an unanswered challenge expires after 10 ' +
        'minutes; the third failed attempt ends the order',
      async () => {
        const u = await verifiedUser();
        const threeDs = await card(u.user.id, '4000000000003220');
        const o = await attachedOrder(u.user.id);
        const locked = (
          await t.db.query(`SELECT quote_price, quote_expires_at FROM buyflow_orders WHERE order_id = $1`, [
            o.order.orderId,
          ])
        ).rows[0];
        assert.ok((await bf().confirm(o.order.orderId, u.user.id, threeDs.id)).ok);
        const relock = await bf().lockQuote(o.order.orderId, u.user.id);
        assert.equal(!relock.ok && relock.code, 'QUOTE_LOCKED');
        assert.deepEqual(
          (
            await t.db.query(`SELECT quote_price, quote_expires_at FROM buyflow_orders WHERE order_id = $1`, [
              o.order.orderId,
            ])
          ).rows[0],
          locked,
          'the lock is unchanged',
        );

        // Attempt 1: the cardholder passes the challenge after the 59 s lock: voided, nothing captured, back to
        // Confirm.
        advance(60_000);
        assert.ok((await bf().completeChallenge(o.order.orderId, u.user.id, true)).ok);
        assert.equal(await step(o.order.orderId), 'OPEN');
        assert.deepEqual(await sub(o.order.orderId), { sub_status: 'CREATED', error_code: 'QUOTE_EXPIRED' });
        assert.deepEqual(
          (await charges(o.order.orderId)).map((c) => c.status),
          ['VOIDED'],
        );
        const auth = (
          await t.db.query(`SELECT status FROM ledger_transfers WHERE id = $1`, [
            `card:auth:${(await charges(o.order.orderId))[0].id}`,
          ])
        ).rows[0];
        assert.equal(auth.status, 'VOIDED', 'the authorization hold was released in the ledger');

        // Attempt 2: a new quote, a new challenge left unanswered: the worker voids it 10 minutes later (platform
        // clock).
        assert.ok((await bf().lockQuote(o.order.orderId, u.user.id)).ok);
        assert.ok((await bf().confirm(o.order.orderId, u.user.id, threeDs.id)).ok);
        advance(9 * 60_000);
        await work(1);
        assert.equal(await step(o.order.orderId), 'CHALLENGE', 'not before 10 minutes');
        advance(60_000);
        await work(1);
        assert.equal(await step(o.order.orderId), 'OPEN');
        assert.deepEqual(
          (await charges(o.order.orderId)).map((c) => c.status),
          ['VOIDED', 'VOIDED'],
        );
        const late = await bf().completeChallenge(o.order.orderId, u.user.id, true);
        assert.equal(!late.ok && late.code, 'NO_CHALLENGE', 'an answer after the expiry reaches nothing');

        // Attempt 3 fails the challenge: the order ends FAILED with the last payment error.
        assert.ok((await bf().lockQuote(o.order.orderId, u.user.id)).ok);
        assert.ok((await bf().confirm(o.order.orderId, u.user.id, threeDs.id)).ok);
        assert.ok((await bf().completeChallenge(o.order.orderId, u.user.id, false)).ok);
        assert.equal(await step(o.order.orderId), 'FAILED');
        assert.deepEqual(await sub(o.order.orderId), { sub_status: 'FAILED', error_code: 'THREE_DS_FAILED' });
        assert.deepEqual(
          (await charges(o.order.orderId)).map((c) => c.status),
          ['VOIDED', 'VOIDED', 'THREE_DS_FAILED'],
        );
        const history = await bf().history(o.order.orderId);
        assert.deepEqual(
          history.map((h) => h.to),
          [
            'AUTHORIZING',
            'CHALLENGE',
            'VOIDING',
            'OPEN',
            'AUTHORIZING',
            'CHALLENGE',
            'VOIDING',
            'OPEN',
            'AUTHORIZING',
            'CHALLENGE',
            'FAILED',
          ],
        );
        const audit = await t.admin('GET', '/admin/v1/ledger/audit');
        assert.equal(audit.json.ok, true, JSON.stringify(audit.json.problems));
      },
    );

    test(
      'restricted countries are checked again at confirm: REGION_RESTRICTED, nothing charged, the partner sees ' +
        'the order fail, the person a clear page',
      async () => {
        const u = await verifiedUser();
        const c = await card(u.user.id);
        const o = await attachedOrder(u.user.id);
        // What the person declared changed after KYC (an operator correction), or the list did: the confirm transaction
        // reads both anew.
        await t.db.query(`UPDATE buyflow_users SET nationality = 'IR' WHERE id = $1`, [u.user.id]);
        const r = await bf().confirm(o.order.orderId, u.user.id, c.id);
        assert.equal(!r.ok && r.code, 'REGION_RESTRICTED');
        assert.equal(await step(o.order.orderId), 'FAILED');
        assert.deepEqual(await charges(o.order.orderId), [], 'nothing reached the acquirer');
        const q = (await partner.client.call('query-order-list', { orderId: o.order.orderId })).json.data[0];
        assert.deepEqual(
          [q.orderMainStatus, q.orderSubStatus, q.errorCode],
          ['FAILURE', 'FAILED', 'REGION_RESTRICTED'],
        );
        const page = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${o.token}`, {
          headers: { cookie: u.cookie },
        }).then((x) => x.text());
        assert.match(page, /Not available in your region/);
        assert.match(
          page,
          /not available in the user&#39;s country or region|not available in the user's country or region/,
        );
      },
    );

    test(
      'saved cards: the same card added twice is listed once; a declined card is marked and listed after the ones ' +
        'that work',
      async () => {
        const u = await verifiedUser();
        const declined = await card(u.user.id, '4000000000000002');
        const again = await card(u.user.id, '4000000000000002');
        assert.equal(again.id, declined.id, 'the same card number replaces its saved entry');
        const good = await card(u.user.id, '4242424242424242');
        const o = await attachedOrder(u.user.id);
        assert.ok((await bf().confirm(o.order.orderId, u.user.id, declined.id)).ok);
        assert.deepEqual(await sub(o.order.orderId), { sub_status: 'CREATED', error_code: 'CARD_DECLINED' });
        const list = await bf().cards(u.user.id);
        assert.deepEqual(
          list.map((x) => [x.last4, x.lastFailure]),
          [
            ['4242', null],
            ['0002', 'CARD_DECLINED'],
          ],
        );
        const page = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${o.token}`, {
          headers: { cookie: u.cookie },
        }).then((r) => r.text());
        assert.match(page, /id="payment-error"[^>]*>Your card was declined/);
        assert.match(page, /\*\*\*\*0002<span class="tag">Declined/);
        assert.ok((await bf().confirm(o.order.orderId, u.user.id, good.id)).ok);
        assert.equal(await step(o.order.orderId), 'WITHDRAWING');
      },
    );
  });
}
