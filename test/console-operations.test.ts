import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { consoleLogin, createOperator } from './support/console.ts';
import { onboardPartner } from './support/connect-client.ts';
import { formBrowser, type FormBrowser } from './support/form-browser.ts';
import { startReceiver } from './support/webhook-receiver.ts';

/**
 * The console's operations pages over HTTP (issue #17): the admin API they read (order search across Pay and Connect,
 * a Pay order whole, one webhook delivery and the delivery filters, ledger accounts and the paged transfer browser) and
 * the page actions (Redeliver, the sandbox panel's forms): each action's happy path, a refused one that changes
 * nothing, and a post without the CSRF token refused.
 */
const HOUR = 3_600_000;

async function deliveryOf(t: TestApp, bizId: string, bizType = 'PAY') {
  const r = await t.admin('GET', `/admin/v1/webhooks/deliveries?bizId=${bizId}`);
  return r.json.deliveries.find((d: { bizType: string }) => d.bizType === bizType);
}

/** Runs the business clock through a delivery's retry schedule until it is FAILED. */
async function untilFailed(t: TestApp, id: string) {
  for (let i = 0; i < 400; i++) {
    const d = (await t.admin('GET', `/admin/v1/webhooks/deliveries/${id}`)).json;
    if (d.status === 'FAILED') return d;
    if (d.status === 'PENDING' && d.nextAttemptAt > t.clock.now()) t.clock.advance!(8 * HOUR);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`delivery ${id} did not fail`);
}

async function untilStatus(t: TestApp, id: string, status: string) {
  for (let i = 0; i < 400; i++) {
    const d = (await t.admin('GET', `/admin/v1/webhooks/deliveries/${id}`)).json;
    if (d.status === status) return d;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`delivery ${id} did not become ${status}`);
}

