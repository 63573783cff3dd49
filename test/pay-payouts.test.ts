import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPayoutService, type PayoutService } from '../src/pay/payouts/service.ts';
import { merchantAccount, type MerchantWallet } from '../src/pay/wallets.ts';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { Decimal } from '../src/platform/money.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  payClient,
  snapshot,
  startTestApp,
  type TestApp,
} from './helpers.ts';
import { payoutBodies } from './support/payouts.ts';
import { createPayWebhookVerifier, type VerifiedPayWebhook } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/**
 * Batch payout over the signed API (binance-pay-extended.md §10): every field rule and code, the gates, TSP scope and
 * IP, idempotent replays, the race for one balance, the step machine (accept, process, finalize, claim, expiry,
 * cancel, cancel after 5 failed attempts) with its money and webhooks, and a replay of every action in every state.
 * The payout worker runs only when a test drives it (a service over the test's database), so each state can be held.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
const H72 = 72 * 3_600_000;
let seq = 0;
const rid = () => `P${Date.now().toString(36)}${++seq}`;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);

for (const kind of DB_KINDS) {
  describe(`Batch payout (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let payouts: PayoutService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let verifier: ReturnType<typeof createPayWebhookVerifier>;
    let alice: Awaited<ReturnType<typeof createPayer>>;
    let bob: Awaited<ReturnType<typeof createPayer>>;

    before(async () => {
      t = await startTestApp({ kind });
      receiver = await startReceiver();
      m = await createMerchant(t, { name: 'Payout Shop', webhookUrl: receiver.url('/merchant') });
      verifier = createPayWebhookVerifier(m.client);
      alice = await createPayer(t, `alice-${kind}@example.com`, {});
      bob = await createPayer(t, `bob-${kind}@example.com`, {});
      const s = t.app.services;
      payouts = createPayoutService({
        ...s,
        subMerchants: { isActive: async () => false },
        publicUrl: t.baseUrl,
        mode: 'sandbox',
      });
    });
    after(async () => {
      await receiver?.close();
      await assertAuditOk(t);
      await t.close();
    });

    // ---- helpers ----

    const ledger = () => t.app.services.ledger;
    async function fund(merchantId: string, amount: string, wallet: MerchantWallet = 'FUNDING_WALLET', asset = 'USDT') {
      await t.db.tx((q) =>
        ledger().transfer(q, {
          id: `test-fund:${merchantId}:${wallet}:${++seq}`,
          debit: platformAccount('sandbox_mint', asset),
          credit: merchantAccount(merchantId, wallet, asset),
          amount,
          kind: 'sandbox.fund',
        }),
      );
    }
    const balance = (merchantId: string, wallet: MerchantWallet = 'FUNDING_WALLET', asset = 'USDT') =>
      ledger().balance(t.db, merchantAccount(merchantId, wallet, asset));
    const payerBalance = async (payerId: string, asset = 'USDT') =>
      (await ledger().balance(t.db, { ownerType: 'payer', ownerId: payerId, asset })).available;
    const platform = async (name: string, asset = 'USDT') =>
      (await ledger().balance(t.db, platformAccount(name, asset))).posted;

    const { detail, batch } = payoutBodies({
      receiver: () => alice.payerId,
      batchName: 'June payouts',
      sendPrefix: 's',
      requestId: rid,
    });
    async function newMerchant(name: string, funds?: string, extra: Record<string, unknown> = {}) {
      const mm = await createMerchant(t, { name, webhookUrl: receiver.url(`/${name.replace(/\W/g, '')}`), ...extra });
      if (funds) await fund(mm.merchantId, funds);
      return mm;
    }
    /** Runs the payout worker until it has nothing to do. */
    async function drive() {
      let n = 0;
      for (let k = await payouts.runOnce(); k > 0; k = await payouts.runOnce()) n += k;
      return n;
    }
    /** Delivers queued webhooks and mail. */
    async function deliver() {
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
    }
    async function create(client: Merchant['client'], body: Record<string, unknown>) {
      const r = await client.post('/payout/transfer', body);
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.deepEqual(r.json.data, { requestId: body.requestId, status: 'ACCEPTED' });
      return r;
    }
    const query = (client: Merchant['client'], requestId: string, detailStatus?: string[]) =>
      client.post('/payout/query', { requestId, ...(detailStatus ? { detailStatus } : {}) });
    const status = async (client: Merchant['client'], requestId: string) =>
      (await query(client, requestId)).json.data.batchStatus as string;
    const batchId = async (merchantId: string, requestId: string) =>
      String(
        (
          await t.db.query(`SELECT batch_id FROM pay_payout_batches WHERE merchant_id = $1 AND request_id = $2`, [
            merchantId,
            requestId,
          ])
        ).rows[0].batch_id,
      );
    /** The verified webhooks of one bizId received so far. */
    async function hooks(bizId: string): Promise<VerifiedPayWebhook[]> {
      const out: VerifiedPayWebhook[] = [];
      for (const r of receiver.received)
        if (r.body.toString('utf8').includes(`"bizIdStr":"${bizId}"`))
          out.push(await verifier.verify(r.headers as any, r.body));
      return out;
    }
    async function hook(bizId: string, bizStatus: string, rec = receiver, v = verifier) {
      const r = await waitFor(`${bizStatus} for ${bizId}`, () =>
        rec.received.find((x) => {
          const s = x.body.toString('utf8');
          return s.includes(`"bizIdStr":"${bizId}"`) && s.includes(`"bizStatus":"${bizStatus}"`);
        }),
      );
      return v.verify(r.headers as any, r.body);
    }

    // ---- the happy path and its money ----

    test(
      'a mixed batch: ids paid, an unknown id and an unfunded detail FAIL, an e-mail AWAITING_RECEIPT → ' +
        'PART_SUCCESS, one PAYOUT',
      async () => {
        const mm = await newMerchant('Mixed Co', '100');
        await fund(mm.merchantId, '50', 'SPOT_WALLET');
        const p = await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { payoutFee: { USDT: '0.5' } });
        assert.equal(p.status, 200, JSON.stringify(p.json));
        const email = `carol-${kind}-${seq}@example.com`;
        const body = batch(
          [
            detail({ transferAmount: '10.12345678', remark: 'first' }),
            detail({
              receiveType: 'PAY_ID',
              receiver: bob.payerId,
              transferAmount: '5',
              transferMethod: 'SPOT_WALLET',
            }),
            detail({ receiver: '1000149999999', transferAmount: '3' }),
            detail({ receiveType: 'EMAIL', receiver: email.toUpperCase(), transferAmount: '20' }),
            detail({ transferAmount: '80' }),
          ],
          { bizScene: 'SETTLEMENT' },
        );
        const fundsBefore = await balance(mm.merchantId);
        // Sent with Python's spacing and number literals: parsed from the raw text.
        const r = await mm.client.post(
          '/payout/transfer',
          JSON.stringify(body, null, 1).replace('"totalAmount": "118.12345678"', '"totalAmount": 118.12345678'),
        );
        assert.deepEqual(r.json, {
          status: 'SUCCESS',
          code: '000000',
          data: { requestId: body.requestId, status: 'ACCEPTED' },
          errorMessage: null,
        });
        // Reserved at accept, in list order: 10.12345678+0.5, 3+0.5, 20+0.5 from funding (34.62345678), the 80 does
        // not fit in what is left (65.37654322 < 80.5) and is marked unfunded; 5.5 from spot.
        const held = await balance(mm.merchantId);
        assert.equal(held.held, '34.62345678');
        assert.equal(held.posted, fundsBefore.posted);
        assert.equal((await balance(mm.merchantId, 'SPOT_WALLET')).held, '5.5');
        const bal = await mm.client.post('/v2/balance', { wallet: 'FUNDING_WALLET', currency: 'USDT' });
        assert.match(bal.text, /"freeze":34\.62345678/);
        const q0 = await query(mm.client, body.requestId);
        assert.equal(q0.json.data.batchStatus, 'ACCEPTED');
        assert.deepEqual(
          q0.json.data.transferDetailList.map((d: any) => d.status),
          ['PROCESSING', 'PROCESSING', 'PROCESSING', 'PROCESSING', 'PROCESSING'],
        );

        const aliceBefore = await payerBalance(alice.payerId);
        const feesBefore = await platform('fees');
        await drive();
        const q = await query(mm.client, body.requestId);
        const d = q.json.data;
        assert.equal(d.batchStatus, 'PART_SUCCESS');
        assert.equal(d.merchantId, Number(mm.merchantId));
        assert.match(
          q.text,
          /"totalAmount":118\.12345678,"totalPaidAmount":15\.12345678,"totalPayoutFee":1\.00000000,/,
        );
        assert.equal(d.totalNumber, 5);
        assert.deepEqual(
          d.transferDetailList.map((x: any) => [x.merchantSendId, x.status, x.amount, x.payeeId ?? null]),
          [
            [body.transferDetailList[0]!.merchantSendId, 'SUCCESS', '10.12345678', Number(alice.payerId)],
            [body.transferDetailList[1]!.merchantSendId, 'SUCCESS', '5.00000000', Number(bob.payerId)],
            [body.transferDetailList[2]!.merchantSendId, 'FAIL', '3.00000000', null],
            [body.transferDetailList[3]!.merchantSendId, 'AWAITING_RECEIPT', '20.00000000', null],
            [body.transferDetailList[4]!.merchantSendId, 'FAIL', '80.00000000', null],
          ],
        );
        const first = d.transferDetailList[0];
        assert.match(first.orderId, /^\d{18}$/);
        assert.deepEqual(Object.keys(first), [
          'orderId',
          'merchantSendId',
          'payerId',
          'amount',
          'receiveType',
          'receiver',
          'payeeId',
          'transferMethod',
          'status',
          'remark',
        ]);
        assert.equal(first.payerId, Number(mm.merchantId));
        assert.equal(first.remark, 'first');
        assert.equal(d.transferDetailList[1].remark, undefined);
        assert.equal(d.transferDetailList[3].receiver, email);

        // Money: paid amounts to the payers, fees charged for the two paid, the unknown id released, the e-mail's
        // amount + fee in escrow, the unfunded one never reserved.
        assert.equal(new Decimal(await payerBalance(alice.payerId)).minus(aliceBefore).toFixed(), '10.12345678');
        assert.equal(new Decimal(await platform('fees')).minus(feesBefore).toFixed(), '1');
        const after = await balance(mm.merchantId);
        assert.equal(after.held, '0');
        assert.equal(new Decimal(fundsBefore.posted).minus(after.posted).toFixed(), '31.12345678');
        assert.equal((await balance(mm.merchantId, 'SPOT_WALLET')).posted, '44.5');

        // Filters (§10.3): PROCESSING ⊇ AWAITING_RECEIPT; FAIL ⊇ REFUNDED.
        const only = async (f: string[]) =>
          (await query(mm.client, body.requestId, f)).json.data.transferDetailList.map((x: any) => x.status);
        assert.deepEqual(await only(['PROCESSING']), ['AWAITING_RECEIPT']);
        assert.deepEqual(await only(['SUCCESS']), ['SUCCESS', 'SUCCESS']);
        assert.deepEqual(await only(['FAIL']), ['FAIL', 'FAIL']);
        assert.deepEqual(await only(['SUCCESS', 'FAIL']), ['SUCCESS', 'SUCCESS', 'FAIL', 'FAIL']);
        assert.equal((await only(['ALL'])).length, 5);

        // One PAYOUT webhook, RSA-verified, with the §10.5 data.
        await deliver();
        const id = await batchId(mm.merchantId, body.requestId);
        const w = await hook(id, 'PART_SUCCESS');
        assert.equal(w.bizType, 'PAYOUT');
        assert.equal(w.bizIdRaw, id);
        assert.equal(
          w.dataText,
          `{"batchStatus":"PART_SUCCESS","currency":"USDT","merchantId":${mm.merchantId},` +
            `"requestId":"${body.requestId}","totalAmount":118.12345678,"totalNumber":5}`,
        );

        // The invitation: once, with a link to a page that says who, how much, until when and what to do.
        const mails = await t.app.services.mailer.list(email);
        assert.equal(mails.length, 1);
        assert.match(mails[0]!.subject, /Mixed Co sent you 20\.00 USDT/);
        // A person reads the asset's natural precision; the wire's 8 decimals stay in the API.
        assert.match(mails[0]!.text, /has sent you 20\.00 USDT through/);
        const link = /Details: (\S+)/.exec(mails[0]!.text)![1]!;
        assert.ok(link.startsWith(`${t.baseUrl}/payouts/claim/`));
        const page = await fetch(link);
        assert.equal(page.status, 200);
        const html = await page.text();
        assert.match(html, /<meta name="viewport" content="width=device-width,initial-scale=1">/);
        assert.match(html, /<title>[^<]*sent you 20\.00 USDT/);
        assert.doesNotMatch(html, /20\.00000000/);
        for (const s of ['Mixed Co', '20.00 USDT', email, 'identity verification', 'UTC'])
          assert.ok(html.includes(s), `claim page shows ${s}`);
        assert.equal((await fetch(`${t.baseUrl}/payouts/claim/${'x'.repeat(32)}`)).status, 404);

        // Driving again changes nothing (finalized, no second PAYOUT, no second mail).
        const snap = await snap0(t);
        await drive();
        await deliver();
        assert.deepEqual(await snap0(t), snap);
        assert.equal((await hooks(id)).length, 1);
        assert.equal((await t.app.services.mailer.list(email)).length, 1);
      },
    );

    test('all paid → SUCCESS; all failed → FAILED (insufficient funds is a detail status, never an envelope error)', async () => {
      const mm = await newMerchant('All Co', '10');
      const ok = batch([detail({ transferAmount: '4' }), detail({ transferAmount: '6', receiver: bob.payerId })]);
      await create(mm.client, ok);
      const poor = batch([detail({ transferAmount: '1' }), detail({ transferAmount: '2' })]);
      await create(mm.client, poor);
      await drive();
      assert.equal(await status(mm.client, ok.requestId), 'SUCCESS');
      assert.equal(await status(mm.client, poor.requestId), 'FAILED');
      await deliver();
      await hook(await batchId(mm.merchantId, ok.requestId), 'SUCCESS');
      await hook(await batchId(mm.merchantId, poor.requestId), 'FAILED');
      assert.equal((await balance(mm.merchantId)).posted, '0');
      await assertAuditOk(t);
    });

    test(
      'recipient rules: the merchant itself, registration e-mail / phone mismatch, an unverified id FAIL ' +
        'and release',
      async () => {
        const mm = await newMerchant('Rules Co', '100');
        const pending = await t.admin('POST', '/sandbox/v1/payers', {
          email: `unverified-${kind}@example.com`,
          balances: {},
          kycStatus: 'PENDING',
        });
        assert.equal(pending.status, 201, JSON.stringify(pending.json));
        assert.equal(pending.json.kycStatus, 'PENDING');
        const body = batch([
          detail({ receiver: mm.merchantId }),
          detail({ registrationEmail: 'someone-else@example.com' }),
          detail({ registrationEmail: alice.email.toUpperCase() }),
          detail({ registrationMobileNumber: '322342111', registrationMobileCode: '971' }),
          detail({ receiver: pending.json.payerId }),
          detail({ receiveType: 'EMAIL', receiver: `new-${kind}@example.com`, registrationEmail: 'x@example.com' }),
        ]);
        await create(mm.client, body);
        await drive();
        const d = (await query(mm.client, body.requestId)).json.data;
        assert.deepEqual(
          d.transferDetailList.map((x: any) => x.status),
          ['FAIL', 'FAIL', 'SUCCESS', 'FAIL', 'FAIL', 'FAIL'],
        );
        assert.equal(d.batchStatus, 'PART_SUCCESS');
        const b = await balance(mm.merchantId);
        assert.equal(b.held, '0');
        assert.equal(b.posted, '99');
      },
    );

    // ---- e-mail recipients: claim and expiry ----

    test('e-mail recipient: claimed once the payer exists and is verified → SUCCESS + PAYOUT_NON_BN, fee charged', async () => {
      const mm = await newMerchant('Claim Co', '100');
      await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { payoutFee: { USDT: '1' } });
      const email = `dave-${kind}@example.com`;
      const body = batch([detail({ receiveType: 'EMAIL', receiver: email, transferAmount: '25' })], {
        webhookUrl: receiver.url('/batch-hook'),
      });
      await create(mm.client, body);
      await drive();
      const d0 = (await query(mm.client, body.requestId)).json.data;
      assert.equal(d0.batchStatus, 'PART_SUCCESS');
      assert.equal(d0.transferDetailList[0].status, 'AWAITING_RECEIPT');
      const escrow0 = await platform('payout_escrow');

      // The payer signs up unverified: nothing is claimed.
      const dave = await t.admin('POST', '/sandbox/v1/payers', { email, balances: {}, kycStatus: 'PENDING' });
      assert.equal(dave.status, 201);
      assert.equal(await drive(), 0);
      // Verified through the sandbox KYC decision on the payer id (§18.5).
      const v = await t.admin('POST', `/sandbox/v1/kyc/${dave.json.payerId}/decision`, { decision: 'PASS' });
      assert.equal(v.status, 200, JSON.stringify(v.json));
      assert.equal(v.json.kycStatus, 'PASS');
      const fees0 = await platform('fees');
      assert.equal(await drive(), 1);
      const d = (await query(mm.client, body.requestId)).json.data;
      assert.equal(d.transferDetailList[0].status, 'SUCCESS');
      assert.equal(d.transferDetailList[0].payeeId, Number(dave.json.payerId));
      assert.equal(d.batchStatus, 'PART_SUCCESS', 'the batch status is frozen once final');
      assert.match(
        (await query(mm.client, body.requestId)).text,
        /"totalPaidAmount":25\.00000000,"totalPayoutFee":1\.00000000/,
      );
      assert.equal(await payerBalance(dave.json.payerId), '25');
      assert.equal(new Decimal(await platform('fees')).minus(fees0).toFixed(), '1');
      assert.equal(new Decimal(escrow0).minus(await platform('payout_escrow')).toFixed(), '26');

      await deliver();
      const w = await hook(d.transferDetailList[0].orderId, 'SUCCESS');
      assert.equal(w.bizType, 'PAYOUT_NON_BN');
      const id = await batchId(mm.merchantId, body.requestId);
      assert.equal(
        w.dataText,
        `{"merchantSendId":"${body.transferDetailList[0]!.merchantSendId}",` +
          (`"orderId":"${d.transferDetailList[0].orderId}","batchId":"${id}","status":"SUCCESS","currency":"USDT",` +
            `"amount":25.00000000,"receiveType":"EMAIL","receiver":"${email}"}`),
      );
      // The batch's webhookUrl, not the merchant's configured one.
      assert.ok(receiver.received.filter((r) => r.path === '/batch-hook').length >= 2);
      // The page now says it was received; a later expiry changes nothing.
      const link = /Details: (\S+)/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
      assert.match(await (await fetch(link)).text(), /Received/);
      await t.admin('POST', '/sandbox/v1/clock/advance', { ms: H72 + 1000 });
      await drive();
      await deliver();
      assert.equal((await query(mm.client, body.requestId)).json.data.transferDetailList[0].status, 'SUCCESS');
      assert.equal(await payerBalance(dave.json.payerId), '25');
      assert.equal((await hooks(d.transferDetailList[0].orderId)).length, 1);
    });

    test(
      'e-mail recipient: 72 h on the business clock → REFUNDED, amount + fee back to the source wallet, ' +
        'PAYOUT_NON_BN',
      async () => {
        const mm = await newMerchant('Expiry Co');
        await fund(mm.merchantId, '30', 'SPOT_WALLET');
        await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { payoutFee: { USDT: '2' } });
        const email = `erin-${kind}@example.com`;
        const body = batch([
          detail({ receiveType: 'EMAIL', receiver: email, transferAmount: '10', transferMethod: 'SPOT_WALLET' }),
        ]);
        await create(mm.client, body);
        await drive();
        assert.equal((await balance(mm.merchantId, 'SPOT_WALLET')).posted, '18');
        await t.admin('POST', '/sandbox/v1/clock/advance', { ms: H72 - 60_000 });
        assert.equal(await drive(), 0, 'not yet');
        await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 60_000 });
        assert.equal(await drive(), 1);
        const d = (await query(mm.client, body.requestId)).json.data;
        assert.equal(d.transferDetailList[0].status, 'REFUNDED');
        assert.equal(d.transferDetailList[0].payeeId, undefined);
        assert.equal(d.batchStatus, 'PART_SUCCESS');
        assert.match(
          (await query(mm.client, body.requestId)).text,
          /"totalPaidAmount":0\.00000000,"totalPayoutFee":0\.00000000/,
        );
        assert.equal((await balance(mm.merchantId, 'SPOT_WALLET')).posted, '30');
        assert.deepEqual(
          (await query(mm.client, body.requestId, ['FAIL'])).json.data.transferDetailList.map((x: any) => x.status),
          ['REFUNDED'],
        );
        await deliver();
        const w = await hook(d.transferDetailList[0].orderId, 'REFUNDED');
        assert.equal(w.bizType, 'PAYOUT_NON_BN');
        assert.equal(w.data.status, 'REFUNDED');
        assert.match(w.dataText, /"amount":10\.00000000/);
        // A payer verified after the deadline claims nothing.
        await createPayer(t, email, {});
        const snap = await snap0(t);
        assert.equal(await drive(), 0);
        assert.deepEqual(await snap0(t), snap);
      },
    );

    // ---- cancel ----

    test(
      'operator cancel of an ACCEPTED batch: reservations released, open details FAIL, PAYOUT CANCELED; ' +
        'elsewhere 409',
      async () => {
        const mm = await newMerchant('Cancel Co', '20');
        const body = batch([detail({ transferAmount: '5' }), detail({ transferAmount: '50' })]);
        await create(mm.client, body);
        assert.equal((await balance(mm.merchantId)).held, '5');
        const id = await batchId(mm.merchantId, body.requestId);
        const noToken = await fetch(`${t.baseUrl}/admin/v1/payouts/${id}/cancel`, { method: 'POST' });
        assert.equal(noToken.status, 401);
        const c = await t.admin('POST', `/admin/v1/payouts/${id}/cancel`);
        assert.equal(c.status, 200, JSON.stringify(c.json));
        assert.deepEqual(c.json, { batchId: id, requestId: body.requestId, batchStatus: 'CANCELED' });
        const d = (await query(mm.client, body.requestId)).json.data;
        assert.equal(d.batchStatus, 'CANCELED');
        assert.deepEqual(
          d.transferDetailList.map((x: any) => x.status),
          ['FAIL', 'FAIL'],
        );
        assert.deepEqual(await balance(mm.merchantId), { asset: 'USDT', posted: '20', held: '0', available: '20' });
        await deliver();
        await hook(id, 'CANCELED');
        // Again, and on a processed batch: refused, nothing changes.
        const snap = await snap0(t);
        const again = await t.admin('POST', `/admin/v1/payouts/${id}/cancel`);
        assert.equal(again.status, 409);
        assert.equal(again.json.error.code, 'NOT_CANCELABLE');
        assert.equal((await t.admin('POST', `/admin/v1/payouts/123456789012345678/cancel`)).status, 404);
        const view = await t.admin('GET', `/admin/v1/payouts/${id}`);
        assert.equal(view.status, 200);
        assert.equal(view.json.status, 'CANCELED');
        assert.deepEqual(
          view.json.details.map((x: any) => [x.status, x.failReason, x.funded]),
          [
            ['FAIL', 'CANCELED', true],
            ['FAIL', 'CANCELED', false],
          ],
        );
        assert.equal(view.json.fingerprint, undefined);
        assert.equal((await t.admin('GET', `/admin/v1/payouts/123456789012345678`)).status, 404);
        assert.equal(await drive(), 0);
        assert.deepEqual(await snap0(t), snap);
        assert.equal((await hooks(id)).length, 1);
      },
    );

    test('a batch whose step keeps failing is canceled at the 5th attempt, releasing what it had reserved', async () => {
      const mm = await newMerchant('Broken Co', '10');
      const s = t.app.services;
      const broken = createPayoutService({
        ...s,
        accounts: {
          ...s.accounts,
          getPayer: async () => {
            throw new Error('accounts unavailable');
          },
        },
        subMerchants: { isActive: async () => false },
        publicUrl: t.baseUrl,
        mode: 'sandbox',
      });
      const body = batch([detail({ transferAmount: '3' }), detail({ transferAmount: '4' })]);
      await create(mm.client, body);
      for (let i = 1; i <= 5; i++) {
        await broken.runOnce();
        const row = (
          await t.db.query(`SELECT status, attempts FROM pay_payout_batches WHERE request_id = $1`, [body.requestId])
        ).rows[0];
        if (i < 5) {
          assert.equal(row.status, 'PROCESSING');
          assert.equal(Number(row.attempts), i);
          t.clock.advance!(60_000 * i);
        } else assert.equal(row.status, 'CANCELED');
      }
      const d = (await query(mm.client, body.requestId)).json.data;
      assert.deepEqual(
        d.transferDetailList.map((x: any) => x.status),
        ['FAIL', 'FAIL'],
      );
      assert.deepEqual(await balance(mm.merchantId), { asset: 'USDT', posted: '10', held: '0', available: '10' });
      await deliver();
      await hook(await batchId(mm.merchantId, body.requestId), 'CANCELED');
    });

    // ---- replay at every state ----

    test(
      'every action in every state: a replayed create, cancel and worker run change nothing where they do ' +
        'not apply',
      async () => {
        const mm = await newMerchant('States Co', '1000');
        const states: Record<string, ReturnType<typeof batch>> = {};
        const make = async (name: string, details: Record<string, unknown>[]) => {
          states[name] = batch(details);
          await create(mm.client, states[name]!);
        };
        await make('SUCCESS', [detail()]);
        await make('FAILED', [detail({ receiver: '1000149999998' })]);
        await make('PART_SUCCESS', [detail(), detail({ receiveType: 'EMAIL', receiver: `st-${kind}@example.com` })]);
        await make('CANCELED', [detail()]);
        await t.admin('POST', `/admin/v1/payouts/${await batchId(mm.merchantId, states.CANCELED!.requestId)}/cancel`);
        await drive();
        for (const name of ['SUCCESS', 'FAILED', 'PART_SUCCESS', 'CANCELED'])
          assert.equal(await status(mm.client, states[name]!.requestId), name);
        // ACCEPTED, held out of the worker; PROCESSING as the worker leaves it between two details (started, nothing
        // processed yet), also held.
        await make('ACCEPTED', [detail()]);
        await make('PROCESSING', [detail(), detail()]);
        const acceptedId = await batchId(mm.merchantId, states.ACCEPTED!.requestId);
        const processingId = await batchId(mm.merchantId, states.PROCESSING!.requestId);
        await t.db.query(`UPDATE pay_payout_batches SET due_at = NULL WHERE batch_id = $1`, [acceptedId]);
        await t.db.query(
          `UPDATE pay_payout_batches SET status = 'PROCESSING', due_at = NULL WHERE batch_id = $1
          AND status = 'ACCEPTED'`,
          [processingId],
        );
        assert.equal(await status(mm.client, states.PROCESSING!.requestId), 'PROCESSING');

        await deliver();
        for (const [name, body] of Object.entries(states)) {
          const id = await batchId(mm.merchantId, body.requestId);
          const before = await snap0(t);
          const sent = receiver.received.length;
          // Replayed create: the stored answer, nothing new.
          const replay = await mm.client.post('/payout/transfer', body);
          assert.deepEqual(
            replay.json.data,
            { requestId: body.requestId, status: 'ACCEPTED' },
            `${name}: ${replay.text}`,
          );
          // Cancel applies to ACCEPTED only.
          const c = await t.admin('POST', `/admin/v1/payouts/${id}/cancel`);
          if (name === 'ACCEPTED') {
            assert.equal(c.status, 200, name);
            await deliver();
            continue;
          }
          assert.equal(c.status, 409, `${name}: ${JSON.stringify(c.json)}`);
          // The worker: nothing due (finals, and the held batches).
          assert.equal(await payouts.runBatches(), 0, name);
          await deliver();
          assert.deepEqual(await snap0(t), before, name);
          assert.equal(receiver.received.length, sent, name);
        }
        // The held PROCESSING batch resumes where it was once due again, and finishes once.
        await t.db.query(`UPDATE pay_payout_batches SET due_at = 0 WHERE batch_id = $1`, [processingId]);
        await drive();
        assert.equal(await status(mm.client, states.PROCESSING!.requestId), 'SUCCESS');
        await deliver();
        assert.equal((await hooks(processingId)).length, 1);
        assert.equal(await status(mm.client, states.ACCEPTED!.requestId), 'CANCELED');
      },
    );

    // ---- idempotency and races ----

    test('replay: same requestId and parameters → the stored answer (any spacing, 1.5 = "1.50"); different → 400102', async () => {
      const mm = await newMerchant('Replay Co', '100');
      const body = batch([detail({ transferAmount: '1.5' })]);
      await create(mm.client, body);
      const snap = await snap0(t);
      const spaced = JSON.stringify(
        {
          ...body,
          transferDetailList: [{ ...body.transferDetailList[0], transferAmount: '1.50' }],
          totalAmount: 1.5,
        },
        null,
        2,
      ).replace('"totalAmount": "1.5"', '"totalAmount": 1.50');
      const again = await mm.client.post('/payout/transfer', spaced);
      assert.deepEqual(again.json, {
        status: 'SUCCESS',
        code: '000000',
        data: { requestId: body.requestId, status: 'ACCEPTED' },
        errorMessage: null,
      });
      assert.deepEqual(await snap0(t), snap);
      for (const changed of [
        { ...body, batchName: 'Other' },
        { ...body, transferDetailList: [{ ...body.transferDetailList[0], remark: 'x' }] },
        { ...body, webhookUrl: 'https://example.com/h' },
      ]) {
        const r = await mm.client.post('/payout/transfer', changed);
        assert.deepEqual(r.json, {
          status: 'FAIL',
          code: '400102',
          errorMessage: `requestId ${body.requestId} was already used with different parameters.`,
        });
      }
      assert.deepEqual(await snap0(t), snap);
      // Another merchant may use the same key.
      const other = await newMerchant('Replay Two', '10');
      await create(other.client, body);
      // Two first uses at once: one batch, both answered ACCEPTED.
      const race = batch([detail()]);
      const rs = await Promise.all([
        mm.client.post('/payout/transfer', race),
        mm.client.post('/payout/transfer', race),
      ]);
      for (const r of rs) assert.deepEqual(r.json.data, { requestId: race.requestId, status: 'ACCEPTED' }, r.text);
      const n = await t.db.query(`SELECT count(*) AS n FROM pay_payout_batches WHERE request_id = $1`, [
        race.requestId,
      ]);
      assert.equal(Number(n.rows[0].n), 1);
      await drive();
    });

    test('20 concurrent payouts from one balance never overdraw it; the ledger audit holds', async () => {
      const mm = await newMerchant('Race Co', '100');
      const bodies = Array.from({ length: 20 }, () => batch([detail({ transferAmount: '7' })]));
      const rs = await Promise.all(bodies.map((b) => mm.client.post('/payout/transfer', b)));
      for (const r of rs) assert.equal(r.json.status, 'SUCCESS', r.text);
      const b = await balance(mm.merchantId);
      assert.equal(b.held, '98', '14 of the 20 reserved');
      assert.ok(new Decimal(b.available).gte(0));
      await drive();
      const statuses = await Promise.all(bodies.map((x) => status(mm.client, x.requestId)));
      assert.equal(statuses.filter((s) => s === 'SUCCESS').length, 14);
      assert.equal(statuses.filter((s) => s === 'FAILED').length, 6);
      assert.deepEqual(await balance(mm.merchantId), { asset: 'USDT', posted: '2', held: '0', available: '2' });
      await assertAuditOk(t);
    });

    // ---- field rules, in the spec's order ----

    test('every field rule of /payout/transfer gets its code and changes nothing', async () => {
      const mm = await newMerchant('Fields Co', '1000');
      const good = () => batch([detail(), detail({ receiveType: 'EMAIL', receiver: 'fld@example.com' })]);
      const withDetail = (o: Record<string, unknown>) => {
        const b = good();
        return { ...b, transferDetailList: [{ ...b.transferDetailList[0], ...o }, b.transferDetailList[1]] };
      };
      const cases: [string, Record<string, unknown>, string, RegExp?][] = [
        ['requestId missing', { ...good(), requestId: undefined }, '400100', /^requestId: is required/],
        ['requestId empty', { ...good(), requestId: '' }, '400100'],
        ['requestId too long', { ...good(), requestId: 'a'.repeat(33) }, '400101'],
        ['requestId bad chars', { ...good(), requestId: 'a-b' }, '400101'],
        ['requestId wrong type', { ...good(), requestId: { a: 1 } }, '400100'],
        ['bizScene unknown', { ...good(), bizScene: 'GIFT' }, '400102', /^bizScene: must be one of/],
        ['batchName missing', { ...good(), batchName: undefined }, '400100'],
        ['batchName too long', { ...good(), batchName: 'b'.repeat(33) }, '400101'],
        ['batchName illegal', { ...good(), batchName: 'a"b' }, '400103'],
        ['currency missing', { ...good(), currency: undefined }, '400100'],
        ['currency lower case', { ...good(), currency: 'usdt' }, '400101'],
        ['currency fiat', { ...good(), currency: 'EUR' }, '400102', /^currency: must be a crypto asset/],
        ['currency unknown', { ...good(), currency: 'NOPE' }, '400102', /^currency: is not an enabled asset/],
        ['totalAmount missing', { ...good(), totalAmount: undefined }, '400100'],
        ['totalAmount 9 dp', { ...good(), totalAmount: '1.000000001' }, '400101'],
        ['totalAmount zero', { ...good(), totalAmount: '0' }, '400102'],
        ['totalAmount text', { ...good(), totalAmount: 'abc' }, '400101'],
        ['totalNumber missing', { ...good(), totalNumber: undefined }, '400100'],
        ['totalNumber zero', { ...good(), totalNumber: 0 }, '400102'],
        ['totalNumber 501', { ...good(), totalNumber: 501 }, '400102'],
        ['totalNumber decimal', { ...good(), totalNumber: 1.5 }, '400101'],
        ['list missing', { ...good(), transferDetailList: undefined }, '400100'],
        ['list empty', { ...good(), transferDetailList: [] }, '400100'],
        [
          'list of 501',
          {
            ...good(),
            totalNumber: 500,
            transferDetailList: Array.from({ length: 501 }, (_, i) => detail({ merchantSendId: `m${i}` })),
          },
          '400101',
        ],
        ['webhookUrl not http', { ...good(), webhookUrl: 'ftp://x.example' }, '400101'],
        ['webhookUrl too long', { ...good(), webhookUrl: `https://x.example/${'a'.repeat(250)}` }, '400101'],
        ['subMerchantId not digits', { ...good(), subMerchantId: 'abc' }, '400101'],
        ['subMerchantId 20 digits', { ...good(), subMerchantId: '1'.repeat(20) }, '400101'],
        [
          'merchantSendId missing',
          withDetail({ merchantSendId: undefined }),
          '400100',
          /^transferDetailList\[0\]\.merchantSendId/,
        ],
        ['merchantSendId too long', withDetail({ merchantSendId: 'm'.repeat(33) }), '400101'],
        ['merchantSendId bad chars', withDetail({ merchantSendId: 'a_b' }), '400101'],
        ['receiveType missing', withDetail({ receiveType: undefined }), '400100'],
        ['receiveType unknown', withDetail({ receiveType: 'PHONE' }), '400102'],
        ['receiver missing', withDetail({ receiver: undefined }), '400100'],
        ['receiver id not digits', withDetail({ receiver: 'abc' }), '400101', /^transferDetailList\[0\]\.receiver:/],
        ['receiver id 21 digits', withDetail({ receiver: '1'.repeat(21) }), '400101'],
        ['receiver bad e-mail', withDetail({ receiveType: 'EMAIL', receiver: 'not-an-email' }), '400101'],
        [
          'receiver e-mail too long',
          withDetail({ receiveType: 'EMAIL', receiver: `${'a'.repeat(250)}@x.io` }),
          '400101',
        ],
        ['transferAmount missing', withDetail({ transferAmount: undefined }), '400100'],
        ['transferAmount 9 dp', withDetail({ transferAmount: '0.000000001' }), '400101'],
        ['transferAmount zero', withDetail({ transferAmount: '0' }), '400102'],
        ['transferAmount over 80k USD', withDetail({ transferAmount: '80000.00000001' }), '400102', /80000 USD/],
        ['transferMethod missing', withDetail({ transferMethod: undefined }), '400100'],
        ['transferMethod unknown', withDetail({ transferMethod: 'MARGIN' }), '400102'],
        ['remark too long', withDetail({ remark: 'r'.repeat(129) }), '400101'],
        ['remark illegal', withDetail({ remark: 'a\\b' }), '400103'],
        ['registrationEmail too long', withDetail({ registrationEmail: 'e'.repeat(255) }), '400101'],
        ['mobile number without code', withDetail({ registrationMobileNumber: '322342111' }), '400100'],
        ['mobile code without number', withDetail({ registrationMobileCode: '971' }), '400100'],
        [
          'mobile number not digits',
          withDetail({ registrationMobileNumber: '32-23', registrationMobileCode: '971' }),
          '400101',
        ],
      ];
      const dup = good();
      dup.transferDetailList[1] = {
        ...dup.transferDetailList[1],
        merchantSendId: (dup.transferDetailList[0] as any).merchantSendId,
      };
      cases.push([
        'merchantSendId duplicate',
        dup,
        '400102',
        /^transferDetailList\[1\]\.merchantSendId: must be unique/,
      ]);
      await fund(mm.merchantId, '2', 'FUNDING_WALLET', 'BTC');
      const snap = await snap0(t);
      for (const [name, body, code, message] of cases) {
        const r = await mm.client.post('/payout/transfer', body);
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
        assert.equal(r.json.status, 'FAIL', name);
        if (message) assert.match(r.json.errorMessage, message, name);
      }
      // The 80,000 USD cap is valued in USD: 1.3 BTC is over it, 80000 USDT exactly is not.
      const btc = await mm.client.post(
        '/payout/transfer',
        batch([detail({ transferAmount: '1.3' })], { currency: 'BTC' }),
      );
      assert.equal(btc.json.code, '400102', btc.text);
      assert.deepEqual(await snap0(t), snap);
      const edge = await mm.client.post('/payout/transfer', batch([detail({ transferAmount: '80000' })]));
      assert.equal(edge.json.status, 'SUCCESS', edge.text);
      // Unknown fields (the published sample's merchantId) are ignored.
      const extra = await mm.client.post('/payout/transfer', { ...batch([detail()]), merchantId: 1000135331248 });
      assert.equal(extra.json.status, 'SUCCESS', extra.text);
      await drive();
    });

    test('validation order: fields → feature → replay → subMerchantId (400206) → totals (400102)', async () => {
      const mm = await newMerchant('Order Co', '100');
      const body = batch([detail(), detail()]);
      // Totals come after the key: a used key with bad totals is a key reuse, not a totals error.
      const wrongSum = { ...body, totalAmount: '3' };
      let r = await mm.client.post('/payout/transfer', wrongSum);
      assert.deepEqual(r.json, {
        status: 'FAIL',
        code: '400102',
        errorMessage: 'totalAmount: must equal the sum of transferAmount (2)',
      });
      r = await mm.client.post('/payout/transfer', { ...body, totalNumber: 3 });
      assert.equal(r.json.code, '400102');
      assert.match(r.json.errorMessage, /^totalNumber: must equal the number of transferDetailList items/);
      // An unknown sub-merchant is refused before the totals are looked at.
      r = await mm.client.post('/payout/transfer', { ...wrongSum, subMerchantId: '2107268400000001' });
      assert.deepEqual(r.json, {
        status: 'FAIL',
        code: '400206',
        errorMessage: 'Sub-merchant does not exist or is unavailable.',
      });
      await create(mm.client, body);
      r = await mm.client.post('/payout/transfer', { ...body, subMerchantId: '2107268400000001' });
      assert.equal(r.json.code, '400102', 'replay is checked before the sub-merchant');
      assert.match(r.json.errorMessage, /was already used with different parameters/);
      // Feature off: a valid request is 400203, an invalid one still gets its field code; replay comes after.
      await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { features: { payout: false } });
      const snap = await snap0(t);
      r = await mm.client.post('/payout/transfer', body);
      assert.deepEqual(r.json, {
        status: 'FAIL',
        code: '400203',
        errorMessage: 'Not support for this account, please check account status.',
      });
      r = await mm.client.post('/payout/transfer', { ...body, requestId: '' });
      assert.equal(r.json.code, '400100');
      assert.equal((await query(mm.client, body.requestId)).json.code, '400203');
      assert.deepEqual(await snap0(t), snap);
      await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { features: { payout: true } });
      await drive();
    });

    test(
      'subMerchantId: a channel partner’s ACTIVE sub-merchant labels the batch; another, a disabled one or no ' +
        'partner flag → 400206',
      async () => {
        const partner = await newMerchant('Partner Co', '10');
        await t.admin('PATCH', `/admin/v1/merchants/${partner.merchantId}`, { features: { channelPartner: true } });
        const add = await partner.client.post('/submerchant/add', {
          merchantName: `Sub ${kind} ${seq}`,
          merchantMcc: '1040',
          siteUrl: 'https://shop.example',
        });
        assert.equal(add.json.status, 'SUCCESS', add.text);
        const sub = /"subMerchantId":(\d+)/.exec(add.text)![1]!;
        const body = batch([detail()], { subMerchantId: sub });
        await create(partner.client, body);
        await drive();
        const rows = await payouts.reportRows(t.db, partner.merchantId, 0, t.clock.now() + 1);
        assert.equal(rows.at(-1)!.subMerchantId, sub);
        const other = await newMerchant('Not Partner Co', '10');
        const snap = await snap0(t);
        const refused = async (client: Merchant['client'], id: string) => {
          const r = await client.post('/payout/transfer', batch([detail()], { subMerchantId: id }));
          assert.deepEqual(r.json, {
            status: 'FAIL',
            code: '400206',
            errorMessage: 'Sub-merchant does not exist or is unavailable.',
          });
        };
        await refused(partner.client, '2107268499999999');
        await refused(partner.client, '9999999999999999999');
        // Another merchant may not use it.
        await refused(other.client, sub);
        assert.deepEqual(await snap0(t), snap);
        // Disabled by the operator.
        const off = await t.admin('POST', `/admin/v1/submerchants/${sub}/status`, { status: 'DISABLED' });
        assert.equal(off.status, 200, JSON.stringify(off.json));
        await refused(partner.client, sub);
        // The partner flag turned off: not a partner's call any more.
        await t.admin('POST', `/admin/v1/submerchants/${sub}/status`, { status: 'ACTIVE' });
        await t.admin('PATCH', `/admin/v1/merchants/${partner.merchantId}`, { features: { channelPartner: false } });
        await refused(partner.client, sub);
      },
    );

    test('malformed input sweep: 300 mutated /payout/transfer bodies never answer 400000, never change a row', async () => {
      const mm = await newMerchant('Sweep Co');
      let x = 7;
      const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2147483648), x % n);
      const odd: unknown[] = [
        null,
        '',
        ' ',
        -1,
        0,
        '1e3',
        '1.123456789',
        '99999999999999999999999999',
        true,
        [],
        {},
        'a'.repeat(300),
        '\u2028',
        '😀',
        '1000140001234',
        'a@b',
        '-0',
      ];
      const good = () =>
        batch([detail(), detail({ receiveType: 'EMAIL', receiver: 'sweep@example.com' })], {
          subMerchantId: '12',
          webhookUrl: 'https://x.example',
        });
      const paths = (b: any): string[][] => [
        ...Object.keys(b).map((k) => [k]),
        ...Object.keys(b.transferDetailList[0]).map((k) => ['transferDetailList', '0', k]),
        ['transferDetailList', '0', 'registrationEmail'],
        ['transferDetailList', '0', 'registrationMobileNumber'],
      ];
      const snap = await snap0(t);
      for (let i = 0; i < 300; i++) {
        const b: any = good();
        // Ensure every case is invalid somewhere: no funds, so a valid one would only add rows (kept apart below).
        const ps = paths(b);
        const p = ps[rnd(ps.length)]!;
        let o = b;
        for (const k of p.slice(0, -1)) o = o[k];
        o[p.at(-1)!] = odd[rnd(odd.length)];
        const r = await mm.client.post('/payout/transfer', b);
        assert.notEqual(r.json?.code, '400000', `${JSON.stringify(b)} → ${r.text}`);
        assert.equal(r.status, 200);
        if (r.json.status === 'SUCCESS') {
          await t.db.query(
            `DELETE FROM pay_payout_details WHERE batch_id IN (SELECT batch_id FROM pay_payout_batches
              WHERE merchant_id = $1)`,
            [mm.merchantId],
          );
          await t.db.query(`DELETE FROM pay_payout_batches WHERE merchant_id = $1`, [mm.merchantId]);
        }
      }
      assert.deepEqual(await snap0(t), snap);
    });

    test('a key without the PAYOUT permission: /payout/transfer 400004, query and receiver check allowed', async () => {
      const mm = await newMerchant('Perm Co', '10');
      const k = await t.admin('POST', `/admin/v1/merchants/${mm.merchantId}/keys`, { permissions: [] });
      assert.equal(k.status, 201, JSON.stringify(k.json));
      const limited = payClient(t.baseUrl, k.json.apiKey, k.json.apiSecret);
      const snap = await snap0(t);
      const r = await limited.post('/payout/transfer', batch([detail()]));
      assert.deepEqual(r.json, { status: 'FAIL', code: '400004', errorMessage: 'API key is not enabled for payout.' });
      assert.deepEqual(await snap0(t), snap);
      const body = batch([detail()]);
      await create(mm.client, body);
      assert.equal((await query(limited, body.requestId)).json.status, 'SUCCESS');
      const c = await limited.post('/payout/receiver/check', {
        receiveType: 'BINANCE_ID',
        receiverId: alice.payerId,
        registrationEmail: alice.email,
      });
      assert.deepEqual(c.json.data, true);
      const granted = await t.admin('POST', `/admin/v1/merchants/${mm.merchantId}/keys`, { permissions: ['PAYOUT'] });
      const full = payClient(t.baseUrl, granted.json.apiKey, granted.json.apiSecret);
      assert.equal((await full.post('/payout/transfer', batch([detail()]))).json.status, 'SUCCESS');
      await drive();
    });

    test('/payout/query: field rules and an unknown requestId (400202)', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{}, '400100'],
        [{ requestId: '' }, '400100'],
        [{ requestId: 'q'.repeat(33) }, '400101'],
        [{ requestId: 'x', detailStatus: ['DONE'] }, '400102'],
        [{ requestId: 'x', detailStatus: 'SUCCESS' }, '400100'],
      ];
      for (const [body, code] of cases) assert.equal((await m.client.post('/payout/query', body)).json.code, code);
      assert.deepEqual((await m.client.post('/payout/query', { requestId: 'nosuchpayout' })).json, {
        status: 'FAIL',
        code: '400202',
        errorMessage: 'Payout not found.',
      });
      // Another merchant's batch is not found either.
      const mm = await newMerchant('Query Co', '5');
      const body = batch([detail()]);
      await create(mm.client, body);
      assert.equal((await m.client.post('/payout/query', { requestId: body.requestId })).json.code, '400202');
      await drive();
    });

    test('/payout/receiver/check: matches, field rules, feature, and the 406108 guard for 10 minutes', async () => {
      const mm = await newMerchant('Check Co');
      const check = (b: Record<string, unknown>) => mm.client.post('/payout/receiver/check', b);
      const base = { receiveType: 'BINANCE_ID', receiverId: alice.payerId };
      assert.deepEqual((await check({ ...base, registrationEmail: alice.email.toUpperCase() })).json, {
        status: 'SUCCESS',
        code: '000000',
        data: true,
        errorMessage: null,
      });
      assert.equal((await check({ ...base, receiveType: 'PAY_ID', registrationEmail: alice.email })).json.data, true);
      assert.equal((await check({ ...base, registrationEmail: 'other@example.com' })).json.data, false);
      assert.equal(
        (await check({ ...base, registrationMobileNumber: '322342111', registrationMobileCode: '971' })).json.data,
        false,
      );
      assert.equal(
        (await check({ ...base, receiverId: '1000149999997', registrationEmail: alice.email })).json.data,
        false,
      );
      assert.equal((await check({ ...base, openUserId: 'f'.repeat(32) })).json.data, false);
      for (const [body, code] of [
        [{ receiverId: alice.payerId, registrationEmail: alice.email }, '400100'],
        [{ ...base, receiveType: 'EMAIL', registrationEmail: alice.email }, '400102'],
        [{ receiveType: 'BINANCE_ID', registrationEmail: alice.email }, '400100'],
        [{ ...base, receiverId: 'abc', registrationEmail: alice.email }, '400101'],
        [base, '400100'],
        [{ ...base, registrationMobileNumber: '322342111' }, '400100'],
      ] as [Record<string, unknown>, string][])
        assert.equal((await check(body)).json.code, code, JSON.stringify(body));
      // 4 false so far; 17 more make 21 (> 20): the next call is refused, even a matching one, for 10 minutes.
      for (let i = 0; i < 17; i++)
        assert.equal((await check({ ...base, registrationEmail: 'x@example.com' })).json.data, false);
      const blocked = await check({ ...base, registrationEmail: alice.email });
      assert.deepEqual(blocked.json, {
        status: 'FAIL',
        code: '406108',
        errorMessage: 'Fail rate is high, please try again later',
      });
      // Other merchants are not affected.
      assert.equal(
        (await m.client.post('/payout/receiver/check', { ...base, registrationEmail: alice.email })).json.data,
        true,
      );
      await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 10 * 60_000 });
      assert.equal((await check({ ...base, registrationEmail: alice.email })).json.data, true);
      // Feature payoutReceiverCheck off → 400203.
      await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, { features: { payoutReceiverCheck: false } });
      assert.equal((await check({ ...base, registrationEmail: alice.email })).json.code, '400203');
    });

    // ---- TSP ----

    describe('on behalf of a merchant (TSP)', () => {
      let tsp: Tsp;
      before(async () => {
        tsp = await createTsp(t);
      });
      after(async () => {
        await tsp?.receiver.close();
      });

      test(
        'with the PAYOUT scope: the merchant pays, the PAYOUT webhook goes to the TSP; without it or from another ' +
          'IP 400004',
        async () => {
          const mm = await newMerchant('Tsp Co', '50');
          const a = await authorize(t, tsp, mm.merchantId, ['PAYOUT']);
          const body = batch([detail({ transferAmount: '5' })]);
          const r = await tsp.client.post('/payout/transfer', { [FIELD]: a.authorizationToken, ...body });
          assert.deepEqual(r.json.data, { requestId: body.requestId, status: 'ACCEPTED' }, r.text);
          await drive();
          assert.equal((await balance(mm.merchantId)).posted, '45');
          const q = await tsp.client.post('/payout/query', {
            [FIELD]: a.authorizationToken,
            requestId: body.requestId,
          });
          assert.equal(q.json.data.batchStatus, 'SUCCESS');
          assert.equal(q.json.data.merchantId, Number(mm.merchantId));
          // The merchant sees it with its own key; the TSP's own account does not have it.
          assert.equal((await query(mm.client, body.requestId)).json.data.batchStatus, 'SUCCESS');
          assert.equal((await tsp.client.post('/payout/query', { requestId: body.requestId })).json.code, '400202');
          await deliver();
          const w = await tsp.webhook(await batchId(mm.merchantId, body.requestId), 'SUCCESS');
          assert.equal(w.bizType, 'PAYOUT');

          const other = await authorize(t, tsp, mm.merchantId, ['CHECKOUT']);
          const fenced = await authorize(t, tsp, mm.merchantId, ['PAYOUT'], ['10.1.2.3']);
          await deliver();
          const snap = await snap0(t);
          for (const path of ['/payout/transfer', '/payout/query', '/payout/receiver/check']) {
            const x = await tsp.client.post(path, { [FIELD]: other.authorizationToken, ...batch([detail()]) });
            assert.equal(x.json.code, '400004', `${path}: ${x.text}`);
          }
          const y = await tsp.client.post('/payout/transfer', {
            [FIELD]: fenced.authorizationToken,
            ...batch([detail()]),
          });
          assert.deepEqual(y.json, {
            status: 'FAIL',
            code: '400004',
            errorMessage: 'IP is not in the authorization whitelist.',
          });
          assert.deepEqual(await snap0(t), snap);
        },
      );
    });

    test('report rows: the details created in [from, to) for one merchant, in the T_Payout columns', async () => {
      const mm = await newMerchant('Report Co', '10');
      const from = t.clock.now();
      const body = batch([detail({ transferAmount: '2', remark: 'r1' }), detail({ receiver: '1000149999996' })], {
        bizScene: 'REIMBURSEMENT',
      });
      await create(mm.client, body);
      await drive();
      const rows = await payouts.reportRows(t.db, mm.merchantId, from, t.clock.now() + 1);
      assert.equal(rows.length, 2);
      assert.deepEqual(Object.keys(rows[0]!), [
        'createTime',
        'requestId',
        'batchName',
        'bizScene',
        'subMerchantId',
        'orderId',
        'merchantSendId',
        'receiveType',
        'receiver',
        'payeeId',
        'transferMethod',
        'currency',
        'amount',
        'fee',
        'status',
        'remark',
        'finishTime',
      ]);
      assert.equal(rows[0]!.bizScene, 'REIMBURSEMENT');
      assert.equal(rows[0]!.amount, '2.00000000');
      assert.equal(rows[0]!.payeeId, alice.payerId);
      assert.deepEqual(
        rows.map((r) => r.status),
        ['SUCCESS', 'FAIL'],
      );
      assert.equal((await payouts.reportRows(t.db, mm.merchantId, from - 1000, from)).length, 0);
    });
  });

  describe(`Batch payout with the app's own workers (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind, workers: true });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    test('the pay-payouts loop processes a batch, and claims for an e-mail recipient verified through the sandbox', async () => {
      const rec = await startReceiver();
      try {
        const mm = await createMerchant(t, { name: 'Loop Co', webhookUrl: rec.url('/loop') });
        await t.db.tx((q) =>
          t.app.services.ledger.transfer(q, {
            id: `test-fund:${mm.merchantId}:loop`,
            debit: platformAccount('sandbox_mint', 'USDT'),
            credit: merchantAccount(mm.merchantId, 'FUNDING_WALLET', 'USDT'),
            amount: '10',
            kind: 'sandbox.fund',
          }),
        );
        const paid = await createPayer(t, `loop-paid-${kind}@example.com`, {});
        const email = `loop-new-${kind}@example.com`;
        const requestId = rid();
        const r = await mm.client.post('/payout/transfer', {
          requestId,
          batchName: 'loop',
          currency: 'USDT',
          totalAmount: '3',
          totalNumber: 2,
          transferDetailList: [
            {
              merchantSendId: 'a',
              receiveType: 'PAY_ID',
              receiver: paid.payerId,
              transferAmount: '1',
              transferMethod: 'FUNDING_WALLET',
            },
            {
              merchantSendId: 'b',
              receiveType: 'EMAIL',
              receiver: email,
              transferAmount: '2',
              transferMethod: 'FUNDING_WALLET',
            },
          ],
        });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        const q = () => mm.client.post('/payout/query', { requestId });
        await waitFor('PART_SUCCESS', async () => (await q()).json.data.batchStatus === 'PART_SUCCESS');
        const verifier = createPayWebhookVerifier(mm.client);
        const bid = (await q()).json.data;
        const payout = await waitFor('PAYOUT', () =>
          rec.received.find((x) => x.body.toString().includes('"bizType":"PAYOUT"')),
        );
        assert.equal((await verifier.verify(payout.headers as any, payout.body)).bizStatus, 'PART_SUCCESS');
        await waitFor('invitation', async () => (await t.app.services.mailer.list(email)).length === 1);
        const p = await t.admin('POST', '/sandbox/v1/payers', { email, balances: {}, kycStatus: 'PENDING' });
        assert.equal(p.status, 201);
        const v = await t.admin('POST', `/sandbox/v1/kyc/${p.json.payerId}/decision`, { decision: 'PASS' });
        assert.equal(v.json.kycStatus, 'PASS');
        await waitFor('claimed', async () => (await q()).json.data.transferDetailList[1].status === 'SUCCESS');
        const nonBn = await waitFor('PAYOUT_NON_BN', () =>
          rec.received.find((x) => x.body.toString().includes('"bizType":"PAYOUT_NON_BN"')),
        );
        const w = await verifier.verify(nonBn.headers as any, nonBn.body);
        assert.equal(w.bizStatus, 'SUCCESS');
        assert.equal(w.bizIdStr, bid.transferDetailList[1].orderId);
        const bal = await t.app.services.ledger.balance(t.db, {
          ownerType: 'payer',
          ownerId: p.json.payerId,
          asset: 'USDT',
        });
        assert.equal(bal.available, '2');
      } finally {
        await rec.close();
      }
    });
  });
}
