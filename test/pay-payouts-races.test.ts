import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { AccountsService } from '../src/accounts/service.ts';
import { createPayoutService, type PayoutService } from '../src/pay/payouts/service.ts';
import { merchantAccount, type MerchantWallet } from '../src/pay/wallets.ts';
import type { Clock } from '../src/platform/clock.ts';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { Decimal } from '../src/platform/money.ts';
import { payoutBodies } from './support/payouts.ts';
import { assertAuditOk, createMerchant, createPayer, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';

/**
 * Batch payout under concurrency (binance-pay-extended.md §10): two workers on the same batches (and their leases
 * lost while a handler runs), an operator cancel racing the worker, a claim racing an expiry, a wallet transfer racing
 * a payout for one balance, a replay written differently, and a claim whose recipient lost KYC after the worker read
 * it. Each detail settles or releases exactly once; the ledger audit holds after every test.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
const H72 = 72 * 3_600_000;
let seq = 0;
const rid = () => `R${Date.now().toString(36)}${++seq}`;

for (const kind of DB_KINDS) {
  describe(`Batch payout races (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<typeof createPayer>>;
    let bob: Awaited<ReturnType<typeof createPayer>>;

    const service = (accounts?: Partial<AccountsService>, clock?: Clock): PayoutService => {
      const s = t.app.services;
      return createPayoutService({
        ...s,
        clock: clock ?? s.clock,
        accounts: { ...s.accounts, ...accounts },
        subMerchants: { isActive: async () => false },
        publicUrl: t.baseUrl,
        mode: 'sandbox',
      });
    };

    before(async () => {
      t = await startTestApp({ kind });
      alice = await createPayer(t, `race-alice-${kind}@example.com`, {});
      bob = await createPayer(t, `race-bob-${kind}@example.com`, {});
    });
    afterEach(async () => {
      await assertAuditOk(t);
    });
    after(async () => {
      await t.close();
    });

    const ledger = () => t.app.services.ledger;
    async function fund(merchantId: string, amount: string, wallet: MerchantWallet = 'FUNDING_WALLET') {
      await t.db.tx((q) =>
        ledger().transfer(q, {
          id: `race-fund:${merchantId}:${wallet}:${++seq}`,
          debit: platformAccount('sandbox_mint', 'USDT'),
          credit: merchantAccount(merchantId, wallet, 'USDT'),
          amount,
          kind: 'sandbox.fund',
        }),
      );
    }
    const balance = (merchantId: string, wallet: MerchantWallet = 'FUNDING_WALLET') =>
      ledger().balance(t.db, merchantAccount(merchantId, wallet, 'USDT'));
    const payerBalance = async (payerId: string) =>
      (await ledger().balance(t.db, { ownerType: 'payer', ownerId: payerId, asset: 'USDT' })).available;
    async function newMerchant(name: string, funds?: string, fee?: string): Promise<Merchant> {
      const m = await createMerchant(t, { name, webhookUrl: 'http://127.0.0.1:9/hooks' });
      if (funds) await fund(m.merchantId, funds);
      if (fee) {
        const p = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { payoutFee: { USDT: fee } });
        assert.equal(p.status, 200, JSON.stringify(p.json));
      }
      return m;
    }
    const { detail, batch } = payoutBodies({
      receiver: () => alice.payerId,
      batchName: 'Race batch',
      sendPrefix: 'r',
      requestId: rid,
    });
    async function create(m: Merchant, body: Record<string, unknown>) {
      const r = await m.client.post('/payout/transfer', body);
      assert.deepEqual(r.json.data, { requestId: body.requestId, status: 'ACCEPTED' }, r.text);
    }
    const batchOf = async (merchantId: string, requestId: string) =>
      (
        await t.db.query(`SELECT * FROM pay_payout_batches WHERE merchant_id = $1 AND request_id = $2`, [
          merchantId,
          requestId,
        ])
      ).rows[0];
    const detailsOf = async (batchId: string) =>
      (await t.db.query(`SELECT * FROM pay_payout_details WHERE batch_id = $1 ORDER BY seq`, [batchId])).rows;
    async function driveAll(p: PayoutService) {
      for (let k = await p.runOnce(); k > 0; k = await p.runOnce());
    }
    /** Ledger entries of one detail, by kind and status. */
    const entries = async (orderId: string) =>
      (
        await t.db.query(`SELECT kind, status FROM ledger_transfers WHERE ref = $1 ORDER BY kind, status`, [
          String(orderId),
        ])
      ).rows.map((r) => `${r.kind}:${r.status}`);
    const events = async (bizType: string, bizId: string) =>
      Number(
        (
          await t.db.query(
            `SELECT count(*) AS n FROM outbox WHERE payload->>'bizType' = $1 AND payload->>'bizId' = $2`,
            [bizType, bizId],
          )
        ).rows[0].n,
      );
    const mails = async (email: string) =>
      Number((await t.db.query(`SELECT count(*) AS n FROM mail_messages WHERE to_address = $1`, [email])).rows[0].n);

    /** Every detail of the batch moved money exactly as its final status says, once. */
    async function assertSettledOnce(batchId: string, fee: string) {
      const feeKinds = new Decimal(fee).gt(0) ? ['pay.payout.fee:POSTED'] : [];
      for (const d of await detailsOf(batchId)) {
        const e = (await entries(d.order_id)).sort();
        const expected =
          d.status === 'SUCCESS'
            ? ['pay.payout:POSTED', ...feeKinds, 'pay.payout.pay:POSTED']
            : d.status === 'AWAITING_RECEIPT'
              ? ['pay.payout:POSTED']
              : d.status === 'REFUNDED'
                ? ['pay.payout:POSTED', 'pay.payout.refund:POSTED']
                : d.funded
                  ? ['pay.payout:VOIDED']
                  : [];
        assert.deepEqual(e, expected.sort(), `detail ${d.order_id} (${d.status}, ${d.fail_reason})`);
      }
    }

    test(
      'two workers on the same batches, their leases lost again and again: each detail settles once, one PAYOUT, ' +
        'one invitation',
      async () => {
        const m = await newMerchant('Two Workers', '1000', '0.25');
        const bodies = Array.from({ length: 6 }, (_, i) =>
          batch([
            detail({ transferAmount: '3' }),
            detail({ receiveType: 'PAY_ID', receiver: bob.payerId, transferAmount: '2' }),
            detail({ receiver: '1000149999991', transferAmount: '1' }),
            detail({ receiveType: 'EMAIL', receiver: `race-${kind}-${i}-${seq}@example.com`, transferAmount: '4' }),
            detail({ transferAmount: '990' }),
          ]),
        );
        for (const b of bodies) await create(m, b);
        const aliceBefore = await payerBalance(alice.payerId);
        const [a, b] = [service(), service()];
        let stop = false;
        // Leases lapse while handlers run: every lease is dropped over and over, so both workers drive every batch.
        const chaos = (async () => {
          while (!stop) {
            await t.db.query(`UPDATE pay_payout_batches SET lease_until = 0 WHERE merchant_id = $1`, [m.merchantId]);
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
        await Promise.all([driveAll(a), driveAll(b), driveAll(a), driveAll(b)]);
        stop = true;
        await chaos;
        await Promise.all([driveAll(a), driveAll(b)]);
        for (const body of bodies) {
          const row = await batchOf(m.merchantId, body.requestId);
          assert.equal(row.status, 'PART_SUCCESS');
          assert.deepEqual(
            (await detailsOf(row.batch_id)).map((d) => d.status),
            ['SUCCESS', 'SUCCESS', 'FAIL', 'AWAITING_RECEIPT', 'FAIL'],
          );
          await assertSettledOnce(row.batch_id, '0.25');
          assert.equal(await events('PAYOUT', String(row.batch_id)), 1);
          assert.equal(await mails(String(body.transferDetailList[3]!.receiver)), 1);
        }
        assert.equal(new Decimal(await payerBalance(alice.payerId)).minus(aliceBefore).toFixed(), '18');
        // 6 × (3 + 2 paid, 4 in escrow, 3 × 0.25 fee reserved for the three that left the wallet)
        assert.deepEqual(await balance(m.merchantId), {
          asset: 'USDT',
          posted: new Decimal(1000).minus(new Decimal('9.75').mul(6)).toFixed(),
          held: '0',
          available: new Decimal(1000).minus(new Decimal('9.75').mul(6)).toFixed(),
        });
      },
    );

    test('a worker whose lease was taken over leaves the new holder’s lease alone and stops driving the batch', async () => {
      const m = await newMerchant('Lease Co', '100');
      const body = batch([detail(), detail(), detail()]);
      await create(m, body);
      const row = await batchOf(m.merchantId, body.requestId);
      const takenOver = Date.now() + 3_600_000;
      let calls = 0;
      // While the first detail is being processed, the lease lapses and another worker takes the batch.
      const a = service({
        getPayer: async (id, q) => {
          if (++calls === 1)
            await q!.query(`UPDATE pay_payout_batches SET lease_until = $2 WHERE batch_id = $1`, [
              row.batch_id,
              takenOver,
            ]);
          return t.app.services.accounts.getPayer(id, q);
        },
      });
      await a.runBatches();
      const after = await batchOf(m.merchantId, body.requestId);
      assert.equal(Number(after.lease_until), takenOver, 'the new holder keeps its lease');
      // The first detail was decided in the step that was running; the rest is left to the lease's holder.
      assert.deepEqual(
        (await detailsOf(row.batch_id)).map((d) => d.status),
        ['SUCCESS', 'PROCESSING', 'PROCESSING'],
      );
      assert.equal(await service().runBatches(), 0, 'nobody else claims a held lease');
      await t.db.query(`UPDATE pay_payout_batches SET lease_until = 0 WHERE batch_id = $1`, [row.batch_id]);
      await driveAll(service());
      assert.equal((await batchOf(m.merchantId, body.requestId)).status, 'SUCCESS');
      await assertSettledOnce(row.batch_id, '0');
    });

    test('operator cancel racing the worker: either canceled with every hold released, or processed; never both', async () => {
      const m = await newMerchant('Cancel Race', '1000', '0.5');
      const bodies = Array.from({ length: 8 }, () =>
        batch([detail({ transferAmount: '2' }), detail({ receiveType: 'PAY_ID', receiver: bob.payerId })]),
      );
      for (const b of bodies) await create(m, b);
      const ids = await Promise.all(
        bodies.map(async (b) => String((await batchOf(m.merchantId, b.requestId)).batch_id)),
      );
      const w = service();
      // Half the cancels are sent before the workers start, half after: both orders, and on PostgreSQL both at once.
      const cancel = (id: string) => t.admin('POST', `/admin/v1/payouts/${id}/cancel`);
      const [early, , late] = await Promise.all([
        Promise.all(ids.slice(0, 4).map(cancel)),
        Promise.all([driveAll(w), driveAll(service())]),
        Promise.all(ids.slice(4).map(cancel)),
      ]);
      const results = [...early, ...late];
      await driveAll(w);
      for (const [i, id] of ids.entries()) {
        const status = (await t.db.query(`SELECT status FROM pay_payout_batches WHERE batch_id = $1`, [id])).rows[0]
          .status;
        const c = results[i]!;
        if (c.status === 200) {
          assert.equal(status, 'CANCELED');
          assert.deepEqual(
            (await detailsOf(id)).map((d) => [d.status, d.fail_reason]),
            [
              ['FAIL', 'CANCELED'],
              ['FAIL', 'CANCELED'],
            ],
          );
        } else {
          assert.equal(c.status, 409);
          assert.equal(status, 'SUCCESS');
        }
        await assertSettledOnce(id, '0.5');
        assert.equal(await events('PAYOUT', id), 1);
      }
      assert.equal((await balance(m.merchantId)).held, '0');
    });

    test('a claim racing an expiry for the same detail: one of them, once', async () => {
      const m = await newMerchant('Claim Race', '100', '0.1');
      const emails = Array.from({ length: 4 }, (_, i) => `claimrace-${kind}-${i}-${++seq}@example.com`);
      const body = batch(emails.map((e) => detail({ receiveType: 'EMAIL', receiver: e, transferAmount: '5' })));
      await create(m, body);
      await driveAll(service());
      const row = await batchOf(m.merchantId, body.requestId);
      assert.deepEqual(
        (await detailsOf(row.batch_id)).map((d) => d.status),
        emails.map(() => 'AWAITING_RECEIPT'),
      );
      // The recipients register and pass KYC, and the deadline comes at the same moment.
      for (const e of emails) await createPayer(t, e, {});
      t.clock.advance!(H72);
      // One worker's clock is a millisecond before the deadline (it claims), the other's at it (it expires).
      const deadline = Number((await detailsOf(row.batch_id))[0].claim_deadline);
      assert.equal(t.clock.now(), deadline);
      const early = service(undefined, { ...t.clock, now: () => t.clock.now() - 1 });
      const late = service();
      // Both orders: the claimer first for half the rounds, the expirer first for the other half.
      await Promise.all(emails.flatMap((_, i) => (i % 2 ? [early, late] : [late, early]).map((w) => w.runAwaiting())));
      const ds = await detailsOf(row.batch_id);
      for (const d of ds) {
        assert.ok(['SUCCESS', 'REFUNDED'].includes(d.status), d.status);
        assert.equal(await events('PAYOUT_NON_BN', String(d.order_id)), 1);
      }
      await assertSettledOnce(row.batch_id, '0.1');
      const refunded = ds.filter((d) => d.status === 'REFUNDED').length;
      assert.deepEqual(await balance(m.merchantId), {
        asset: 'USDT',
        posted: new Decimal(100).minus(new Decimal('5.1').mul(4 - refunded)).toFixed(),
        held: '0',
        available: new Decimal(100).minus(new Decimal('5.1').mul(4 - refunded)).toFixed(),
      });
    });

    test('a claim checks the recipient’s KYC in its own transaction, not from the worker’s earlier read', async () => {
      const m = await newMerchant('KYC Co', '50');
      const email = `kyc-late-${kind}-${++seq}@example.com`;
      const body = batch([detail({ receiveType: 'EMAIL', receiver: email, transferAmount: '5' })]);
      await create(m, body);
      await driveAll(service());
      const payer = await createPayer(t, email, {});
      // The worker reads the verified payers, then the payer's KYC is withdrawn before the claim commits.
      const w = service({
        verifiedPayersByEmail: async (emails, q) => {
          const found = await t.app.services.accounts.verifiedPayersByEmail(emails, q);
          await t.app.services.accounts.setPayerKycStatus(payer.payerId, 'REJECT');
          return found;
        },
      });
      assert.equal(await w.runAwaiting(), 0);
      const row = await batchOf(m.merchantId, body.requestId);
      const [d] = await detailsOf(row.batch_id);
      assert.equal(d.status, 'AWAITING_RECEIPT');
      assert.equal(await payerBalance(payer.payerId), '0');
      await assertSettledOnce(row.batch_id, '0');
      // Verified again: claimed.
      await t.app.services.accounts.setPayerKycStatus(payer.payerId, 'PASS');
      assert.equal(await service().runAwaiting(), 1);
      assert.equal(await payerBalance(payer.payerId), '5');
    });

    test('a wallet transfer racing a payout for the same funds: never more than the balance leaves', async () => {
      for (let round = 0; round < 5; round++) {
        const m = await newMerchant(`Transfer Race ${round}`, '10', '0.5');
        const body = batch([detail({ transferAmount: '7' })]);
        const payout = () => m.client.post('/payout/transfer', body);
        const move = () =>
          m.client.post('/wallet/transfer', {
            requestId: rid(),
            currency: 'USDT',
            amount: '7',
            transferType: 'TO_MAIN',
          });
        // Each sent first in turn.
        let p, tr;
        if (round % 2) [p, tr] = await Promise.all([payout(), move()]);
        else [tr, p] = await Promise.all([move(), payout()]);
        assert.equal(p.json.status, 'SUCCESS', p.text);
        assert.equal(tr.json.status, 'SUCCESS', tr.text);
        const row = await batchOf(m.merchantId, body.requestId);
        const [d] = await detailsOf(row.batch_id);
        // Exactly one of the two got the 7 (+ 0.5 fee for the payout).
        assert.equal(Number(d.funded) + Number(tr.json.data.status === 'SUCCESS'), 1, `${d.funded} ${tr.text}`);
        const f = await balance(m.merchantId);
        assert.ok(new Decimal(f.available).gte(0));
        await driveAll(service());
        await assertSettledOnce(row.batch_id, '0.5');
        const left = await balance(m.merchantId);
        const spot = await balance(m.merchantId, 'SPOT_WALLET');
        assert.equal(
          new Decimal(left.posted).plus(spot.posted).toFixed(),
          d.funded ? '2.5' : '10',
          `${JSON.stringify(left)} ${JSON.stringify(spot)}`,
        );
      }
    });

    test('a replay written differently (e-mail case, + of a calling code, null optionals) is the same request', async () => {
      const m = await newMerchant('Replay Case', '100');
      const body = batch([
        detail({ receiveType: 'EMAIL', receiver: `Mixed.Case-${kind}@Example.COM`, transferAmount: '2' }),
        detail({ registrationEmail: `race-alice-${kind}@example.com`, transferAmount: '1' }),
        detail({ registrationMobileNumber: '322342111', registrationMobileCode: '+971', transferAmount: '1' }),
      ]);
      await create(m, body);
      const row = await batchOf(m.merchantId, body.requestId);
      const rewritten = {
        ...body,
        transferDetailList: [
          { ...body.transferDetailList[0], receiver: `mixed.case-${kind}@example.com`, remark: null },
          { ...body.transferDetailList[1], registrationEmail: `RACE-ALICE-${kind}@EXAMPLE.COM` },
          { ...body.transferDetailList[2], registrationMobileCode: '971' },
        ],
      };
      const r = await m.client.post('/payout/transfer', rewritten);
      assert.deepEqual(r.json.data, { requestId: body.requestId, status: 'ACCEPTED' }, r.text);
      const n = await t.db.query(`SELECT count(*) AS n FROM pay_payout_batches WHERE merchant_id = $1`, [m.merchantId]);
      assert.equal(Number(n.rows[0].n), 1);
      assert.equal((await balance(m.merchantId)).held, '4');
      // A different e-mail or calling code is a different request.
      const [d0, d1, d2] = body.transferDetailList;
      for (const list of [
        [{ ...d0, receiver: `someone-else-${kind}@example.com` }, d1, d2],
        [d0, d1, { ...d2, registrationMobileCode: '972' }],
      ]) {
        const o = await m.client.post('/payout/transfer', { ...body, transferDetailList: list });
        assert.equal(o.json.code, '400102', o.text);
      }
      await driveAll(service());
      assert.equal((await batchOf(m.merchantId, body.requestId)).status, 'PART_SUCCESS');
      await assertSettledOnce(row.batch_id, '0');
    });
  });
}