for (const kind of DB_KINDS) {
  describe(`console operations pages (${kind})`, () => {
    let t: TestApp;
    let b: FormBrowser;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let broken = true;
    let merchant: Awaited<ReturnType<typeof createMerchant>>;
    let paidPrepayId: string;
    let tradeNo: string;
    let refundRequestId: string;
    let connectOrderId: string;
    const payerEmail = `ops-payer-${Date.now()}@example.com`;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      receiver = await startReceiver(() =>
        broken ? { status: 500, body: 'receiver down' } : { status: 200, body: '{"returnCode":"SUCCESS"}' },
      );
      merchant = await createMerchant(t, { name: 'Ops Gelato', webhookUrl: receiver.url('/pay') });
      await createPayer(t, payerEmail, { USDT: '100' });
      const order = v3Order({ orderAmount: '20' });
      tradeNo = order.merchantTradeNo as string;
      const created = await merchant.client.post('/v3/order', order);
      paidPrepayId = created.json.data.prepayId;
      const pay = await t.admin('POST', `/sandbox/v1/orders/${paidPrepayId}/pay`, { payerEmail });
      assert.equal(pay.status, 200, JSON.stringify(pay.json));
      refundRequestId = `ops-refund-${Date.now()}`;
      const refund = await merchant.client.post('/order/refund', {
        refundRequestId,
        prepayId: paidPrepayId,
        refundAmount: '2.5',
      });
      assert.equal(refund.json.status, 'SUCCESS', JSON.stringify(refund.json));

      const partner = await onboardPartner(t, { name: 'Ops Wallet' });
      const c = await partner.client.call('buy-withdraw-crypto', {
        merchantOrderId: `ops-ext-${Date.now()}`,
        fiatCurrency: 'USD',
        cryptoCurrency: 'USDT',
        orderAmount: 75.5,
        withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: '0x52908400098527886E0F7030069857D2E4169EE7' },
      });
      assert.equal(c.json.code, '000000', c.text);
      connectOrderId = c.json.data.orderId;

      const op = await createOperator(t, 'admin');
      b = formBrowser(t.baseUrl);
      assert.equal((await consoleLogin(b, op)).status, 303);
    });
    after(async () => {
      await receiver?.close();
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    test('order search: any Pay id, the payer e-mail, and Connect ids, from both families', async () => {
      const refundId = (await t.admin('GET', `/admin/v1/pay/orders/${paidPrepayId}`)).json.refunds[0].refundId;
      for (const q of [paidPrepayId, tradeNo, refundRequestId, refundId, payerEmail]) {
        const r = await t.admin('GET', `/admin/v1/orders/search?q=${encodeURIComponent(q)}`);
        assert.equal(r.status, 200);
        assert.deepEqual(
          r.json.pay.map((o: { prepayId: string }) => o.prepayId),
          [paidPrepayId],
          `search ${q}`,
        );
        assert.deepEqual(r.json.connect, []);
      }
      const c = await t.admin('GET', `/admin/v1/orders/search?q=${connectOrderId}`);
      assert.deepEqual(
        c.json.connect.map((o: { orderId: string }) => o.orderId),
        [connectOrderId],
      );
      assert.deepEqual(c.json.pay, []);
      const none = await t.admin('GET', '/admin/v1/orders/search?q=nothing-like-this');
      assert.deepEqual(none.json, { pay: [], connect: [] });
      assert.equal((await t.admin('GET', '/admin/v1/orders/search?q=')).status, 400);
      assert.equal((await fetch(`${t.baseUrl}/admin/v1/orders/search?q=${tradeNo}`)).status, 401);

      // The page: the merchantTradeNo finds the order, which links to its page.
      const page = await b.get(`/admin/orders?q=${encodeURIComponent(tradeNo)}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.includes(`/admin/orders/pay/${paidPrepayId}`));
      assert.match(page.body, /No Connect order matches/);
      const cpage = await b.get(`/admin/orders?q=${connectOrderId}`);
      assert.ok(cpage.body.includes(`/admin/orders/connect/${connectOrderId}`));
    });

    test('a Pay order whole: refunds, webhook deliveries and ledger transfers; its page tells its history', async () => {
      const r = await t.admin('GET', `/admin/v1/pay/orders/${paidPrepayId}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.order.status, 'REFUNDED');
      assert.equal(r.json.refunds.length, 1);
      assert.equal(r.json.refunds[0].refundRequestId, refundRequestId);
      assert.ok(r.json.deliveries.every((d: { bizId: string }) => d.bizId === paidPrepayId));
      assert.ok(r.json.deliveries.some((d: { bizType: string }) => d.bizType === 'PAY'));
      assert.ok(r.json.ledgerTransfers.length >= 2, 'payment and refund transfers');
      assert.ok(r.json.ledgerTransfers.every((x: { ref: string }) => x.ref === paidPrepayId));
      assert.equal((await t.admin('GET', '/admin/v1/pay/orders/999999999')).json.error.code, 'ORDER_NOT_FOUND');

      const page = await b.get(`/admin/orders/pay/${paidPrepayId}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.includes(tradeNo));
      assert.match(page.body, /Paid with 20\.00 USDT/);
      assert.match(page.body, /Refund \d+ of 2\.50 USDT requested/);
      assert.ok(page.body.includes('REFUNDED'));
      assert.equal((await b.get('/admin/orders/pay/12345')).status, 404);

      const cpage = await b.get(`/admin/orders/connect/${connectOrderId}`);
      assert.equal(cpage.status, 200);
      assert.match(cpage.body, /Connect order/);
      assert.match(cpage.body, /No withdrawal yet/);
    });

    test('ledger: accounts with balances by owner, transfers newest first a page at a time', async () => {
      const acc = await t.admin('GET', `/admin/v1/ledger/accounts?ownerType=merchant&ownerId=${merchant.merchantId}`);
      assert.equal(acc.status, 200);
      const usdt = acc.json.accounts.find((a: { asset: string }) => a.asset === 'USDT');
      assert.equal(usdt.id, `merchant:${merchant.merchantId}:USDT`);
      assert.equal(
        usdt.available,
        (await t.admin('GET', `/admin/v1/merchants/${merchant.merchantId}`)).json.balances[0].available,
      );

      const all: string[] = [];
      let before: string | null = null;
      for (let page = 0; page < 50; page++) {
        const qs: string = `limit=2${before ? `&before=${encodeURIComponent(before)}` : ''}`;
        const r = await t.admin('GET', `/admin/v1/ledger/transfers?${qs}`);
        assert.equal(r.status, 200);
        all.push(...r.json.transfers.map((x: { id: string }) => x.id));
        before = r.json.next;
        if (!before) break;
      }
      const total = Number((await t.db.query(`SELECT count(*) AS n FROM ledger_transfers`)).rows[0].n);
      assert.equal(all.length, total, 'paging visits every transfer once');
      assert.equal(new Set(all).size, total);
      const byAccount = await t.admin('GET', `/admin/v1/ledger/transfers?account=${encodeURIComponent(usdt.id)}`);
      assert.ok(byAccount.json.transfers.length >= 2);
      assert.ok(
        byAccount.json.transfers.every(
          (x: { debitAccount: string; creditAccount: string }) =>
            x.debitAccount === usdt.id || x.creditAccount === usdt.id,
        ),
      );
      assert.equal((await t.admin('GET', '/admin/v1/ledger/transfers?status=DONE')).status, 400);

      const page = await b.get('/admin/ledger');
      assert.equal(page.status, 200);
      assert.match(page.body, /id="audit" class="ok"/);
      assert.ok(page.body.includes(usdt.id));
      const tpage = await b.get(`/admin/ledger/transfers?ref=${paidPrepayId}`);
      assert.equal(tpage.status, 200);
      assert.ok(tpage.body.includes(paidPrepayId));
    });

    test('hot wallets page answers (no chain configured: says so)', async () => {
      const page = await b.get('/admin/hot-wallets');
      assert.equal(page.status, 200);
      assert.match(page.body, /Hot wallets/);
    });

    test('webhook deliveries: filters, one delivery with its attempts, Redeliver (refused while pending, CSRF)', async () => {
      const d = await deliveryOf(t, paidPrepayId);
      assert.ok(d, 'the PAY webhook was queued');
      const failed = await untilFailed(t, d.id);
      assert.ok(failed.attempts.length >= 2);
      assert.equal(failed.attempts[0].httpStatus, 500);
      assert.equal(failed.attempts[0].response, 'receiver down');

      const filtered = await t.admin('GET', `/admin/v1/webhooks/deliveries?family=pay&bizId=${paidPrepayId}`);
      assert.ok(filtered.json.deliveries.length >= 1);
      assert.ok(filtered.json.deliveries.every((x: { bizId: string }) => x.bizId === paidPrepayId));
      assert.deepEqual((await t.admin('GET', `/admin/v1/webhooks/deliveries?family=kyc&bizId=${paidPrepayId}`)).json, {
        deliveries: [],
      });
      assert.equal((await t.admin('GET', '/admin/v1/webhooks/deliveries/999')).status, 404);

      const list = await b.get(`/admin/webhooks?status=FAILED&bizId=${paidPrepayId}`);
      assert.ok(list.body.includes(`/admin/webhooks/${d.id}`));
      const page = await b.get(`/admin/webhooks/${d.id}`);
      assert.match(page.body, /receiver down/);
      assert.ok(page.body.includes('FAILED'));

      // Without the CSRF token: refused, nothing changes.
      const noCsrf = await b.post(`/admin/webhooks/${d.id}/redeliver`, {});
      assert.equal(noCsrf.status, 403);
      assert.equal((await t.admin('GET', `/admin/v1/webhooks/deliveries/${d.id}`)).json.round, 0);

      // Fixed receiver, Redeliver: a new round that is acknowledged.
      broken = false;
      // Each console form is good once: every post takes a fresh form from the page.
      const fresh = async () => {
        const pg = await b.get(`/admin/webhooks/${d.id}`);
        return { csrf: b.csrfIn(pg.body), formKey: b.formKeyIn(pg.body)! };
      };
      const ok = await b.post(`/admin/webhooks/${d.id}/redeliver`, await fresh());
      assert.equal(ok.status, 303);
      assert.equal(ok.location, `/admin/webhooks/${d.id}`);
      const delivered = await untilStatus(t, d.id, 'DELIVERED');
      assert.equal(delivered.round, 1);
      assert.ok(delivered.attempts.some((a: { round: number; acked: boolean }) => a.round === 1 && a.acked));
      assert.match((await b.get(`/admin/webhooks/${d.id}`)).body, /queued again/);

      // A pending delivery cannot be redelivered: the API refuses it, the flash says so, nothing changes.
      const pending = v3Order();
      const p = await merchant.client.post('/v3/order', pending);
      await t.admin('POST', `/sandbox/v1/orders/${p.json.data.prepayId}/pay`, { payerEmail });
      broken = true;
      let queued = await deliveryOf(t, p.json.data.prepayId);
      for (let i = 0; i < 200 && (!queued || queued.attempts.length === 0); i++) {
        await new Promise((r) => setTimeout(r, 25));
        queued = await deliveryOf(t, p.json.data.prepayId);
      }
      assert.equal(queued.status, 'PENDING');
      const refused = await b.post(`/admin/webhooks/${queued.id}/redeliver`, await fresh());
      assert.equal(refused.status, 303);
      const shown = await b.get(`/admin/webhooks/${queued.id}`);
      assert.match(shown.body, /Not redelivered: The delivery is still pending/);
      assert.equal((await t.admin('GET', `/admin/v1/webhooks/deliveries/${queued.id}`)).json.round, 0);

      // Each redelivery is in the audit log under the operator's name.
      const log = (await t.admin('GET', '/admin/v1/audit-log')).json;
      const entries = (log.entries ?? log) as { path: string; status: number; actor: string }[];
      const mine = entries.filter((e) => e.path.endsWith('/redeliver'));
      assert.deepEqual(mine.map((e) => e.status).sort(), [202, 409]);
      assert.ok(mine.every((e) => e.actor.startsWith('operator:')));
    });

    test('sandbox panel: advance the clock, create a funded payer, decide KYC, pay an order; bad input changes nothing', async () => {
      const panel = await b.get('/admin/sandbox');
      assert.equal(panel.status, 200);
      // Each console form is good once: every post takes a fresh form from the panel.
      const fresh = async () => {
        const pg = await b.get('/admin/sandbox');
        return { csrf: b.csrfIn(pg.body), formKey: b.formKeyIn(pg.body)! };
      };
      const before = (await t.admin('GET', '/sandbox/v1/clock')).json;

      const advanced = await b.post('/admin/sandbox/clock', { ...(await fresh()), amount: '2', unit: 'hours' });
      assert.equal(advanced.status, 303);
      const after1 = (await t.admin('GET', '/sandbox/v1/clock')).json;
      assert.equal(after1.offsetMs - before.offsetMs, 2 * HOUR);
      assert.match((await b.get('/admin/sandbox')).body, /Clock advanced by 2 hours/);

      const bad = await b.post('/admin/sandbox/clock', { ...(await fresh()), amount: '-3', unit: 'hours' });
      assert.equal(bad.status, 303);
      assert.match((await b.get('/admin/sandbox')).body, /Enter a whole number/);
      assert.equal((await t.admin('GET', '/sandbox/v1/clock')).json.offsetMs, after1.offsetMs);
      assert.equal((await b.post('/admin/sandbox/clock', { amount: '1', unit: 'days' })).status, 403);
      assert.equal((await t.admin('GET', '/sandbox/v1/clock')).json.offsetMs, after1.offsetMs);

      const email = `panel-${Date.now()}@example.com`;
      const made = await b.post('/admin/sandbox/payers', {
        ...(await fresh()),
        email,
        password: '',
        asset: 'usdt',
        balance: '42.5',
      });
      // The password is on the answer page only, never in a cookie.
      assert.equal(made.status, 200);
      assert.match(made.body, /Payer panel-\d+@example.com created with 42.5 USDT/);
      assert.match(made.body, /<textarea id="secret" readonly rows="3" class="mono">[A-Za-z0-9]{8,}<\/textarea>/);
      assert.ok(!b.setCookies.some((c) => /rampart_console_flash=.*password/i.test(decodeURIComponent(c))));
      const payer = await t.app.services.accounts.findPayerByEmail(email);
      assert.ok(payer);
      const bal = await t.app.services.ledger.balances(t.db, 'payer', String(payer.payerId));
      assert.equal(bal[0]?.available, '42.5');
      // What a refused payer creation could have touched (the audit log and the webhooks retrying meanwhile aside).
      const quiet = [
        'pay_nonces',
        'operator_audit_log',
        'console_form_keys',
        'outbox',
        'webhook_deliveries',
        'webhook_delivery_attempts',
      ];
      const snap = await snapshot(t.db, quiet);
      const again = await b.post('/admin/sandbox/payers', {
        ...(await fresh()),
        email,
        password: '',
        asset: 'USDT',
        balance: '1',
      });
      assert.equal(again.status, 303);
      assert.match((await b.get('/admin/sandbox')).body, /No payer created/);
      assert.equal(
        (await b.post('/admin/sandbox/payers', { email: `x${email}`, asset: 'USDT', balance: '1' })).status,
        403,
      );
      assert.deepEqual(await snapshot(t.db, quiet), snap);

      // Pay an order with that payer; a second time it is refused (already paid).
      const o = await merchant.client.post('/v3/order', v3Order({ orderAmount: '5' }));
      const prepayId = o.json.data.prepayId;
      const paid = await b.post('/admin/sandbox/pay', {
        ...(await fresh()),
        prepayId,
        payerEmail: email,
        currency: '',
      });
      assert.equal(paid.status, 303);
      assert.match((await b.get('/admin/sandbox')).body, new RegExp(`Order ${prepayId} is PAID`));
      const twice = await b.post('/admin/sandbox/pay', {
        ...(await fresh()),
        prepayId,
        payerEmail: email,
        currency: '',
      });
      assert.equal(twice.status, 303);
      assert.match((await b.get('/admin/sandbox')).body, /Not paid: /);
      const after2 = await t.app.services.ledger.balances(t.db, 'payer', String(payer.payerId));
      assert.equal(after2[0]?.available, '37.5');

      // Payout KYC of that payer; an unknown id is refused.
      const kyc = await b.post('/admin/sandbox/kyc', {
        ...(await fresh()),
        userId: String(payer.payerId),
        decision: 'PASS',
        reason: '',
      });
      assert.equal(kyc.status, 303);
      assert.match((await b.get('/admin/sandbox')).body, /approved/);
      await b.post('/admin/sandbox/kyc', { ...(await fresh()), userId: '999999999', decision: 'PASS', reason: '' });
      assert.match((await b.get('/admin/sandbox')).body, /Not decided/);
    });
  });
}
